use indexmap::IndexMap;
use proptest::prelude::*;

use super::*;

#[test]
fn same_key_equals_byte_equality_for_every_length_and_position() {
    for len in 0..40usize {
        let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        assert!(same_key(&a, &a.clone()), "len {len}");
        for at in 0..len {
            let mut b = a.clone();
            b[at] ^= 0x20;
            assert!(!same_key(&a, &b), "len {len}, differing at {at}");
        }
        assert!(!same_key(&a, &[a.as_slice(), b"x"].concat()), "len {len} vs {}", len + 1);
    }
}

#[test]
fn the_index_is_built_past_the_linear_size_and_freed_when_emptied() {
    let mut map = Map::new();
    for i in 0..LINEAR_MAX {
        map.insert(format!("k{i}"), Value::Int(i as i64));
    }
    assert!(map.index.is_none(), "{LINEAR_MAX} entries: no index");
    map.insert("one more".into(), Value::Nil);
    assert!(map.index.is_some(), "past {LINEAR_MAX} entries: an index");
    map.shift_remove("one more");
    assert!(map.index.is_some(), "kept in step once built");
    assert_eq!(map.get_index_of("k3"), Some(3));
    map.clear();
    assert!(map.index.is_none());
    assert!(map.capacity() > LINEAR_MAX, "clear keeps the entries' allocation");
}

#[test]
fn equality_ignores_order_like_indexmap() {
    let a: Map = [("x", 1), ("y", 2)].into();
    let b: Map = [("y", 2), ("x", 1)].into();
    let c: Map = [("y", 2), ("x", 3)].into();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, Map::new());
}

#[test]
fn serde_keeps_order_and_the_last_of_a_repeated_key() {
    let map: Map = serde_json::from_str(r#"{"b": 1, "a": [true], "b": 3}"#).unwrap();
    assert_eq!(map.keys().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(map["b"], Value::Int(3));
    assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"b":3,"a":[true]}"#);
    assert_eq!(format!("{map:?}"), r#"{"b": Int(3), "a": Array([Bool(true)])}"#);
}

/// One operation on a map, applied to ours and to `IndexMap` alike.
#[derive(Clone, Debug)]
enum Op {
    Insert(u8, i64),
    ShiftRemove(u8),
    SwapRemove(u8),
    ShiftRemoveIndex(usize),
    SwapRemoveIndex(usize),
    SwapIndices(usize, usize),
    Pop,
    Retain(u8),
    Truncate(usize),
    SortKeys,
    SortUnstableKeys,
    Clear,
    Drain,
    Reserve(u8),
}

fn op() -> impl Strategy<Value = Op> {
    // Keys from a small alphabet so that inserts hit existing keys and removals find them;
    // enough of them (40) that maps grow well past the linear size.
    let key = 0u8..40;
    prop_oneof![
        6 => (key.clone(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        1 => key.clone().prop_map(Op::ShiftRemove),
        1 => key.clone().prop_map(Op::SwapRemove),
        1 => (0usize..48).prop_map(Op::ShiftRemoveIndex),
        1 => (0usize..48).prop_map(Op::SwapRemoveIndex),
        1 => (0usize..48, 0usize..48).prop_map(|(a, b)| Op::SwapIndices(a, b)),
        1 => Just(Op::Pop),
        1 => (2u8..5).prop_map(Op::Retain),
        1 => (0usize..48).prop_map(Op::Truncate),
        1 => Just(Op::SortKeys),
        1 => Just(Op::SortUnstableKeys),
        1 => Just(Op::Clear),
        1 => Just(Op::Drain),
        1 => any::<u8>().prop_map(Op::Reserve),
    ]
}

fn key(k: u8) -> String {
    // Lengths 1 to 20, so every branch of `same_key` is used.
    format!("{k}{}", "k".repeat(usize::from(k % 20)))
}

type Model = IndexMap<String, Value>;

fn apply(map: &mut Map, model: &mut Model, op: &Op) {
    match *op {
        Op::Insert(k, v) => {
            assert_eq!(map.insert_full(key(k), Value::Int(v)), model.insert_full(key(k), Value::Int(v)));
        }
        Op::ShiftRemove(k) => assert_eq!(map.shift_remove_full(&key(k)), model.shift_remove_full(&key(k))),
        Op::SwapRemove(k) => assert_eq!(map.swap_remove(&key(k)), model.swap_remove(&key(k))),
        Op::ShiftRemoveIndex(i) => assert_eq!(map.shift_remove_index(i), model.shift_remove_index(i)),
        Op::SwapRemoveIndex(i) => assert_eq!(map.swap_remove_index(i), model.swap_remove_index(i)),
        Op::SwapIndices(a, b) => {
            if a < model.len() && b < model.len() {
                map.swap_indices(a, b);
                model.swap_indices(a, b);
            }
        }
        Op::Pop => assert_eq!(map.pop(), model.pop()),
        Op::Retain(m) => {
            map.retain(|k, _| k.len() % usize::from(m) != 0);
            model.retain(|k, _| k.len() % usize::from(m) != 0);
        }
        Op::Truncate(n) => {
            map.truncate(n);
            model.truncate(n);
        }
        Op::SortKeys => {
            map.sort_keys();
            model.sort_keys();
        }
        Op::SortUnstableKeys => {
            map.sort_unstable_keys();
            model.sort_unstable_keys();
        }
        Op::Clear => {
            map.clear();
            model.clear();
        }
        Op::Drain => assert!(map.drain(..).eq(model.drain(..))),
        Op::Reserve(n) => map.reserve(usize::from(n)),
    }
}

/// Every key of the model found at its position, every absent key absent,
/// and the entries in the model's order.
fn agree(map: &Map, model: &Model) {
    assert_eq!(map.len(), model.len());
    assert!(map.iter().eq(model.iter()), "order: {map:?} vs {model:?}");
    for k in 0..40 {
        let k = key(k);
        assert_eq!(map.get_index_of(&k), model.get_index_of(&k), "{k}");
        assert_eq!(map.get(&k), model.get(&k), "{k}");
    }
    if map.len() > LINEAR_MAX {
        assert!(map.index.is_some(), "past {LINEAR_MAX} entries, lookups go through the index");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any sequence of operations leaves our map equal, entry for entry and in
    /// order, to `IndexMap` after the same sequence, and every lookup agrees
    /// (through the linear scan and through the index).
    #[test]
    fn behaves_like_indexmap(ops in proptest::collection::vec(op(), 0..200)) {
        let mut map = Map::new();
        let mut model = Model::new();
        for op in &ops {
            apply(&mut map, &mut model, op);
            agree(&map, &model);
        }
        let cloned = map.clone();
        agree(&cloned, &model);
    }
}
