//! Storage recycling for [`EventContext`](super::EventContext): a per-thread
//! pool of emptied value maps, each with the key strings of its last use.
//!
//! A fresh context per request is the usual shape of a service. Without
//! recycling, every such context allocates its map (two buffers), and one
//! `String` per key. When a context is dropped, its map (emptied, capacity
//! kept) and its key strings go back to this thread's pool; the next
//! [`EventContext::new`](super::EventContext::new) on the thread takes them,
//! and a new key is copied into a spare key string instead of a new one.
//! After the first request on a thread, a context whose keys fit the spare
//! strings allocates nothing for its map and keys.
//!
//! The pool is bounded, so a thread never holds much: at most
//! [`MAX_POOLED`] maps of at most [`MAX_RECYCLED_ENTRIES`] entries, each with
//! at most that many spare keys of at most [`MAX_KEY_BYTES`] bytes.
//! Larger maps and keys are freed as usual. Nothing here runs user code.

use std::cell::RefCell;

use crate::value::Map;

/// Maps kept per thread.
pub(super) const MAX_POOLED: usize = 8;
/// Maps holding more entries than this (by capacity) are freed, not kept.
pub(super) const MAX_RECYCLED_ENTRIES: usize = 32;
/// Key strings longer than this (by capacity) are freed, not kept.
pub(super) const MAX_KEY_BYTES: usize = 64;

/// An emptied map and the key strings it held.
pub(super) struct Storage {
    pub(super) values: Map,
    pub(super) spare_keys: Vec<String>,
}

thread_local! {
    static POOL: RefCell<Vec<Storage>> = const { RefCell::new(Vec::new()) };
}

/// Storage from this thread's pool, if it has any.
#[inline]
pub(super) fn take() -> Option<Storage> {
    POOL.try_with(|pool| pool.try_borrow_mut().ok()?.pop()).ok().flatten()
}

/// Empties `values` into `spare_keys` and gives both to this thread's pool,
/// unless they are too large or the pool is full (then they are freed).
pub(super) fn recycle(values: &mut Map, spare_keys: &mut Vec<String>) {
    if values.capacity() == 0 || values.capacity() > MAX_RECYCLED_ENTRIES {
        return;
    }
    // Room for the keys, reserved once: the pooled vector keeps its capacity.
    let wanted = (spare_keys.len() + values.len()).min(MAX_RECYCLED_ENTRIES);
    spare_keys.reserve(wanted.saturating_sub(spare_keys.len()));
    for (key, _value) in values.drain(..) {
        if spare_keys.len() < MAX_RECYCLED_ENTRIES && key.capacity() <= MAX_KEY_BYTES {
            spare_keys.push(key);
        }
    }
    let storage = Storage { values: std::mem::take(values), spare_keys: std::mem::take(spare_keys) };
    // During thread teardown, or if the pool is busy, the storage is simply freed.
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut()
            && pool.len() < MAX_POOLED
        {
            pool.push(storage);
        }
    });
}

/// How many maps this thread's pool holds (for tests).
#[cfg(test)]
pub(super) fn pooled() -> usize {
    POOL.with(|pool| pool.borrow().len())
}
