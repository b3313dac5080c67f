//! [`Inventory`]: the async in-process stock store behind the scripts' `inventory(sku)`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::RwLock;

/// Stock per sku behind a tokio `RwLock`; every lookup first waits `delay` on
/// the runtime's timer (standing in for a network round trip). Cheap to clone
/// (the clones share the store).
#[derive(Clone, Debug)]
pub struct Inventory {
    stock: Arc<RwLock<HashMap<String, i64>>>,
    delay: Duration,
}

/// Why a lookup failed; scripts see it as a Lua error `inventory: <message>`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InventoryError {
    /// The store has no entry for the sku.
    #[error("unknown sku `{0}`")]
    UnknownSku(String),
}

impl Inventory {
    /// A store holding `stock`, answering after `delay`.
    pub fn new(stock: impl IntoIterator<Item = (String, i64)>, delay: Duration) -> Self {
        Inventory { stock: Arc::new(RwLock::new(stock.into_iter().collect())), delay }
    }

    /// The stock of `sku`, after the store's delay.
    pub async fn stock_of(&self, sku: &str) -> Result<i64, InventoryError> {
        tokio::time::sleep(self.delay).await;
        self.stock.read().await.get(sku).copied().ok_or_else(|| InventoryError::UnknownSku(sku.to_owned()))
    }

    /// Sets the stock of `sku`.
    pub async fn set(&self, sku: impl Into<String>, stock: i64) {
        self.stock.write().await.insert(sku.into(), stock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lookups_wait_for_the_delay_and_name_unknown_skus() {
        let inventory = Inventory::new([("tea".to_owned(), 3)], Duration::from_millis(5));
        let started = tokio::time::Instant::now();
        assert_eq!(inventory.stock_of("tea").await, Ok(3));
        assert_eq!(started.elapsed(), Duration::from_millis(5));
        assert_eq!(inventory.stock_of("cake").await, Err(InventoryError::UnknownSku("cake".into())));
        inventory.set("cake", 1).await;
        assert_eq!(inventory.stock_of("cake").await, Ok(1));
    }
}
