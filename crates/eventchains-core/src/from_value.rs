//! [`FromValue`]: typed, borrowing reads of a [`Value`].

use crate::value::{Map, Value};

/// A type that can be read from a borrowed [`Value`] without cloning more than
/// itself: `&str`, `&[Value]` and `&Map` borrow, numbers and `bool` copy, and
/// `String` / `Vec<T>` clone only what they return.
///
/// Returns `None` when the value has another type (or a number is out of range).
///
/// ```
/// use eventchains_core::{FromValue, Value};
/// let v = Value::from("hello");
/// assert_eq!(<&str>::from_value(&v), Some("hello"));
/// assert_eq!(i64::from_value(&v), None);
/// ```
pub trait FromValue<'a>: Sized {
    /// The type name used in "wrong type" errors, e.g. `"integer"`.
    const EXPECTED: &'static str;

    /// Reads `Self` from `value`, or `None` if it has another type.
    fn from_value(value: &'a Value) -> Option<Self>;
}

impl<'a> FromValue<'a> for &'a Value {
    const EXPECTED: &'static str = "any value";
    fn from_value(value: &'a Value) -> Option<Self> {
        Some(value)
    }
}

impl FromValue<'_> for Value {
    const EXPECTED: &'static str = "any value";
    fn from_value(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
}

impl FromValue<'_> for bool {
    const EXPECTED: &'static str = "bool";
    fn from_value(value: &Value) -> Option<Self> {
        value.as_bool()
    }
}

macro_rules! from_value_int {
    ($($t:ty),*) => {$(
        impl FromValue<'_> for $t {
            const EXPECTED: &'static str = "integer";
            fn from_value(value: &Value) -> Option<Self> {
                value.as_i64().and_then(|i| <$t>::try_from(i).ok())
            }
        }
    )*};
}
from_value_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl FromValue<'_> for f64 {
    const EXPECTED: &'static str = "number";
    fn from_value(value: &Value) -> Option<Self> {
        value.as_f64()
    }
}

impl FromValue<'_> for f32 {
    const EXPECTED: &'static str = "number";
    fn from_value(value: &Value) -> Option<Self> {
        value.as_f64().map(|f| f as f32)
    }
}

impl<'a> FromValue<'a> for &'a str {
    const EXPECTED: &'static str = "string";
    fn from_value(value: &'a Value) -> Option<Self> {
        value.as_str()
    }
}

impl FromValue<'_> for String {
    const EXPECTED: &'static str = "string";
    fn from_value(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
}

impl<'a> FromValue<'a> for &'a [Value] {
    const EXPECTED: &'static str = "array";
    fn from_value(value: &'a Value) -> Option<Self> {
        value.as_array().map(Vec::as_slice)
    }
}

impl<'a> FromValue<'a> for &'a Map {
    const EXPECTED: &'static str = "map";
    fn from_value(value: &'a Value) -> Option<Self> {
        value.as_map()
    }
}

impl<'a, T: FromValue<'a>> FromValue<'a> for Vec<T> {
    const EXPECTED: &'static str = "array";
    fn from_value(value: &'a Value) -> Option<Self> {
        value.as_array()?.iter().map(T::from_value).collect()
    }
}

impl<'a, T: FromValue<'a>> FromValue<'a> for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    /// `nil` reads as `Some(None)`; any other value must be a `T`.
    fn from_value(value: &'a Value) -> Option<Self> {
        match value {
            Value::Nil => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_convert_within_range_only() {
        assert_eq!(u8::from_value(&Value::Int(255)), Some(255));
        assert_eq!(u8::from_value(&Value::Int(256)), None);
        assert_eq!(u64::from_value(&Value::Int(-1)), None);
        assert_eq!(f64::from_value(&Value::Int(2)), Some(2.0));
        assert_eq!(i64::from_value(&Value::Float(2.0)), Some(2));
    }

    #[test]
    fn borrowed_reads_point_into_the_value() {
        let v = Value::from(vec!["a", "b"]);
        let slice = <&[Value]>::from_value(&v).expect("array");
        assert!(std::ptr::eq(slice, v.as_array().expect("array").as_slice()));
        assert_eq!(Vec::<&str>::from_value(&v), Some(vec!["a", "b"]));
        assert_eq!(Vec::<i64>::from_value(&v), None);
    }

    #[test]
    fn option_reads_nil_as_none() {
        assert_eq!(Option::<i64>::from_value(&Value::Nil), Some(None));
        assert_eq!(Option::<i64>::from_value(&Value::Int(1)), Some(Some(1)));
        assert_eq!(Option::<i64>::from_value(&Value::Bool(true)), None);
    }
}
