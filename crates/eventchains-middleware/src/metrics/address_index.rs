//! [`AddressIndex`]: from where a caller keeps a (chain, event) pair of names
//! to the position of their figures in a shard, so that recording an event
//! does not hash its name. A chain's events and the chain itself keep their
//! names at one address for their whole life, so the addresses are a good
//! key; they are only a hint, though (a name can be freed and another one
//! allocated at its address), and the shard confirms every hit by comparing
//! the names themselves.

/// The addresses and lengths of an event name and a chain name: the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct NamesAt {
    /// Address and length of the event name; address 0 marks an empty slot
    /// (a `&str` is never null).
    event: (usize, usize),
    /// Address and length of the chain name, (0, 0) for an unnamed chain.
    chain: (usize, usize),
}

impl NamesAt {
    /// Where `chain` and `event` are kept.
    #[inline(always)]
    pub(super) fn of(chain: Option<&str>, event: &str) -> Self {
        let at = |name: &str| (name.as_ptr() as usize, name.len());
        NamesAt { event: at(event), chain: chain.map_or((0, 0), at) }
    }

    fn is_empty(&self) -> bool {
        self.event.0 == 0
    }

    /// Fibonacci hashing of both addresses: the top `bits` bits of the product.
    #[inline(always)]
    fn slot(&self, bits: u32) -> usize {
        let mixed = (self.event.0 ^ self.chain.0.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        mixed >> (usize::BITS - bits)
    }
}

/// One slot: a key and the positions it maps to.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: NamesAt,
    value: (usize, usize),
}

/// An open-addressed hash table (linear probing, at most half full) from
/// [`NamesAt`] to a pair of positions.
#[derive(Debug)]
pub(super) struct AddressIndex {
    /// A power of two of them, `1 << bits`.
    slots: Box<[Slot]>,
    bits: u32,
    /// Slots in use.
    used: usize,
}

/// Slots of a new index (a power of two).
const INITIAL_BITS: u32 = 4;

impl Default for AddressIndex {
    fn default() -> Self {
        Self::with_bits(INITIAL_BITS)
    }
}

impl AddressIndex {
    fn with_bits(bits: u32) -> Self {
        AddressIndex { slots: vec![Slot::default(); 1 << bits].into(), bits, used: 0 }
    }

    /// The positions last [`insert`](Self::insert)ed for `key`.
    #[inline(always)]
    pub(super) fn get(&self, key: NamesAt) -> Option<(usize, usize)> {
        let mask = self.slots.len() - 1;
        let mut at = key.slot(self.bits);
        loop {
            // At most half of the slots are used, so an empty one ends the probe.
            let slot = self.slots.get(at)?;
            if slot.key == key {
                return Some(slot.value);
            }
            if slot.key.is_empty() {
                return None;
            }
            at = (at + 1) & mask;
        }
    }

    /// Maps `key` to `value`, replacing what it mapped to. `live` is how many
    /// (chain, event) pairs the shard knows: when most used slots are stale
    /// (names freed since), the index starts over instead of growing.
    pub(super) fn insert(&mut self, key: NamesAt, value: (usize, usize), live: usize) {
        if (self.used + 1) * 2 > self.slots.len() {
            if self.used > 2 * live + 8 {
                *self = Self::with_bits(self.bits);
            } else {
                let old = std::mem::replace(self, Self::with_bits(self.bits + 1));
                for slot in old.slots.iter().filter(|slot| !slot.key.is_empty()) {
                    self.place(slot.key, slot.value);
                }
            }
        }
        self.place(key, value);
    }

    /// Writes `key` into its slot or the first empty one after it.
    fn place(&mut self, key: NamesAt, value: (usize, usize)) {
        let mask = self.slots.len() - 1;
        let mut at = key.slot(self.bits);
        while !self.slots[at].key.is_empty() && self.slots[at].key != key {
            at = (at + 1) & mask;
        }
        if self.slots[at].key.is_empty() {
            self.used += 1;
        }
        self.slots[at] = Slot { key, value };
    }

    /// Slots in use (tests).
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used
    }

    /// Number of slots (tests).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_last_value_across_growth() {
        let names: Vec<String> = (0..200).map(|i| format!("event-{i}")).collect();
        let mut index = AddressIndex::default();
        for (i, name) in names.iter().enumerate() {
            index.insert(NamesAt::of(Some("chain"), name), (i, 0), i + 1);
        }
        assert!(index.capacity() >= 2 * 200, "at most half full: {}", index.capacity());
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.get(NamesAt::of(Some("chain"), name)), Some((i, 0)));
            // Another chain (or none) is another key.
            assert_eq!(index.get(NamesAt::of(None, name)), None);
        }
        index.insert(NamesAt::of(Some("chain"), &names[7]), (7, 3), 200);
        assert_eq!(index.get(NamesAt::of(Some("chain"), &names[7])), Some((7, 3)));
        assert_eq!(index.used(), 200);
    }

    #[test]
    fn stale_keys_do_not_grow_the_index_forever() {
        let mut index = AddressIndex::default();
        // A host that builds new events over and over (hot reload): one live
        // pair, a new address each time.
        let mut keep = Vec::new();
        for i in 0..10_000 {
            let name = format!("reloaded-{i}");
            index.insert(NamesAt::of(None, &name), (0, 0), 1);
            keep.push(name);
        }
        assert!(index.capacity() <= 64, "{}", index.capacity());
        assert!(index.get(NamesAt::of(None, &keep[9_999])).is_some());
    }
}
