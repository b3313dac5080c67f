//! [`KeyCache`]: where the root `ctx` fast path last found each key.
//!
//! Scripts use the same key strings (interned Lua constants) on every
//! execution, and contexts of one chain usually have the same key order, so
//! remembering *Lua string pointer -> index in the map* skips hashing. Every
//! hit is verified by comparing the key, so a stale entry costs one compare.

use std::cell::Cell;

use eventchains_core::Map;

/// How many recently used context keys are remembered.
const KEY_SLOTS: usize = 32;

/// Where a key is in a context map.
pub(crate) enum KeyLookup {
    /// At this index.
    Found(usize),
    /// Not in the map (the key is valid UTF-8).
    Missing,
    /// The key is not valid UTF-8 (it cannot be in the map).
    NotUtf8,
}

/// Lua string pointer -> index of that key in the last map it was found in.
pub(crate) struct KeyCache {
    slots: [Cell<(usize, usize)>; KEY_SLOTS],
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache { slots: std::array::from_fn(|_| Cell::new((0, 0))) }
    }
}

impl KeyCache {
    fn slot(&self, key_ptr: *const u8) -> &Cell<(usize, usize)> {
        &self.slots[(key_ptr as usize >> 4) % KEY_SLOTS]
    }

    /// Finds `key` (the bytes of the Lua string at `key_ptr`) in `map`.
    #[inline]
    pub(crate) fn find(&self, map: &Map, key_ptr: *const u8, key: &[u8]) -> KeyLookup {
        let slot = self.slot(key_ptr);
        let (ptr, index) = slot.get();
        if ptr == key_ptr as usize
            && let Some((k, _)) = map.get_index(index)
            && k.as_bytes() == key
        {
            return KeyLookup::Found(index);
        }
        let Ok(text) = std::str::from_utf8(key) else { return KeyLookup::NotUtf8 };
        match map.get_index_of(text) {
            Some(index) => {
                slot.set((key_ptr as usize, index));
                KeyLookup::Found(index)
            }
            None => KeyLookup::Missing,
        }
    }

    /// Remembers that the key at `key_ptr` is at `index`.
    pub(crate) fn remember(&self, key_ptr: *const u8, index: usize) {
        self.slot(key_ptr).set((key_ptr as usize, index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventchains_core::Value;

    #[test]
    fn slots_are_verified_and_survive_index_shifts() {
        let keys = KeyCache::default();
        let mut map = Map::default();
        map.insert("a".into(), Value::Int(1));
        map.insert("b".into(), Value::Int(2));
        let b_ptr = "b".as_ptr();
        assert!(matches!(keys.find(&map, b_ptr, b"b"), KeyLookup::Found(1)));
        assert!(matches!(keys.find(&map, b_ptr, b"b"), KeyLookup::Found(1)), "cached");
        map.shift_remove("a");
        assert!(matches!(keys.find(&map, b_ptr, b"b"), KeyLookup::Found(0)), "stale slot re-resolved");
        assert!(matches!(keys.find(&map, "zz".as_ptr(), b"zz"), KeyLookup::Missing));
        assert!(matches!(keys.find(&map, "x".as_ptr(), &[0xff]), KeyLookup::NotUtf8));
        // A slot pointing at another key with the same pointer is not trusted.
        keys.remember(b_ptr, 0);
        map.insert("c".into(), Value::Int(3));
        map.swap_indices(0, 1);
        assert!(matches!(keys.find(&map, b_ptr, b"b"), KeyLookup::Found(1)));
    }
}
