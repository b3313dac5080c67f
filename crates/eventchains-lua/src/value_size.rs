//! Approximate sizes of context values, to cap what Lua writes into the
//! context (Rust memory that the Lua VM's memory limit does not see).

use eventchains_core::{Map, Value};

/// Bytes charged for a scalar.
pub(crate) const SCALAR_BYTES: usize = 16;
/// Bytes charged for a string, besides its text.
pub(crate) const STRING_BYTES: usize = 24;
/// Bytes charged for an array or a map, besides its items.
pub(crate) const CONTAINER_BYTES: usize = 48;

/// Why [`measure`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// Containers nest deeper than allowed.
    Depth,
    /// The value is larger than allowed.
    Bytes,
}

/// The approximate size of a string of `len` bytes.
pub(crate) fn string_size(len: usize) -> usize {
    STRING_BYTES.saturating_add(len)
}

/// The size of a stored string: its buffer (capacity), not only its text.
pub(crate) fn stored_string_size(s: &String) -> usize {
    string_size(s.capacity())
}

/// Whether a stored string's buffer is reused for a new text of `len` bytes:
/// only when the text fits without growing it and fills at least about half
/// of it, so that an emptied 30 MB string does not keep its 30 MB.
pub(crate) fn reuse_buffer(old: &String, len: usize) -> bool {
    len <= old.capacity() && old.capacity() <= len.saturating_mul(2).saturating_add(64)
}

/// The size of a value as just stored in (or about to leave) the context,
/// without walking: a scalar or a string by what it holds; a table counts 0
/// here, because writers measure tables while converting them. The one rule
/// of every context write (the root `ctx` fast path, views, merges).
pub(crate) fn stored_size(value: &Value) -> usize {
    flat_size(value).unwrap_or(0)
}

/// The size of a scalar or a string, without walking (`None` for containers).
fn flat_size(value: &Value) -> Option<usize> {
    match value {
        Value::String(s) => Some(stored_string_size(s)),
        Value::Array(_) | Value::Map(_) => None,
        _ => Some(SCALAR_BYTES),
    }
}

/// The approximate size of `value` in bytes, or why it is over the caps: more
/// than `max_depth` containers nested, or more than `max_bytes`.
///
/// Walks iteratively and stops at the first cap exceeded, so it is safe on
/// any value (deep or huge) and costs at most `max_bytes` worth of work.
pub(crate) fn measure(value: &Value, max_depth: usize, max_bytes: usize) -> Result<usize, Exceeded> {
    if let Some(size) = flat_size(value) {
        return if size > max_bytes { Err(Exceeded::Bytes) } else { Ok(size) };
    }
    let mut total = 0usize;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let size = match v {
            Value::String(s) => stored_string_size(s),
            Value::Array(items) => {
                if depth >= max_depth {
                    return Err(Exceeded::Depth);
                }
                stack.extend(items.iter().map(|item| (item, depth + 1)));
                CONTAINER_BYTES
            }
            Value::Map(map) => {
                if depth >= max_depth {
                    return Err(Exceeded::Depth);
                }
                let keys: usize = map.keys().map(|k| string_size(k.len())).fold(0, usize::saturating_add);
                stack.extend(map.values().map(|item| (item, depth + 1)));
                CONTAINER_BYTES.saturating_add(keys)
            }
            _ => SCALAR_BYTES,
        };
        total = total.saturating_add(size);
        if total > max_bytes {
            return Err(Exceeded::Bytes);
        }
    }
    Ok(total)
}

/// [`measure`] for the context's root map (not itself a [`Value`]).
pub(crate) fn measure_map(map: &Map, max_depth: usize, max_bytes: usize) -> Result<usize, Exceeded> {
    if max_depth == 0 {
        return Err(Exceeded::Depth);
    }
    let mut total = CONTAINER_BYTES;
    for (k, v) in map {
        let left = max_bytes.checked_sub(total.saturating_add(string_size(k.len()))).ok_or(Exceeded::Bytes)?;
        total = total.saturating_add(string_size(k.len())).saturating_add(measure(v, max_depth - 1, left)?);
    }
    if total > max_bytes { Err(Exceeded::Bytes) } else { Ok(total) }
}

/// The approximate size of `value`, however large or deep.
pub(crate) fn size_of(value: &Value) -> usize {
    measure(value, usize::MAX, usize::MAX).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_depths_and_caps() {
        let v = Value::from_json(serde_json::json!({"a": [1, "xy"], "b": {}}));
        let expected = CONTAINER_BYTES * 3 + string_size(1) * 2 + SCALAR_BYTES + string_size(2);
        assert_eq!(measure(&v, 2, usize::MAX), Ok(expected));
        assert_eq!(measure(&v, 1, usize::MAX), Err(Exceeded::Depth));
        assert_eq!(measure(&v, 2, expected - 1), Err(Exceeded::Bytes));
        let mut deep = Value::Nil;
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(measure(&deep, 64, usize::MAX), Err(Exceeded::Depth));
        assert_eq!(size_of(&deep), 100_000 * CONTAINER_BYTES + SCALAR_BYTES);
        // (dropping a value this deep is the host's business; keep the test's own drop shallow)
        std::mem::forget(deep);
    }
}
