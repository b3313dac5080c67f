//! [`EventContext`]: the shared context that flows through a chain.

mod pool;
mod scope;

pub use scope::DeadlineScope;

use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::Serialize;

use crate::decode::decode;

use crate::extensions::Extensions;
use crate::from_value::{FromValue, OutOfRange};
use crate::value::{Map, Value};

/// Why a typed context read or a conversion failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The key is not in the context.
    #[error("context key `{key}` is missing")]
    Missing {
        /// The key that was read.
        key: String,
    },
    /// The key holds a value of another type.
    #[error("context key `{key}` holds {found}, expected {expected}")]
    WrongType {
        /// The key that was read.
        key: String,
        /// The type the caller asked for.
        expected: &'static str,
        /// The type of the stored value.
        found: &'static str,
    },
    /// The key holds a number out of the range of the type asked for.
    #[error("context key `{key}` holds {found}, out of range for {target} ({range})")]
    OutOfRange {
        /// The key that was read.
        key: String,
        /// The stored number with its type, e.g. `integer 300`.
        found: String,
        /// The type the caller asked for, e.g. `u8`.
        target: &'static str,
        /// That type's range, e.g. `0..=255`.
        range: String,
    },
    /// A serde conversion of a user type failed.
    #[error("context key `{key}`: {message}")]
    Serde {
        /// The key that was read or written.
        key: String,
        /// serde's message.
        message: String,
    },
    /// A context was built from JSON that is not an object.
    #[error("a context must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type found instead.
        found: &'static str,
    },
}

/// The shared context of a chain: dynamic **values** (what Lua sees as
/// `ctx.key`, what the CLI prints as JSON) and typed **extensions** (Rust objects
/// invisible to scripts), plus the deadline of the event being run, if any.
///
/// Reads never panic: a missing key or a value of another type is `None`
/// ([`get`](Self::get)) or a [`ContextError`] ([`try_get`](Self::try_get)).
/// Reads borrow: `get::<&str>` and `get::<&Map>` point into the context.
///
/// ```
/// use eventchains_core::{EventContext, Value};
/// let mut ctx = EventContext::new();
/// ctx.set("counter", 1);
/// ctx.set("message", "start");
/// assert_eq!(ctx.get::<i64>("counter"), Some(1));
/// assert_eq!(ctx.get::<&str>("message"), Some("start"));   // borrowed, no clone
/// assert_eq!(ctx.get::<i64>("message"), None);             // wrong type: None
/// assert_eq!(ctx.get_or("missing", 7), 7);
/// assert_eq!(
///     ctx.try_get::<bool>("counter").unwrap_err().to_string(),
///     "context key `counter` holds integer, expected bool"
/// );
/// assert_eq!(ctx.to_json(), serde_json::json!({"counter": 1, "message": "start"}));
/// ```
///
/// # Cost
///
/// Reads and overwrites of existing keys allocate nothing; on a context of up
/// to 8 keys they compare keys directly instead of hashing.
/// A dropped context gives its emptied map and key strings to a small pool of
/// its thread, and [`new`](Self::new) takes them back, so a fresh context per
/// request allocates nothing for its map and keys after the first request on
/// a thread (values such as strings still allocate as they are built).
pub struct EventContext {
    values: Map,
    /// Key strings no longer in `values`, reused for new keys (see `context/pool.rs`).
    spare_keys: Vec<String>,
    extensions: Extensions,
    deadline: Option<Instant>,
    /// The cancellation token of the execution, if its caller gave one.
    #[cfg(feature = "async")]
    cancel: Option<tokio_util::sync::CancellationToken>,
}

impl EventContext {
    /// An empty context (on storage recycled from a dropped context of this
    /// thread when there is one: see [Cost](Self#cost)).
    pub fn new() -> Self {
        let pool::Storage { values, spare_keys } =
            pool::take().unwrap_or_else(|| pool::Storage { values: Map::default(), spare_keys: Vec::new() });
        EventContext {
            values,
            spare_keys,
            extensions: Extensions::new(),
            deadline: None,
            #[cfg(feature = "async")]
            cancel: None,
        }
    }

