//! [`Map`]: the insertion-ordered map of string keys to [`Value`]s that a
//! context and every nested map value hold.
//!
//! Contexts are small: a request carries a handful of keys. Up to
//! [`LINEAR_MAX`] entries a map is a plain vector of entries and a lookup
//! compares keys in order: no hashing, no index to keep, nothing to clear.
//! Past that size it builds a hash index of its keys (seeded per map, so a
//! script or a JSON body cannot aim collisions at it), so lookups stay
//! constant-time on a map of any size. The index is kept in step with the
//! entries from then on; emptying the map frees it.
//!
//! The methods follow [`indexmap::IndexMap`](https://docs.rs/indexmap)'s names
//! and meaning (`get_index_of`, `shift_remove`, `swap_remove`, ...), which this
//! type replaced; equality ignores order, as `IndexMap`'s does.

mod iter;

use std::fmt;
use std::hash::BuildHasher;
use std::ops::{Index, IndexMut, RangeFull};

use hashbrown::HashTable;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use iter::{Drain, IntoIter, IntoKeys, IntoValues, Iter, IterMut, Keys, Values, ValuesMut};

use crate::value::Value;

/// The hasher of a [`Map`]'s key index (`foldhash`, seeded anew for every
/// index it builds), also used by the Lua crate's own hash maps.
pub type MapHasher = foldhash::fast::RandomState;

/// Up to this many entries, lookups compare keys in order rather than hash.
pub const LINEAR_MAX: usize = 8;

/// An insertion-ordered map of string keys to [`Value`]s.
///
/// Insertion order is kept so that a context printed as JSON reads in the order
/// its keys were written. See the [module](self) for how lookups work.
///
/// ```
/// use eventchains_core::{Map, Value};
/// let mut map = Map::new();
/// map.insert("b".to_owned(), Value::from(2));
/// map.insert("a".to_owned(), Value::from(1));
/// assert_eq!(map.keys().collect::<Vec<_>>(), ["b", "a"]);
/// assert_eq!(map.get("a"), Some(&Value::Int(1)));
/// assert_eq!(map.get_index_of("b"), Some(0));
/// assert_eq!(map.shift_remove("b"), Some(Value::Int(2)));
/// assert_eq!(map.get_index_of("a"), Some(0));
/// ```
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
    /// Built once the map holds more than [`LINEAR_MAX`] entries; from then on
    /// always in step with `entries` until the map is emptied.
    index: Option<Box<KeyIndex>>,
}

/// Positions in `entries`, by the hash of their key.
#[derive(Clone)]
struct KeyIndex {
    table: HashTable<usize>,
    hasher: MapHasher,
}

impl KeyIndex {
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Removes the slot of position `i`, whose key is `key`.
    fn remove(&mut self, key: &str, i: usize) {
        self.remove_position(self.hash(key), i);
    }

    /// Removes the slot of position `i`, whose key hashes to `hash`.
    fn remove_position(&mut self, hash: u64, i: usize) {
        if let Ok(slot) = self.table.find_entry(hash, |&j| j == i) {
            slot.remove();
        }
    }

    /// Points the slot of position `from` (key `key`) at position `to`.
    fn repoint(&mut self, key: &str, from: usize, to: usize) {
        let hash = self.hash(key);
        if let Some(slot) = self.table.find_mut(hash, |&j| j == from) {
            *slot = to;
        }
    }
}

/// `a == b` for keys, with the short lengths keys usually have compared in one
/// or two word loads instead of a call to `memcmp`.
#[inline]
pub(crate) fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // One bounds check per word, then a plain load (the slice length is known).
    let word4 =
        |s: &[u8], at: usize| s.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map(u32::from_ne_bytes);
    let word8 =
        |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map(u64::from_ne_bytes);
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        9..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

impl Map {
    /// An empty map. Allocates nothing until the first insert.
    pub const fn new() -> Self {
        Map { entries: Vec::new(), index: None }
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Map { entries: Vec::with_capacity(capacity), index: None }
    }

