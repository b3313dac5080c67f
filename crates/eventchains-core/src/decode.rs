//! [`decode`]: any `Deserialize` type read straight from a borrowed [`Value`]
//! (`&Value` is a serde [`Deserializer`]), with the rules of [`FromValue`].
//!
//! The rules a config of a named part, or [`EventContext::get_serde`](crate::EventContext::get_serde),
//! follow:
//!
//! - **Numbers** read as [`FromValue`] reads them: an integer field accepts an
//!   integer or a float with an exact integer value in the field's range
//!   (`150.0` reads as `150`; `2.5` and `300` for a `u8` are errors that say
//!   why); a float field accepts any number; `f32` refuses numbers beyond `±f32::MAX`.
//! - **Lua's one empty table**: an empty map reads as an empty sequence and an
//!   empty array as an empty map or struct, whichever the field expects.
//! - **`nil`** reads as `None` (and as `()`); enums are a string (unit
//!   variants) or a map with one key (the variant) and its value.
//! - **Errors name the path** inside the value and the expected type:
//!   ``budget.ratio: invalid type: string "x", expected f64``.
//!
//! No intermediate `serde_json::Value` is built; strings are borrowed.
//!
//! ```
//! use eventchains_core::{Value, decode};
//! #[derive(serde::Deserialize, Debug, PartialEq)]
//! struct Config { timeout_ms: u64, tags: Vec<String> }
//!
//! let lua_like: Value = [("timeout_ms", Value::Float(150.0)), ("tags", Value::Map(Default::default()))]
//!     .into_iter()
//!     .collect();
//! assert_eq!(decode::<Config>(&lua_like).unwrap(), Config { timeout_ms: 150, tags: vec![] });
//!
//! let bad: Value = [("timeout_ms", Value::Float(1.5)), ("tags", Value::from(vec!["a"]))].into_iter().collect();
//! assert_eq!(
//!     decode::<Config>(&bad).unwrap_err().to_string(),
//!     "timeout_ms: invalid type: floating point `1.5`, expected u64"
//! );
//! ```

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected, VariantAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;

use crate::from_value::FromValue;
use crate::value::Value;

/// Reads a `T` from `value` with the rules of the [module](self).
pub fn decode<'de, T: de::Deserialize<'de>>(value: &'de Value) -> Result<T, DecodeError> {
    T::deserialize(value)
}

/// Why [`decode`] failed: where inside the value, and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Innermost segment first: segments are added as the error bubbles up.
    path: Vec<Segment>,
    message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl DecodeError {
    fn at(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    /// Where the error is, e.g. `budget.ratio` or `retry_on[1]` (empty: the value itself).
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Key(k) if out.is_empty() => out.push_str(k),
                Segment::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                // Positions count from 1, as in Lua (the configs are mostly Lua tables).
                Segment::Index(i) => out.push_str(&format!("[{}]", i + 1)),
            }
        }
        out
    }

    /// What was wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DecodeError {
    /// `path: message`, or the message alone at the top level.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path(), self.message) }
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError { path: Vec::new(), message: msg.to_string() }
    }
}

/// How serde names a value of the wrong type.
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Nil => Unexpected::Other("nil"),
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Int(i) => Unexpected::Signed(*i),
        Value::Float(f) => Unexpected::Float(*f),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Map(_) => Unexpected::Map,
    }
}

fn invalid_type(value: &Value, expected: &dyn de::Expected) -> DecodeError {
    de::Error::invalid_type(unexpected(value), expected)
}

/// The error for a number `T` refused: out of range (with the range), or of the wrong type.
fn number_error<'a, T: FromValue<'a>>(value: &Value, expected: &dyn de::Expected) -> DecodeError {
    match T::out_of_range(value) {
        Some(r) => {
            de::Error::custom(format_args!("{} {value} out of range for {} ({})", value.type_name(), r.target, r.range))
        }
        None => invalid_type(value, expected),
    }
}