    /// A context holding `values`.
    pub fn from_values(values: Map) -> Self {
        EventContext {
            values,
            spare_keys: Vec::new(),
            extensions: Extensions::new(),
            deadline: None,
            #[cfg(feature = "async")]
            cancel: None,
        }
    }

    #[inline]
    fn slot(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    #[inline]
    fn slot_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.values.get_mut(key)
    }

    /// A context from a JSON object.
    pub fn from_json(json: serde_json::Value) -> Result<Self, ContextError> {
        match Value::from_json(json) {
            Value::Map(values) => Ok(Self::from_values(values)),
            other => Err(ContextError::NotAnObject { found: other.type_name() }),
        }
    }

    /// The values as a JSON object (non-finite floats become `null`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.values.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }

    /// Reads `key` as `T`; `None` when missing or of another type.
    pub fn get<'a, T: FromValue<'a>>(&'a self, key: &str) -> Option<T> {
        T::from_value(self.slot(key)?)
    }

    /// Reads `key` as `T`, with an error that says what was missing or wrong.
    pub fn try_get<'a, T: FromValue<'a>>(&'a self, key: &str) -> Result<T, ContextError> {
        let value = self.slot(key).ok_or_else(|| ContextError::Missing { key: key.to_owned() })?;
        T::from_value(value).ok_or_else(|| match T::out_of_range(value) {
            Some(OutOfRange { target, range }) => ContextError::OutOfRange {
                key: key.to_owned(),
                found: format!("{} {value}", value.type_name()),
                target,
                range,
            },
            None => ContextError::WrongType { key: key.to_owned(), expected: T::EXPECTED, found: value.type_name() },
        })
    }

    /// Reads `key` as `T`, or `default` when missing or of another type.
    pub fn get_or<'a, T: FromValue<'a>>(&'a self, key: &str, default: T) -> T {
        self.get(key).unwrap_or(default)
    }

