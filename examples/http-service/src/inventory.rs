//! [`Inventory`]: the async in-process stock store behind the scripts' `inventory(sku)`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{RwLock, watch};

/// Stock per sku behind a tokio `RwLock`; every lookup first waits `delay` on
/// the runtime's timer (standing in for a network round trip). Cheap to clone
/// (the clones share the store).
#[derive(Clone, Debug)]
pub struct Inventory {
    stock: Arc<RwLock<HashMap<String, i64>>>,
    delay: Duration,
    holds: Arc<Mutex<HashMap<String, HoldState>>>,
}

#[derive(Debug)]
struct HoldState {
    waiting: Arc<watch::Sender<usize>>,
    released: watch::Receiver<bool>,
}

/// Lookups of one sku held until [`release`](Hold::release) (from
/// [`Inventory::hold`]): keeps executions in flight at a known point, e.g.
/// to reload the script while they wait.
#[derive(Debug)]
pub struct Hold {
    waiting: watch::Receiver<usize>,
    release: watch::Sender<bool>,
}

impl Hold {
    /// Waits until `n` lookups are held.
    pub async fn held(&mut self, n: usize) {
        // The sender lives in the inventory's hold table as long as the inventory.
        let _ = self.waiting.wait_for(|held| *held >= n).await;
    }

    /// Lets every held lookup, and every later one, answer.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
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
        Inventory {
            stock: Arc::new(RwLock::new(stock.into_iter().collect())),
            delay,
            holds: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The stock of `sku`, after the store's delay.
    pub async fn stock_of(&self, sku: &str) -> Result<i64, InventoryError> {
        tokio::time::sleep(self.delay).await;
        let hold = self
            .holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sku)
            .map(|h| (h.waiting.clone(), h.released.clone()));
        if let Some((waiting, mut released)) = hold {
            waiting.send_modify(|held| *held += 1);
            // The sender lives in the `Hold`; if it is dropped, the lookup goes on.
            let _ = released.wait_for(|released| *released).await;
        }
        self.stock.read().await.get(sku).copied().ok_or_else(|| InventoryError::UnknownSku(sku.to_owned()))
    }

    /// Holds every lookup of `sku` (after the delay) until the returned
    /// [`Hold`] is released or dropped; replaces an earlier hold of `sku`.
    pub fn hold(&self, sku: impl Into<String>) -> Hold {
        let (waiting, waiting_rx) = watch::channel(0);
        let (release, released) = watch::channel(false);
        let state = HoldState { waiting: Arc::new(waiting), released };
        self.holds.lock().unwrap_or_else(PoisonError::into_inner).insert(sku.into(), state);
        Hold { waiting: waiting_rx, release }
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

    #[tokio::test(start_paused = true)]
    async fn held_lookups_answer_once_released() {
        let inventory = Inventory::new([("tea".to_owned(), 3)], Duration::from_millis(5));
        let mut hold = inventory.hold("tea");
        let lookups: Vec<_> = (0..3)
            .map(|_| {
                let inventory = inventory.clone();
                tokio::spawn(async move { inventory.stock_of("tea").await })
            })
            .collect();
        hold.held(3).await;
        assert!(lookups.iter().all(|l| !l.is_finished()));
        hold.release();
        for lookup in lookups {
            assert_eq!(lookup.await.expect("lookup task"), Ok(3));
        }
    }
}
