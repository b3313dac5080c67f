//! The dynamic, serde-compatible value stored in an [`EventContext`](crate::EventContext).

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::map::{Map, MapHasher};

/// A dynamic value: what Lua sees as `ctx.key`, what the CLI prints as JSON.
///
/// Integers and floats are kept apart (as Lua 5.3+ does). Converting to and from
/// [`serde_json::Value`] is lossless except for non-finite floats, which JSON
/// cannot hold and which become `null`.
///
/// ```
/// use eventchains_core::Value;
/// let v = Value::from(vec![1, 2, 3]);
/// assert_eq!(v.type_name(), "array");
/// assert_eq!(v.as_array().map(|a| a.len()), Some(3));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// The absence of a value (`nil` in Lua, `null` in JSON).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// An ordered list of values.
    Array(Vec<Value>),
    /// A map with string keys, in insertion order.
    Map(Map),
}

impl Value {
    /// A short name of this value's type, used in error messages
    /// (`"nil"`, `"bool"`, `"integer"`, `"float"`, `"string"`, `"array"`, `"map"`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }

    /// `true` for [`Value::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is an integer or a float with an exact integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) => float_to_i64(*f),
            _ => None,
        }
    }

    /// The number as a float, if this is an integer or a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The string, borrowed, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, borrowed, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The elements, mutably, if this is a [`Value::Array`].
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The map, borrowed, if this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The map, mutably, if this is a [`Value::Map`].
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Converts a JSON value. Integers that do not fit an `i64` become floats.
    pub fn from_json(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(o.into_iter().map(|(k, v)| (k, Value::from_json(v))).collect()),
        }
    }

    /// Converts to a JSON value. Non-finite floats (NaN, infinities) become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

/// Converts a float to an `i64` when it holds an exact integer in range.
pub(crate) fn float_to_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every float in [-2^63, 2^63) fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) { Some(f as i64) } else { None }
}

impl fmt::Display for Value {
    /// Formats the value as compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
/// The least capacity of a string built from a `&str`: 24 bytes, the smallest
/// block glibc's `malloc` hands out anyway (a 32-byte chunk), so a short value
/// that is appended to (`"start"` + `" -> processed"`) grows without a
/// reallocation, at no cost in memory there.
const MIN_STRING_CAPACITY: usize = 24;

impl From<&str> for Value {
    /// Copies the text, with room for at least 24 bytes (see `MIN_STRING_CAPACITY`).
    fn from(v: &str) -> Self {
        let mut s = String::with_capacity(v.len().max(MIN_STRING_CAPACITY));
        s.push_str(v);
        Value::String(s)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<Map> for Value {
    fn from(v: Map) -> Self {
        Value::Map(v)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Nil, Into::into)
    }
}
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::from_json(v)
    }
}
impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> Self {
        v.to_json()
    }
}
impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Value {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Value::Map(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => m.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nil, a bool, a number, a string, an array or a map")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Array(v.iter().map(|b| Value::Int(i64::from(*b))).collect()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
        crate::map::MapVisitor.visit_map(access).map(Value::Map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_from_str_have_room_to_grow() {
        let Value::String(s) = Value::from("start") else { panic!("a string") };
        assert_eq!(s, "start");
        assert!(s.capacity() >= MIN_STRING_CAPACITY);
        let long = "x".repeat(100);
        let Value::String(s) = Value::from(long.as_str()) else { panic!("a string") };
        assert_eq!(s, long);
    }

    #[test]
    fn json_round_trip_keeps_ints_floats_and_order() {
        let json = serde_json::json!({"b": 1, "a": 2.5, "c": [true, null, "x"], "d": {"z": 1, "y": 2}});
        let v = Value::from_json(json.clone());
        assert_eq!(
            v.as_map().map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["b".to_owned(), "a".into(), "c".into(), "d".into()])
        );
        assert_eq!(v.to_json(), json);
        assert_eq!(v.as_map().and_then(|m| m.get("b")), Some(&Value::Int(1)));
        assert_eq!(v.as_map().and_then(|m| m.get("a")), Some(&Value::Float(2.5)));
    }

    #[test]
    fn non_finite_floats_become_null_in_json() {
        assert_eq!(Value::Float(f64::NAN).to_json(), serde_json::Value::Null);
        assert_eq!(Value::Float(f64::INFINITY).to_json(), serde_json::Value::Null);
    }

    #[test]
    fn huge_unsigned_becomes_float() {
        let v: Value = serde_json::from_str("18446744073709551615").expect("valid json");
        assert_eq!(v, Value::Float(18446744073709551615.0));
    }

    #[test]
    fn integral_floats_read_as_integers_only_when_exact() {
        assert_eq!(Value::Float(3.0).as_i64(), Some(3));
        assert_eq!(Value::Float(3.5).as_i64(), None);
        assert_eq!(Value::Float(1e300).as_i64(), None);
        assert_eq!(Value::Float(f64::NAN).as_i64(), None);
        assert_eq!(Value::Int(7).as_f64(), Some(7.0));
    }

    #[test]
    fn serde_round_trip_through_serde_json_text() {
        let v: Value = [("k", Value::from(vec!["a", "b"])), ("n", Value::Nil)].into_iter().collect();
        let text = serde_json::to_string(&v).expect("serializes");
        assert_eq!(text, r#"{"k":["a","b"],"n":null}"#);
        let back: Value = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, v);
    }
}