macro_rules! number_methods {
    ($($method:ident => $visit:ident($t:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            match <$t as FromValue<'_>>::from_value(self) {
                Some(n) => visitor.$visit(n),
                None => Err(number_error::<$t>(self, &visitor)),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for &'de Value {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::Nil => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visitor.visit_seq(Seq { iter: a.iter(), index: 0 }),
            Value::Map(m) => visitor.visit_map(Entries { iter: m.iter(), value: None }),
        }
    }

    number_methods!(
        deserialize_i8 => visit_i8(i8), deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32), deserialize_i64 => visit_i64(i64),
        deserialize_u8 => visit_u8(u8), deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32), deserialize_u64 => visit_u64(u64),
        deserialize_f32 => visit_f32(f32), deserialize_f64 => visit_f64(f64),
    );

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::Bool(b) => visitor.visit_bool(*b),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::String(s) => visitor.visit_borrowed_str(s),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::String(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
            _ => self.deserialize_seq(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::Nil => visitor.visit_none(),
            some => visitor.visit_some(some),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::Nil => visitor.visit_unit(),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    /// An array, or an empty map (Lua's empty table).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::Array(a) => visitor.visit_seq(Seq { iter: a.iter(), index: 0 }),
            Value::Map(m) if m.is_empty() => visitor.visit_seq(Seq { iter: [].iter(), index: 0 }),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    /// A map, or an empty array (Lua's empty table).
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self {
            Value::Map(m) => visitor.visit_map(Entries { iter: m.iter(), value: None }),
            Value::Array(a) if a.is_empty() => visitor.visit_map(Entries { iter: std::iter::empty(), value: None }),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_map(visitor)
    }

    /// A string (a unit variant) or a map with one key (the variant) and its value.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Map(m) if m.len() == 1 => {
                let (variant, value) = m.iter().next().expect("one entry");
                visitor.visit_enum(Variant { variant, value })
            }
            other => Err(invalid_type(other, &"a variant name or a map with one key")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! { i128 u128 }
}

/// The elements of an array, numbering errors by index.
struct Seq<'de> {
    iter: std::slice::Iter<'de, Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        let Some(value) = self.iter.next() else { return Ok(None) };
        let index = self.index;
        self.index += 1;
        seed.deserialize(value).map(Some).map_err(|e| e.at(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The entries of a map, naming errors by key.
struct Entries<'de, I> {
    iter: I,
    value: Option<(&'de str, &'de Value)>,
}

impl<'de, I: Iterator<Item = (&'de String, &'de Value)>> MapAccess<'de> for Entries<'de, I> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.iter.next() else { return Ok(None) };
        self.value = Some((key, value));
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DecodeError> {
        let (key, value) = self.value.take().ok_or_else(|| de::Error::custom("a map value was read before its key"))?;
        seed.deserialize(value).map_err(|e| e.at(Segment::Key(key.to_owned())))
    }
}

/// An enum given as `{ variant = value }`.
struct Variant<'de> {
    variant: &'de str,
    value: &'de Value,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = DecodeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), DecodeError> {
        let variant = seed.deserialize(BorrowedStrDeserializer::<DecodeError>::new(self.variant))?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'de> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        de::Deserialize::deserialize(self.value).map_err(|e| e.at(Segment::Key(self.variant.to_owned())))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        seed.deserialize(self.value).map_err(|e| e.at(Segment::Key(self.variant.to_owned())))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.value.deserialize_seq(visitor).map_err(|e| e.at(Segment::Key(self.variant.to_owned())))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.value.deserialize_map(visitor).map_err(|e| e.at(Segment::Key(self.variant.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::value::Map;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        ratio: f64,
        count: u32,
    }

    impl Default for Inner {
        fn default() -> Self {
            Inner { ratio: 0.5, count: 1 }
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow { factor: u8 },
        Weighted(f32),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        timeout_ms: u64,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        limits: BTreeMap<String, u64>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        modes: Vec<Mode>,
        #[serde(default)]
        pair: Option<(i8, bool)>,
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        entries.into_iter().collect()
    }

    fn empty_map() -> Value {
        Value::Map(Map::default())
    }

    #[test]
    fn integral_floats_read_as_integers_at_every_depth() {
        let v = map(vec![
            ("timeout_ms", Value::Float(150.0)),
            ("limits", map(vec![("a", Value::Float(2.0))])),
            ("inner", map(vec![("count", Value::Float(3.0)), ("ratio", Value::Int(1))])),
            ("pair", Value::from(vec![Value::Float(-4.0), Value::Bool(true)])),
        ]);
        let c: Config = decode(&v).expect("decodes");
        assert_eq!(c.timeout_ms, 150);
        assert_eq!(c.limits["a"], 2);
        assert_eq!(c.inner, Some(Inner { ratio: 1.0, count: 3 }));
        assert_eq!(c.pair, Some((-4, true)));
    }

    #[test]
    fn non_integral_and_out_of_range_numbers_say_why_and_where() {
        let half = map(vec![("timeout_ms", Value::Float(150.5))]);
        assert_eq!(
            decode::<Config>(&half).unwrap_err().to_string(),
            "timeout_ms: invalid type: floating point `150.5`, expected u64"
        );
        let negative = map(vec![("timeout_ms", Value::Int(-1))]);
        assert_eq!(
            decode::<Config>(&negative).unwrap_err().to_string(),
            "timeout_ms: integer -1 out of range for u64 (0..=18446744073709551615)"
        );
        let deep = map(vec![
            ("timeout_ms", Value::Int(1)),
            ("modes", Value::from(vec![map(vec![("slow", map(vec![("factor", Value::Int(300))]))])])),
        ]);
        let err = decode::<Config>(&deep).unwrap_err();
        assert_eq!(err.path(), "modes[1].slow.factor");
        assert_eq!(err.message(), "integer 300 out of range for u8 (0..=255)");
        let f32_big = map(vec![
            ("timeout_ms", Value::Int(1)),
            ("modes", Value::from(vec![map(vec![("weighted", Value::Float(1e39))])])),
        ]);
        assert!(
            decode::<Config>(&f32_big)
                .unwrap_err()
                .to_string()
                .starts_with("modes[1].weighted: float 1e+39 out of range for f32")
        );
    }

    #[test]
    fn lua_empty_table_reads_as_empty_list_or_map() {
        let v = map(vec![
            ("timeout_ms", Value::Int(1)),
            ("tags", empty_map()),
            ("limits", Value::Array(vec![])),
            ("inner", Value::Array(vec![])),
            ("modes", empty_map()),
        ]);
        let c: Config = decode(&v).expect("decodes");
        assert!(c.tags.is_empty() && c.limits.is_empty() && c.modes.is_empty());
        assert_eq!(c.inner, Some(Inner::default()), "an empty table is a struct with every default");
        let not_empty = map(vec![("timeout_ms", Value::Int(1)), ("tags", map(vec![("a", Value::Int(1))]))]);
        assert_eq!(
            decode::<Config>(&not_empty).unwrap_err().to_string(),
            "tags: invalid type: map, expected a sequence"
        );
        let list_as_map = map(vec![("timeout_ms", Value::Int(1)), ("limits", Value::from(vec![1]))]);
        assert_eq!(
            decode::<Config>(&list_as_map).unwrap_err().to_string(),
            "limits: invalid type: sequence, expected a map"
        );
    }

    #[test]
    fn wrong_types_unknown_and_missing_fields_name_the_path() {
        let v = map(vec![("timeout_ms", Value::Int(1)), ("inner", map(vec![("ratio", Value::from("x"))]))]);
        assert_eq!(
            decode::<Config>(&v).unwrap_err().to_string(),
            "inner.ratio: invalid type: string \"x\", expected f64"
        );
        let v = map(vec![("timeout_ms", Value::Int(1)), ("inner", map(vec![("ratoi", Value::Int(1))]))]);
        assert_eq!(
            decode::<Config>(&v).unwrap_err().to_string(),
            "inner: unknown field `ratoi`, expected `ratio` or `count`"
        );
        assert_eq!(decode::<Config>(&empty_map()).unwrap_err().to_string(), "missing field `timeout_ms`");
        let v = map(vec![("timeout_ms", Value::Int(1)), ("tags", Value::from(vec![Value::from("a"), Value::Nil]))]);
        assert_eq!(decode::<Config>(&v).unwrap_err().to_string(), "tags[2]: invalid type: nil, expected a string");
        let v = map(vec![("timeout_ms", Value::Int(1)), ("modes", Value::from(vec!["fast", "warp"]))]);
        assert!(decode::<Config>(&v).unwrap_err().to_string().starts_with("modes[2]: unknown variant `warp`"));
    }

    #[test]
    fn enums_strings_options_and_borrowing() {
        let v = map(vec![
            ("timeout_ms", Value::Int(1)),
            ("modes", Value::from(vec![Value::from("fast"), map(vec![("weighted", Value::Float(0.5))])])),
            ("inner", Value::Nil),
        ]);
        let c: Config = decode(&v).expect("decodes");
        assert_eq!(c.modes, vec![Mode::Fast, Mode::Weighted(0.5)]);
        assert_eq!(c.inner, None);
        let s = Value::from("borrowed");
        let text: &str = decode(&s).expect("str");
        assert!(std::ptr::eq(text, s.as_str().expect("string")));
        assert_eq!(decode::<char>(&Value::from("x")), Ok('x'));
        assert_eq!(decode::<Value>(&v).expect("any"), v, "a Value decodes to itself");
    }
}
