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
    /// The two slots a key can be in (a 2-way set: two keys whose pointers
    /// hash alike still both hit; a 1-way cache made the seed chain's keys
    /// evict each other for some heap layouts, +280 instructions per execution).
    fn set(&self, key_ptr: *const u8) -> &[Cell<(usize, usize)>; 2] {
        // Fibonacci hashing of the pointer (Lua strings are 16-byte aligned).
        let hash = ((key_ptr as usize >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let first = (hash as usize % (KEY_SLOTS / 2)) * 2;
        self.slots[first..first + 2].try_into().expect("two slots")
    }

    /// Finds `key` (the bytes of the Lua string at `key_ptr`) in `map`.
    #[inline(always)]
    pub(crate) fn find(&self, map: &Map, key_ptr: *const u8, key: &[u8]) -> KeyLookup {
        let set = self.set(key_ptr);
        for slot in set {
            let (ptr, index) = slot.get();
            if ptr == key_ptr as usize
                && let Some((k, _)) = map.get_index(index)
                && same_bytes(k.as_bytes(), key)
            {
                return KeyLookup::Found(index);
            }
        }
        let Some(text) = crate::fast_ctx::utf8(key) else { return KeyLookup::NotUtf8 };
        match map.get_index_of(text) {
            Some(index) => {
                Self::store(set, key_ptr, index);
                KeyLookup::Found(index)
            }
            None => KeyLookup::Missing,
        }
    }

    /// Remembers that the key at `key_ptr` is at `index`.
    pub(crate) fn remember(&self, key_ptr: *const u8, index: usize) {
        Self::store(self.set(key_ptr), key_ptr, index);
    }

    /// Puts the key in the first slot of its set; the key there before moves
    /// to the second (unless it is the same key).
    fn store(set: &[Cell<(usize, usize)>; 2], key_ptr: *const u8, index: usize) {
        let first = set[0].replace((key_ptr as usize, index));
        if first.0 != key_ptr as usize {
            set[1].set(first);
        }
    }
}

/// `a == b`, without a call to `memcmp` for keys of up to 16 bytes (context
/// keys are short: two overlapping word loads per side instead of a library
/// call, ~30 instructions less per hit, callgrind).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    /// The first and the last `W` bytes of `s` (overlapping when `s` is shorter than `2 * W`).
    fn ends<const W: usize>(s: &[u8]) -> ([u8; W], [u8; W]) {
        let mut first = [0; W];
        let mut last = [0; W];
        first.copy_from_slice(&s[..W]);
        last.copy_from_slice(&s[s.len() - W..]);
        (first, last)
    }
    match n {
        0 => true,
        1..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => ends::<4>(a) == ends::<4>(b),
        8..=16 => ends::<8>(a) == ends::<8>(b),
        _ => a == b,
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

    #[test]
    fn two_keys_of_one_set_both_stay_cached() {
        let keys = KeyCache::default();
        // Pointers of one set (same hash): 16-byte steps until one collides.
        let base = 0x10_0000usize;
        let first = keys.set(base as *const u8).as_ptr();
        let other = (1..10_000usize)
            .map(|i| base + 16 * i)
            .find(|&p| std::ptr::eq(keys.set(p as *const u8).as_ptr(), first))
            .expect("a colliding pointer");
        keys.remember(base as *const u8, 3);
        keys.remember(other as *const u8, 7);
        let slots: Vec<_> = keys.set(base as *const u8).iter().map(Cell::get).collect();
        assert!(slots.contains(&(base, 3)) && slots.contains(&(other, 7)), "{slots:?}");
        // Remembering one again keeps the other.
        keys.remember(base as *const u8, 4);
        let slots: Vec<_> = keys.set(base as *const u8).iter().map(Cell::get).collect();
        assert!(slots.contains(&(base, 4)) && slots.contains(&(other, 7)), "{slots:?}");
    }

    #[test]
    fn short_keys_compare_byte_for_byte() {
        let words: Vec<Vec<u8>> = (0..=20).map(|n| (0..n).map(|i| b'a' + (i % 26) as u8).collect()).collect();
        for a in &words {
            assert!(same_bytes(a, a));
            for b in &words {
                assert_eq!(same_bytes(a, b), a == b);
            }
            // Every single-byte difference, at every position, is seen.
            for i in 0..a.len() {
                let mut c = a.clone();
                c[i] ^= 1;
                assert!(!same_bytes(a, &c), "{a:?} vs {c:?}");
            }
        }
    }
}