    /// The raw value at `key`, borrowed.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.slot(key)
    }

    /// The raw value at `key`, mutably (for in-place edits of nested data).
    pub fn value_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.slot_mut(key)
    }

    /// Stores `value` at `key`, returning the previous value.
    ///
    /// Overwriting an existing key allocates nothing for the key. A new key is
    /// copied into a spare key string of this context's recycled storage when
    /// there is one, else it becomes an owned `String` (see [Cost](Self#cost)).
    pub fn set<K: AsRef<str> + Into<String>>(&mut self, key: K, value: impl Into<Value>) -> Option<Value> {
        let value = value.into();
        if let Some(slot) = self.slot_mut(key.as_ref()) {
            return Some(std::mem::replace(slot, value));
        }
        let key = match self.spare_keys.pop() {
            Some(mut spare) => {
                spare.clear();
                spare.push_str(key.as_ref());
                spare
            }
            None => key.into(),
        };
        self.values.push_absent(key, value);
        None
    }

    /// Removes `key`, returning its value. The order of the other keys is kept.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let (_, key, value) = self.values.shift_remove_full(key)?;
        if self.spare_keys.len() < pool::MAX_RECYCLED_ENTRIES && key.capacity() <= pool::MAX_KEY_BYTES {
            self.spare_keys.push(key);
        }
        Some(value)
    }

    /// `true` if `key` is present (even if it holds `nil`).
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// Stores any `Serialize` type at `key`, converted to a [`Value`].
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Order { id: u32, items: Vec<String> }
    /// let mut ctx = eventchains_core::EventContext::new();
    /// let order = Order { id: 7, items: vec!["tea".into()] };
    /// ctx.set_serde("order", &order).unwrap();
    /// assert_eq!(ctx.get::<i64>("order.id"), None); // keys are not paths
    /// assert_eq!(ctx.get_serde::<Order>("order").unwrap(), order);
    /// ```
    pub fn set_serde<T: Serialize + ?Sized>(&mut self, key: impl Into<String>, value: &T) -> Result<(), ContextError> {
        let key = key.into();
        match serde_json::to_value(value) {
            Ok(json) => {
                self.values.insert(key, Value::from_json(json));
                Ok(())
            }
            Err(e) => Err(ContextError::Serde { key, message: e.to_string() }),
        }
    }

    /// Reads `key` into any `Deserialize` type, straight from the stored value
    /// (no JSON detour; strings may borrow) with the rules of
    /// [`decode`](crate::decode): integral floats read as integers, an empty
    /// map or array reads as either, and errors name the path inside the value.
    pub fn get_serde<'a, T: Deserialize<'a>>(&'a self, key: &str) -> Result<T, ContextError> {
        let value = self.slot(key).ok_or_else(|| ContextError::Missing { key: key.to_owned() })?;
        decode(value).map_err(|e| ContextError::Serde { key: key.to_owned(), message: e.to_string() })
    }

    /// Iterates over `(key, value)` pairs in insertion order.
    pub fn iter(&self) -> crate::map::Iter<'_> {
        self.values.iter()
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` when there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// All values, borrowed.
    pub fn values(&self) -> &Map {
        &self.values
    }

    /// All values, mutably.
    pub fn values_mut(&mut self) -> &mut Map {
        &mut self.values
    }

    /// Takes the values out, leaving the context without values.
    pub fn into_values(mut self) -> Map {
        std::mem::take(&mut self.values)
    }

    /// Copies every value of `other` in, overwriting keys that exist (`other` wins).
    pub fn merge(&mut self, other: Map) {
        self.values.extend(other);
    }

    /// Stores every value of `defaults` whose key is not already present
    /// (the context's own values win).
    pub fn merge_defaults(&mut self, defaults: &Map) {
        for (k, v) in defaults {
            if !self.values.contains_key(k) {
                // Just looked up and absent: appended without a second lookup.
                self.values.push_absent(k.clone(), v.clone());
            }
        }
    }

    /// The typed Rust objects of this context.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The typed Rust objects of this context, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The deadline of the event being run, if a middleware (such as a timeout)
    /// set one. Long-running events should check it; the Lua layer stops
    /// handlers when it passes.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Sets (or clears) the deadline, returning the previous one so that a
    /// middleware can restore it after the event.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) -> Option<Instant> {
        std::mem::replace(&mut self.deadline, deadline)
    }

    /// Narrows the deadline to `limit` after `start`, keeping an earlier one
    /// already set, and returns the previous deadline so that the caller can
    /// restore it when its scope ends. A limit that reaches past the range of
    /// [`Instant`] (`Duration::MAX`, "no cap") sets no deadline of its own: it
    /// never overflows.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use eventchains_core::EventContext;
    /// let mut ctx = EventContext::new();
    /// let start = Instant::now();
    /// let previous = ctx.narrow_deadline(start, Duration::from_millis(100));
    /// assert_eq!(ctx.deadline(), Some(start + Duration::from_millis(100)));
    /// ctx.narrow_deadline(start, Duration::MAX); // no cap: the earlier deadline stays
    /// assert_eq!(ctx.deadline(), Some(start + Duration::from_millis(100)));
    /// ctx.set_deadline(previous);
    /// assert_eq!(ctx.deadline(), None);
    /// ```
    pub fn narrow_deadline(&mut self, start: Instant, limit: Duration) -> Option<Instant> {
        let previous = self.deadline;
        if let Some(ours) = start.checked_add(limit) {
            self.deadline = Some(previous.map_or(ours, |outer| outer.min(ours)));
        }
        previous
    }

    /// `true` if a deadline is set and has passed.
    pub fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Narrows the deadline like [`narrow_deadline`](Self::narrow_deadline)
    /// for the life of the returned scope, which derefs to this context and
    /// puts the previous deadline back when it is dropped: at the end of the
    /// scope, on a panic, or when an async execution holding it is dropped
    /// mid-way.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use eventchains_core::EventContext;
    /// let mut ctx = EventContext::new();
    /// {
    ///     let scoped = ctx.deadline_scope(Instant::now(), Duration::from_secs(1));
    ///     assert!(scoped.deadline().is_some());
    /// }
    /// assert_eq!(ctx.deadline(), None);
    /// ```
    pub fn deadline_scope(&mut self, start: Instant, limit: Duration) -> DeadlineScope<'_> {
        DeadlineScope::new(self, start, limit)
    }

    /// `true` once the execution this context belongs to was cancelled
    /// through its [`CancellationToken`](tokio_util::sync::CancellationToken)
    /// (see [`set_cancellation`](Self::set_cancellation) and docs/async.md);
    /// always `false` without one. Long-running events should check it and
    /// stop with [`EventError::cancelled`](crate::EventError::cancelled).
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        #[cfg(feature = "async")]
        {
            self.cancel.as_ref().is_some_and(tokio_util::sync::CancellationToken::is_cancelled)
        }
        #[cfg(not(feature = "async"))]
        {
            false
        }
    }

    /// The cancellation token of the execution, if one was set.
    #[cfg(feature = "async")]
    pub fn cancellation(&self) -> Option<&tokio_util::sync::CancellationToken> {
        self.cancel.as_ref()
    }

    /// Sets (or clears) the cancellation token, returning the previous one.
    /// An [`AsyncEventChain`](crate::AsyncEventChain) stops its execution when
    /// the token is cancelled; events see it through
    /// [`is_cancelled`](Self::is_cancelled).
    #[cfg(feature = "async")]
    pub fn set_cancellation(
        &mut self,
        token: Option<tokio_util::sync::CancellationToken>,
    ) -> Option<tokio_util::sync::CancellationToken> {
        std::mem::replace(&mut self.cancel, token)
    }
}