    /// The number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the map has no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries the map can hold without reallocating its entries.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Reserves room for at least `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        if let Some(index) = &mut self.index {
            let KeyIndex { table, hasher } = &mut **index;
            let entries = &self.entries;
            table.reserve(additional, |&j| hasher.hash_one(entries[j].0.as_str()));
        }
    }

    /// The position of `key`, if present.
    #[inline]
    pub fn get_index_of(&self, key: &str) -> Option<usize> {
        if self.entries.len() > LINEAR_MAX {
            return self.find_hashed(key);
        }
        self.entries.iter().position(|(k, _)| same_key(k.as_bytes(), key.as_bytes()))
    }

    /// [`get_index_of`](Self::get_index_of) past [`LINEAR_MAX`] entries,
    /// through the key index (out of line, so that small maps' lookups stay small).
    #[inline(never)]
    fn find_hashed(&self, key: &str) -> Option<usize> {
        let entries = &self.entries;
        match &self.index {
            Some(index) => index.table.find(index.hash(key), |&j| entries[j].0 == key).copied(),
            // Unreachable: an index exists past LINEAR_MAX entries (every way of growing builds it).
            None => entries.iter().position(|(k, _)| k == key),
        }
    }

    /// Appends an entry whose key the caller has just looked up and not found.
    #[inline]
    pub(crate) fn push_absent(&mut self, key: String, value: Value) {
        debug_assert!(self.get_index_of(&key).is_none(), "push_absent: `{key}` is present");
        let i = self.entries.len();
        self.entries.push((key, value));
        self.index_new_entry(i);
    }

    /// The value at `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_index_of(key).map(|i| &self.entries[i].1)
    }

    /// The value at `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.get_index_of(key).map(|i| &mut self.entries[i].1)
    }

    /// The stored key and the value at `key`.
    pub fn get_key_value(&self, key: &str) -> Option<(&String, &Value)> {
        self.get_index_of(key).map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// The position, stored key and value at `key`.
    pub fn get_full(&self, key: &str) -> Option<(usize, &String, &Value)> {
        self.get_index_of(key).map(|i| {
            let (k, v) = &self.entries[i];
            (i, k, v)
        })
    }

    /// `true` if `key` is present.
    #[inline]
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The key and value at position `i`.
    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&String, &Value)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    /// The key and the value (mutably) at position `i`.
    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&String, &mut Value)> {
        self.entries.get_mut(i).map(|(k, v)| (&*k, v))
    }

    /// The first entry.
    pub fn first(&self) -> Option<(&String, &Value)> {
        self.get_index(0)
    }

    /// The last entry.
    pub fn last(&self) -> Option<(&String, &Value)> {
        self.entries.last().map(|(k, v)| (k, v))
    }

    /// Stores `value` at `key`, returning the previous value. A new key goes
    /// last; an existing key keeps its position.
    #[inline]
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        self.insert_full(key, value).1
    }

    /// [`insert`](Self::insert), also returning the entry's position.
    pub fn insert_full(&mut self, key: String, value: Value) -> (usize, Option<Value>) {
        if let Some(i) = self.get_index_of(&key) {
            return (i, Some(std::mem::replace(&mut self.entries[i].1, value)));
        }
        let i = self.entries.len();
        self.entries.push((key, value));
        self.index_new_entry(i);
        (i, None)
    }

    /// Adds the entry just pushed at position `i` to the key index, building
    /// the index when the map has just grown past [`LINEAR_MAX`].
    #[inline]
    fn index_new_entry(&mut self, i: usize) {
        match &mut self.index {
            Some(index) => {
                let KeyIndex { table, hasher } = &mut **index;
                let entries = &self.entries;
                table.insert_unique(hasher.hash_one(entries[i].0.as_str()), i, |&j| {
                    hasher.hash_one(entries[j].0.as_str())
                });
            }
            None if self.entries.len() > LINEAR_MAX => self.build_index(),
            None => {}
        }
    }

    /// Builds the key index from the entries.
    #[cold]
    fn build_index(&mut self) {
        // A new seed for every index, so that keys chosen to collide under one map's seed do not collide under another's.
        let hasher = MapHasher::default();
        let mut table = HashTable::with_capacity(self.entries.capacity());
        for (i, (key, _)) in self.entries.iter().enumerate() {
            let entries = &self.entries;
            table.insert_unique(hasher.hash_one(key.as_str()), i, |&j| hasher.hash_one(entries[j].0.as_str()));
        }
        self.index = Some(Box::new(KeyIndex { table, hasher }));
    }

    /// Rebuilds the key index after a change that moved many entries (or drops
    /// it when the map is small enough to go without).
    fn reindex(&mut self) {
        self.index = None;
        if self.entries.len() > LINEAR_MAX {
            self.build_index();
        }
    }

    /// Removes `key`, keeping the order of the others (entries after it move
    /// up by one: O(n)), and returns its value.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value> {
        self.shift_remove_full(key).map(|(_, _, v)| v)
    }

    /// [`shift_remove`](Self::shift_remove), returning the key as well.
    pub fn shift_remove_entry(&mut self, key: &str) -> Option<(String, Value)> {
        self.shift_remove_full(key).map(|(_, k, v)| (k, v))
    }

    /// [`shift_remove`](Self::shift_remove), returning the position and key as well.
    pub fn shift_remove_full(&mut self, key: &str) -> Option<(usize, String, Value)> {
        let i = self.get_index_of(key)?;
        self.shift_remove_index(i).map(|(k, v)| (i, k, v))
    }

    /// Removes the entry at position `i`, keeping the order of the others.
    pub fn shift_remove_index(&mut self, i: usize) -> Option<(String, Value)> {
        if i >= self.entries.len() {
            return None;
        }
        if let Some(index) = &mut self.index {
            index.remove(&self.entries[i].0, i);
            for j in index.table.iter_mut() {
                if *j > i {
                    *j -= 1;
                }
            }
        }
        Some(self.entries.remove(i))
    }

    /// Removes `key` by moving the last entry into its place (O(1); the order
    /// changes), and returns its value.
    pub fn swap_remove(&mut self, key: &str) -> Option<Value> {
        let i = self.get_index_of(key)?;
        self.swap_remove_index(i).map(|(_, v)| v)
    }

    /// Removes the entry at position `i` by moving the last entry into its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(String, Value)> {
        let last = self.entries.len().checked_sub(1)?;
        if i > last {
            return None;
        }
        if let Some(index) = &mut self.index {
            index.remove(&self.entries[i].0, i);
            if i != last {
                index.repoint(&self.entries[last].0, last, i);
            }
        }
        Some(self.entries.swap_remove(i))
    }

    /// Removes and returns the last entry.
    pub fn pop(&mut self) -> Option<(String, Value)> {
        let last = self.entries.len().checked_sub(1)?;
        self.swap_remove_index(last)
    }

    /// Keeps only the entries for which `keep` returns `true`, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Value) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, v)| keep(k, v));
        if self.entries.len() != before {
            self.reindex();
        }
    }

    /// Keeps the first `len` entries.
    pub fn truncate(&mut self, len: usize) {
        if len < self.entries.len() {
            self.entries.truncate(len);
            self.reindex();
        }
    }

    /// Sorts the entries by key.
    pub fn sort_keys(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.reindex();
    }

    /// Sorts the entries by key, not keeping the order of equal keys (there are none).
    pub fn sort_unstable_keys(&mut self) {
        self.entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.reindex();
    }

    /// Sorts the entries with `compare`.
    pub fn sort_by(&mut self, mut compare: impl FnMut(&String, &Value, &String, &Value) -> std::cmp::Ordering) {
        self.entries.sort_by(|a, b| compare(&a.0, &a.1, &b.0, &b.1));
        self.reindex();
    }

    /// Swaps the entries at positions `a` and `b`.
    ///
    /// # Panics
    /// If either position is out of bounds.
    pub fn swap_indices(&mut self, a: usize, b: usize) {
        self.entries.swap(a, b);
        if a == b {
            return;
        }
        if let Some(index) = &mut self.index {
            // The key now at `b` has a slot holding `a`, and the other way round.
            let entries = &self.entries;
            let (hash_at_a, hash_at_b) = (index.hash(&entries[a].0), index.hash(&entries[b].0));
            index.remove_position(hash_at_b, a);
            index.remove_position(hash_at_a, b);
            let KeyIndex { table, hasher } = &mut **index;
            table.insert_unique(hash_at_b, b, |&j| hasher.hash_one(entries[j].0.as_str()));
            table.insert_unique(hash_at_a, a, |&j| hasher.hash_one(entries[j].0.as_str()));
        }
    }

    /// Removes every entry, keeping the entries' allocation (the key index is freed).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index = None;
    }

    /// Removes every entry and yields them in order, keeping the entries' allocation.
    pub fn drain(&mut self, _all: RangeFull) -> Drain<'_> {
        self.index = None;
        Drain::new(self.entries.drain(..))
    }

    /// The entries in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter::new(self.entries.iter())
    }

    /// The entries in order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut::new(self.entries.iter_mut())
    }

    /// The keys in order.
    pub fn keys(&self) -> Keys<'_> {
        Keys::new(self.entries.iter())
    }

    /// The values in order.
    pub fn values(&self) -> Values<'_> {
        Values::new(self.entries.iter())
    }

    /// The values in order, mutable.
    pub fn values_mut(&mut self) -> ValuesMut<'_> {
        ValuesMut::new(self.entries.iter_mut())
    }

    /// The keys in order, owned.
    pub fn into_keys(self) -> IntoKeys {
        IntoKeys::new(self.entries.into_iter())
    }

    /// The values in order, owned.
    pub fn into_values(self) -> IntoValues {
        IntoValues::new(self.entries.into_iter())
    }
}

impl PartialEq for Map {
    /// The same keys with equal values, in any order (as `IndexMap`'s equality).
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Index<&str> for Map {
    type Output = Value;

    /// The value at `key`.
    ///
    /// # Panics
    /// If `key` is not present.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or_else(|| panic!("Map: key `{key}` not found"))
    }
}

impl IndexMut<&str> for Map {
    /// The value at `key`, mutably.
    ///
    /// # Panics
    /// If `key` is not present.
    fn index_mut(&mut self, key: &str) -> &mut Value {
        self.get_mut(key).unwrap_or_else(|| panic!("Map: key `{key}` not found"))
    }
}

impl<K: Into<String>, V: Into<Value>> Extend<(K, V)> for Map {
    /// Inserts every pair in order (a key already present keeps its position
    /// and takes the new value).
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k.into(), v.into());
        }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<String>, V: Into<Value>, const N: usize> From<[(K, V); N]> for Map {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter::new(self.entries.into_iter())
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapVisitor)
    }
}

/// Builds a [`Map`] from any serde map, in its order (a repeated key keeps its
/// first position and its last value).
pub(crate) struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = Map;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map, A::Error> {
        let mut out = Map::with_capacity(access.size_hint().unwrap_or(0).min(4096));
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
