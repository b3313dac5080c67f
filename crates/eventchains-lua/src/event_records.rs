//! [`EventRecords`]: the `event` table a Lua middleware gets, one per event name.
//!
//! Each record is a read-only view made once per VM when the VM is built (so
//! a middleware call allocates nothing for it, and nothing written by one
//! execution can reach the next). A call finds its record by the event's
//! name in a hash map: one hash and, normally, one key comparison, whatever
//! the number of events.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Records by event name.
pub(crate) struct EventRecords<V> {
    by_name: HashMap<Name, V, BuildHasherDefault<Fnv>>,
}

impl<V> EventRecords<V> {
    /// A record for each name of `names`, made by `make` (a name seen twice keeps its first record).
    pub(crate) fn new<'a, E>(
        names: impl IntoIterator<Item = &'a str>,
        mut make: impl FnMut(&str) -> Result<V, E>,
    ) -> Result<Self, E> {
        let mut by_name = HashMap::default();
        for name in names {
            if !by_name.contains_key(name) {
                let record = make(name)?;
                by_name.insert(Name(name.into()), record);
            }
        }
        Ok(EventRecords { by_name })
    }

    /// How many records there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The record of the event called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        self.by_name.get(name)
    }
}

/// An event name as a key. Its equality counts comparisons in tests, to prove the lookup's cost.
struct Name(Box<str>);

impl Hash for Name {
    /// As `str` hashes (lookups borrow the key as `&str`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        (*self.0).hash(state);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(test)]
        tests::COMPARISONS.with(|c| c.set(c.get() + 1));
        self.0 == other.0
    }
}

impl Eq for Name {}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// FNV-1a: event names are short, and the map is not exposed to hash flooding
/// from outside (its keys are the script's own event names).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        pub(super) static COMPARISONS: Cell<usize> = const { Cell::new(0) };
    }

    #[test]
    fn lookups_cost_the_same_with_thirty_thousand_events() {
        let names: Vec<String> = (0..30_000).map(|i| format!("event_{i}")).collect();
        let records = EventRecords::new(names.iter().map(String::as_str), |n| Ok::<_, ()>(n.len())).expect("built");
        COMPARISONS.with(|c| c.set(0));
        for name in &names {
            assert_eq!(records.get(name), Some(&name.len()));
        }
        assert_eq!(records.get("missing"), None);
        let comparisons = COMPARISONS.with(Cell::get);
        // A linear search would compare ~450 million names; a hash map about one per lookup.
        assert!(comparisons <= 2 * names.len(), "{comparisons} key comparisons for {} lookups", names.len());
    }

    #[test]
    fn a_name_seen_twice_keeps_its_first_record() {
        let mut made = 0;
        let records = EventRecords::new(["a", "b", "a"], |_| {
            made += 1;
            Ok::<_, ()>(made)
        })
        .expect("built");
        assert_eq!((records.get("a"), records.get("b"), made), (Some(&1), Some(&2), 2));
    }
}
