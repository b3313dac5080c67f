//! [`FromValue`]: typed, borrowing reads of a [`Value`].

use crate::value::{Map, Value};

/// A type that can be read from a borrowed [`Value`] without cloning more than
/// itself: `&str`, `&[Value]` and `&Map` borrow, numbers and `bool` copy, and
/// `String` / `Vec<T>` clone only what they return.
///
/// Returns `None` when the value has another type or a number is out of the
/// target's range. Numbers follow one rule for every numeric type: an integer
/// target accepts an integer or a float with an exact integer value, in the
/// target's range (`u8` from `300` or from `2.5` is `None`); `f64` accepts any
/// number; `f32` any number within `±f32::MAX` (beyond it: `None`, not
/// infinity).
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

    /// Reads `Self` from `value`, or `None` if it has another type (or is a
    /// number out of this type's range).
    fn from_value(value: &'a Value) -> Option<Self>;

    /// When [`from_value`](Self::from_value) refused `value` because it is a
    /// number of the right kind but out of this type's range, says so (the
    /// range goes into error messages). `None` otherwise, and by default.
    fn out_of_range(value: &Value) -> Option<OutOfRange> {
        let _ = value;
        None
    }
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

/// A number that does not fit the type asked for, as described by
/// [`FromValue::out_of_range`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// The target type, e.g. `"u8"`.
    pub target: &'static str,
    /// Its range, e.g. `"0..=255"`.
    pub range: String,
}

/// Reads an integer target from an integer, or from a float with an exact
/// integer value, when it lies in the target's range (the float and integer
/// rules are one rule: every number is widened to `i128` exactly).
fn int_from_value<T: TryFrom<i128>>(value: &Value) -> Option<T> {
    T::try_from(exact_integer(value)?).ok()
}

/// The exact integer a number holds: any integer, or a finite float with no
/// fractional part in the `i128` range (every `u64` and `i64` fits).
fn exact_integer(value: &Value) -> Option<i128> {
    // 2^127 is exactly representable; every integral float in [-2^127, 2^127) fits an i128.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    match value {
        Value::Int(i) => Some(i128::from(*i)),
        Value::Float(f) if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(f) => Some(*f as i128),
        _ => None,
    }
}

macro_rules! from_value_int {
    ($($t:ident),*) => {$(
        impl FromValue<'_> for $t {
            const EXPECTED: &'static str = "integer";
            fn from_value(value: &Value) -> Option<Self> {
                int_from_value(value)
            }
            fn out_of_range(value: &Value) -> Option<OutOfRange> {
                let fits = match exact_integer(value) {
                    Some(i) => $t::try_from(i).is_ok(),
                    // An integral float beyond the i128 range fits no integer type.
                    None => !matches!(value, Value::Float(f) if f.is_finite() && f.fract() == 0.0),
                };
                (!fits).then(|| OutOfRange { target: stringify!($t), range: format!("{}..={}", $t::MIN, $t::MAX) })
            }
        }
    )*};
}
from_value_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl FromValue<'_> for f64 {
    const EXPECTED: &'static str = "number";
    /// Any number; an integer beyond 2^53 is rounded to the nearest float.
    fn from_value(value: &Value) -> Option<Self> {
        value.as_f64()
    }
}

impl FromValue<'_> for f32 {
    const EXPECTED: &'static str = "number";
    /// Any number within `±f32::MAX` (rounded to the nearest `f32`), and the
    /// non-finite floats (NaN, ±inf) as themselves; a finite number beyond
    /// `f32::MAX` is out of range (`None`), not infinity.
    fn from_value(value: &Value) -> Option<Self> {
        let f = value.as_f64()?;
        (!f.is_finite() || f.abs() <= f64::from(f32::MAX)).then_some(f as f32)
    }
    fn out_of_range(value: &Value) -> Option<OutOfRange> {
        let f = value.as_f64()?;
        (f.is_finite() && f.abs() > f64::from(f32::MAX))
            .then(|| OutOfRange { target: "f32", range: format!("{:e}..={:e}", f32::MIN, f32::MAX) })
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
    fn out_of_range(value: &Value) -> Option<OutOfRange> {
        T::out_of_range(value)
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
