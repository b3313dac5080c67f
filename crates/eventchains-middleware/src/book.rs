//! [`Book`]: handles by id, created on first use.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// A map from id to a cloneable handle; [`get`](Self::get) creates missing ones.
#[derive(Debug, Default)]
pub(crate) struct Book<T>(Mutex<BTreeMap<String, T>>);

impl<T: Clone + Default> Book<T> {
    /// The handle under `id`, created if new.
    pub(crate) fn get(&self, id: &str) -> T {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = map.get(id) {
            return handle.clone();
        }
        map.entry(id.to_owned()).or_default().clone()
    }

    /// The ids in use, sorted.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }
}
