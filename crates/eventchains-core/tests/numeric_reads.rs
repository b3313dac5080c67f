//! Property test of every numeric `FromValue` target against a reference
//! written independently of the implementation: an integer target accepts an
//! integer or an integral float in `[MIN, MAX]` (compared as floats against
//! the exact powers of two that bound the type), `f64` accepts every number,
//! `f32` every number within `±f32::MAX` plus the non-finite floats.

use eventchains_core::{FromValue, Value};
use proptest::prelude::*;

/// Numbers near every boundary that matters, plus arbitrary ones.
fn number() -> impl Strategy<Value = Value> {
    let pow2 = (0i32..=130, any::<bool>(), -2i64..=2).prop_map(|(exp, neg, nudge)| {
        let base = 2f64.powi(exp);
        let f = if neg { -base } else { base };
        // Step by whole units near small powers, by ulps near large ones.
        if exp < 52 { f + nudge as f64 } else { f64::from_bits((f.to_bits() as i64 + nudge) as u64) }
    });
    let near_f32_max = (-4i64..=4, any::<bool>()).prop_map(|(ulps, neg)| {
        let f = f64::from_bits((f64::from(f32::MAX).to_bits() as i64 + ulps * (1 << 28)) as u64);
        if neg { -f } else { f }
    });
    prop_oneof![
        any::<i64>().prop_map(Value::Int),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), -300i64..300].prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        pow2.prop_map(Value::Float),
        near_f32_max.prop_map(Value::Float),
        (-1e6f64..1e6).prop_map(Value::Float),
        prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0)].prop_map(Value::Float),
    ]
}

/// The reference rule for an integer type bounded by `[lo, hi)` (`hi` = MAX + 1,
/// a power of two, so both bounds are exact floats).
fn reference_int(value: &Value, lo: f64, hi: f64) -> Option<f64> {
    let f = match value {
        Value::Int(i) => {
            // Compare integers exactly through i128, not through rounding floats.
            let i = i128::from(*i);
            return (i128_ge(i, lo) && i128_lt(i, hi)).then_some(i as f64);
        }
        Value::Float(f) => *f,
        _ => return None,
    };
    (f.is_finite() && f.trunc() == f && f >= lo && f < hi).then_some(f)
}

fn i128_ge(i: i128, bound: f64) -> bool {
    // `bound` is 0 or -2^k with k <= 63: exactly an i128.
    i >= bound as i128
}

fn i128_lt(i: i128, bound: f64) -> bool {
    // `bound` is 2^k with k <= 64: exactly an i128.
    i < bound as i128
}

macro_rules! check_int_types {
    ($value:expr, $($t:ty => ($lo:expr, $hi:expr)),* $(,)?) => {$(
        let got = <$t>::from_value($value);
        let want = reference_int($value, $lo, $hi);
        prop_assert_eq!(got.is_some(), want.is_some(), "{} from {:?}", stringify!($t), $value);
        if let (Some(got), Value::Int(i)) = (got, $value) {
            prop_assert_eq!(got as i128, i128::from(*i));
        }
        if let (Some(got), Value::Float(f)) = (got, $value) {
            prop_assert_eq!(got as f64, *f);
        }
        let integral = match $value {
            Value::Int(_) => true,
            Value::Float(f) => f.is_finite() && f.fract() == 0.0,
            _ => false,
        };
        prop_assert_eq!(<$t>::out_of_range($value).is_some(), integral && got.is_none(), "{}", stringify!($t));
    )*};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn every_numeric_target_follows_one_rule(value in number()) {
        let v = &value;
        let p = |n: i32| 2f64.powi(n);
        check_int_types!(v,
            i8 => (-p(7), p(7)), i16 => (-p(15), p(15)), i32 => (-p(31), p(31)), i64 => (-p(63), p(63)),
            isize => (-(isize::MAX as f64) - 1.0, isize::MAX as f64 + 1.0),
            u8 => (0.0, p(8)), u16 => (0.0, p(16)), u32 => (0.0, p(32)), u64 => (0.0, p(64)),
            usize => (0.0, usize::MAX as f64 + 1.0),
        );

        let as_float = match v { Value::Int(i) => *i as f64, Value::Float(f) => *f, _ => unreachable!() };
        prop_assert_eq!(f64::from_value(v).map(f64::to_bits), Some(as_float.to_bits()));

        let f32_max = f64::from(f32::MAX);
        let in_range = as_float.is_nan() || as_float.is_infinite() || (-f32_max..=f32_max).contains(&as_float);
        match f32::from_value(v) {
            Some(got) => {
                prop_assert!(in_range, "f32 from {:?} gave {}", v, got);
                prop_assert!(got.is_finite() || !as_float.is_finite(), "finite {} became {}", as_float, got);
                prop_assert!(f32::out_of_range(v).is_none());
            }
            None => {
                prop_assert!(!in_range, "f32 refused {:?}", v);
                prop_assert!(f32::out_of_range(v).is_some());
            }
        }
    }
}

#[test]
fn non_numbers_are_wrong_types_not_out_of_range() {
    for v in [Value::Nil, Value::Bool(true), Value::from("1"), Value::from(vec![1])] {
        assert_eq!(u8::from_value(&v), None);
        assert_eq!(u8::out_of_range(&v), None);
        assert_eq!(f32::from_value(&v), None);
        assert_eq!(f32::out_of_range(&v), None);
    }
}

#[test]
fn boundary_examples() {
    assert_eq!(u64::from_value(&Value::Float(18_446_744_073_709_549_568.0)), Some(18_446_744_073_709_549_568));
    assert_eq!(u64::from_value(&Value::Float(18_446_744_073_709_551_616.0)), None, "2^64");
    assert_eq!(i64::from_value(&Value::Float(-9_223_372_036_854_775_808.0)), Some(i64::MIN));
    assert_eq!(f32::from_value(&Value::Float(1e39)), None);
    assert_eq!(f32::from_value(&Value::Float(f64::INFINITY)), Some(f32::INFINITY));
    assert_eq!(f32::from_value(&Value::Int(i64::MAX)), Some(i64::MAX as f32));
}