impl Default for EventContext {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for EventContext {
    /// Clones the values, shares the extensions (see [`Extensions`]), keeps
    /// the deadline and the cancellation token.
    fn clone(&self) -> Self {
        EventContext {
            values: self.values.clone(),
            spare_keys: Vec::new(),
            extensions: self.extensions.clone(),
            deadline: self.deadline,
            #[cfg(feature = "async")]
            cancel: self.cancel.clone(),
        }
    }
}

impl fmt::Debug for EventContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventContext")
            .field("values", &self.values)
            .field("extensions", &self.extensions)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Drop for EventContext {
    /// Gives the emptied map and its key strings to this thread's pool.
    fn drop(&mut self) {
        pool::recycle(&mut self.values, &mut self.spare_keys);
    }
}

impl Serialize for EventContext {
    /// Serializes the values as a map (extensions are not serialized).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.values.iter())
    }
}

impl<'de> serde::Deserialize<'de> for EventContext {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Map::deserialize(deserializer)?;
        Ok(Self::from_values(values))
    }
}

impl From<Map> for EventContext {
    fn from(values: Map) -> Self {
        Self::from_values(values)
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for EventContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_values(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl<'a> IntoIterator for &'a EventContext {
    type Item = (&'a String, &'a Value);
    type IntoIter = crate::map::Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.values.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn many_keys_use_the_hash_index_and_agree_with_few() {
        let mut ctx = EventContext::new();
        for i in 0..(crate::map::LINEAR_MAX * 3) {
            ctx.set(format!("key{i}"), i as i64);
            for j in 0..=i {
                assert_eq!(ctx.get::<i64>(&format!("key{j}")), Some(j as i64), "{i} keys, key{j}");
            }
            assert!(!ctx.contains("key"));
        }
    }

    #[test]
    fn dropped_contexts_give_their_storage_to_the_next_one() {
        // Runs on its own test thread: the pool is per thread.
        drop(EventContext::new()); // an empty context has nothing worth keeping
        let before = pool::pooled();
        let mut ctx = EventContext::new();
        ctx.set("counter", 1);
        ctx.set(String::from("message"), "start");
        let map_capacity = ctx.values().capacity();
        drop(ctx);
        assert_eq!(pool::pooled(), before + 1);
        let mut fresh = EventContext::new();
        assert_eq!(pool::pooled(), before);
        assert!(fresh.is_empty(), "recycled storage holds no values");
        assert_eq!(fresh.values().capacity(), map_capacity);
        assert_eq!(fresh.spare_keys.len(), 2);
        fresh.set("third", true);
        assert_eq!(fresh.spare_keys.len(), 1);
        assert_eq!(fresh.to_json(), serde_json::json!({"third": true}));
        assert_eq!(fresh.remove("third"), Some(Value::Bool(true)));
        assert_eq!(fresh.spare_keys.len(), 2, "a removed key is kept for the next new key");
        // Large maps and long keys are freed, not kept.
        let mut big = EventContext::new();
        for i in 0..=pool::MAX_RECYCLED_ENTRIES {
            big.set(format!("k{i}"), i as i64);
        }
        let pooled = pool::pooled();
        drop(big);
        assert_eq!(pool::pooled(), pooled);
        let mut long = EventContext::new();
        long.set("x".repeat(pool::MAX_KEY_BYTES + 1), 1);
        drop(long);
        assert!(EventContext::new().spare_keys.is_empty(), "the long key was not kept");
    }

    #[test]
    fn the_pool_is_bounded() {
        let contexts: Vec<EventContext> = (0..pool::MAX_POOLED * 2)
            .map(|i| {
                let mut c = EventContext::new();
                c.set("n", i as i64);
                c
            })
            .collect();
        drop(contexts);
        assert_eq!(pool::pooled(), pool::MAX_POOLED);
    }

    #[test]
    fn clone_and_debug_show_values_not_recycled_storage() {
        let mut ctx = EventContext::new();
        ctx.set("a", 1);
        let copy = ctx.clone();
        assert_eq!(copy.to_json(), ctx.to_json());
        assert!(copy.spare_keys.is_empty());
        let debug = format!("{ctx:?}");
        assert!(debug.starts_with("EventContext { values: {\"a\": Int(1)}"), "{debug}");
        assert!(!debug.contains("spare"), "{debug}");
        assert_eq!(ctx.into_values().len(), 1);
    }

    #[test]
    fn missing_and_wrong_type_are_errors_not_panics() {
        let mut ctx = EventContext::new();
        ctx.set("n", 1);
        assert_eq!(ctx.try_get::<i64>("x"), Err(ContextError::Missing { key: "x".into() }));
        assert_eq!(
            ctx.try_get::<&str>("n"),
            Err(ContextError::WrongType { key: "n".into(), expected: "string", found: "integer" })
        );
        assert_eq!(ctx.get::<String>("n"), None);
    }

    #[test]
    fn out_of_range_numbers_name_the_range() {
        let mut ctx = EventContext::new();
        ctx.set("n", 300);
        ctx.set("f", 1e39);
        ctx.set("half", 2.5);
        ctx.set("big", 1e300);
        assert_eq!(
            ctx.try_get::<u8>("n").unwrap_err().to_string(),
            "context key `n` holds integer 300, out of range for u8 (0..=255)"
        );
        assert!(matches!(ctx.try_get::<u8>("n"), Err(ContextError::OutOfRange { target: "u8", .. })));
        assert_eq!(
            ctx.try_get::<Option<i8>>("n").unwrap_err().to_string(),
            "context key `n` holds integer 300, out of range for i8 (-128..=127)"
        );
        assert_eq!(
            ctx.try_get::<f32>("f").unwrap_err().to_string(),
            "context key `f` holds float 1e+39, out of range for f32 (-3.4028235e38..=3.4028235e38)"
        );
        assert!(matches!(ctx.try_get::<u64>("big"), Err(ContextError::OutOfRange { target: "u64", .. })));
        assert_eq!(
            ctx.try_get::<i64>("half"),
            Err(ContextError::WrongType { key: "half".into(), expected: "integer", found: "float" })
        );
        assert_eq!(
            ctx.try_get::<u8>("half").unwrap_err().to_string(),
            "context key `half` holds float, expected integer"
        );
    }

    #[test]
    fn borrowed_string_read_points_into_the_context() {
        let mut ctx = EventContext::new();
        ctx.set("s", "hello");
        let a: &str = ctx.get("s").expect("string");
        let b: &str = ctx.get("s").expect("string");
        assert!(std::ptr::eq(a, b));
    }

    #[test]
    fn overwriting_keeps_the_key_position_and_returns_the_old_value() {
        let mut ctx: EventContext = [("a", 1), ("b", 2)].into_iter().collect();
        assert_eq!(ctx.set("a", "x"), Some(Value::Int(1)));
        assert_eq!(ctx.set(String::from("c"), 3), None);
        assert_eq!(ctx.keys().collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert_eq!(ctx.get::<&str>("a"), Some("x"));
    }

    #[test]
    fn set_remove_contains_and_order() {
        let mut ctx: EventContext = [("a", 1), ("b", 2), ("c", 3)].into_iter().collect();
        assert_eq!(ctx.set("a", 10), Some(Value::Int(1)));
        assert_eq!(ctx.remove("b"), Some(Value::Int(2)));
        assert!(!ctx.contains("b"));
        assert_eq!(ctx.keys().collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(ctx.len(), 2);
    }

    #[test]
    fn nested_values_can_be_edited_in_place() {
        let mut ctx = EventContext::from_json(serde_json::json!({"order": {"items": [{"qty": 1}]}})).expect("object");
        let qty = ctx
            .value_mut("order")
            .and_then(Value::as_map_mut)
            .and_then(|m| m.get_mut("items"))
            .and_then(Value::as_array_mut)
            .and_then(|a| a.get_mut(0))
            .and_then(Value::as_map_mut)
            .and_then(|m| m.get_mut("qty"))
            .expect("path exists");
        *qty = Value::Int(2);
        assert_eq!(ctx.to_json(), serde_json::json!({"order": {"items": [{"qty": 2}]}}));
    }

    #[test]
    fn from_json_rejects_non_objects() {
        assert_eq!(
            EventContext::from_json(serde_json::json!([1])).unwrap_err(),
            ContextError::NotAnObject { found: "array" }
        );
    }

    #[test]
    fn merge_defaults_keeps_existing_values() {
        let mut ctx: EventContext = [("a", 1)].into_iter().collect();
        let defaults: Map = [("a".to_owned(), Value::Int(0)), ("b".to_owned(), Value::Int(0))].into_iter().collect();
        ctx.merge_defaults(&defaults);
        assert_eq!(ctx.to_json(), serde_json::json!({"a": 1, "b": 0}));
    }

    #[test]
    fn deadline_set_and_restore() {
        let mut ctx = EventContext::new();
        assert!(!ctx.deadline_passed());
        let past = Instant::now();
        assert_eq!(ctx.set_deadline(Some(past)), None);
        assert!(ctx.deadline_passed());
        assert_eq!(ctx.set_deadline(None), Some(past));
    }

    #[test]
    fn narrowing_never_overflows_and_keeps_the_earlier_deadline() {
        let mut ctx = EventContext::new();
        let start = Instant::now();
        assert_eq!(ctx.narrow_deadline(start, Duration::MAX), None);
        assert_eq!(ctx.deadline(), None, "a limit past the range of Instant is no deadline");
        ctx.narrow_deadline(start, Duration::from_secs(10));
        ctx.narrow_deadline(start, Duration::from_secs(20));
        assert_eq!(ctx.deadline(), Some(start + Duration::from_secs(10)));
        ctx.narrow_deadline(start, Duration::from_secs(5));
        assert_eq!(ctx.deadline(), Some(start + Duration::from_secs(5)));
    }

    #[test]
    fn serde_errors_name_the_key() {
        let mut ctx = EventContext::new();
        ctx.set("n", "text");
        let err = ctx.get_serde::<u32>("n").unwrap_err();
        assert!(matches!(err, ContextError::Serde { ref key, .. } if key == "n"), "{err}");
        ctx.set("order", [("qty", Value::Float(2.0)), ("id", Value::from("a1"))].into_iter().collect::<Value>());
        #[derive(serde::Deserialize)]
        struct Order<'a> {
            qty: u32,
            id: &'a str,
        }
        let order: Order<'_> = ctx.get_serde("order").expect("integral float reads as u32");
        assert_eq!((order.qty, order.id), (2, "a1"));
        ctx.set("order", [("qty", Value::Float(2.5))].into_iter().collect::<Value>());
        assert_eq!(
            ctx.get_serde::<BTreeMap<String, u32>>("order").unwrap_err().to_string(),
            "context key `order`: qty: invalid type: floating point `2.5`, expected u32"
        );
    }
}
