//! Conversions between Lua values and context [`Value`]s.
//!
//! Integers stay integers and floats stay floats. A Lua table becomes an array
//! when its keys are exactly `1..n`, a map when every key is a string (an empty
//! table becomes an empty map; keys are sorted, as Lua has no key order). Functions, threads, foreign userdata,
//! non-finite floats, invalid UTF-8 and mixed-key tables have no [`Value`]
//! form and are errors that say where in the value they were found.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use eventchains_core::{Map, Value};
use mlua::{Lua, Table};

use crate::value_size::{CONTAINER_BYTES, SCALAR_BYTES, string_size};

/// Tables nested deeper than this are rejected (this also catches cycles).
pub(crate) const MAX_DEPTH: usize = 64;

/// A Lua value that has no context [`Value`] form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConvertError {
    /// Where inside the converted value, e.g. `items[2].price` (empty: the value itself).
    pub(crate) path: String,
    /// What is wrong.
    pub(crate) message: String,
    /// The value is over the byte budget of the conversion (a limit, not a type error).
    pub(crate) too_big: bool,
}

impl ConvertError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConvertError { path: String::new(), message: message.into(), too_big: false }
    }

    /// The value is larger than the bytes the conversion may still produce.
    pub(crate) fn too_big() -> Self {
        ConvertError { too_big: true, ..ConvertError::new("value too large for the context memory budget") }
    }

    /// The value nests containers deeper than [`MAX_DEPTH`].
    pub(crate) fn too_deep() -> Self {
        ConvertError::new(format!("tables nested deeper than {MAX_DEPTH} (a cycle?)"))
    }

    /// Prefixes the path with a map key or array index.
    fn inside(mut self, segment: &Segment<'_>) -> Self {
        let seg = match segment {
            Segment::Key(k) => k.to_string(),
            Segment::Index(i) => format!("[{i}]"),
        };
        self.path = match (self.path.is_empty(), self.path.starts_with('[')) {
            (true, _) => seg,
            (false, true) => format!("{seg}{}", self.path),
            (false, false) => format!("{seg}.{}", self.path),
        };
        self
    }

    /// The message with `base` (e.g. `ctx.order`) and the inner path in front.
    pub(crate) fn at(&self, base: &str) -> String {
        let sep = if self.path.starts_with('[') || self.path.is_empty() || base.is_empty() { "" } else { "." };
        let full = format!("{base}{sep}{}", self.path);
        if full.is_empty() { self.message.clone() } else { format!("{full}: {}", self.message) }
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.at(""))
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(i64),
}

/// Resolves one of our context proxies (a userdata, or the root `ctx`, a
/// light userdata) to a copy of the value it points at.
pub(crate) type ProxyResolver<'a> = &'a dyn Fn(&mlua::Value) -> Option<Result<Value, String>>;

/// Resolves one of our context proxies to a copy of the value it points at,
/// within caps: at most `max_depth` nested containers, and the bytes left in
/// `bytes` (which it lowers by what it copied).
pub(crate) type CappedResolver<'a> =
    &'a dyn Fn(&mlua::Value, usize, &Cell<usize>) -> Option<Result<Value, ConvertError>>;

/// Converts a Lua value to a context [`Value`].
pub(crate) fn lua_to_value(value: &mlua::Value, proxies: ProxyResolver<'_>) -> Result<Value, ConvertError> {
    let resolver = |v: &mlua::Value, _: usize, _: &Cell<usize>| proxies(v).map(|r| r.map_err(ConvertError::new));
    convert(value, &resolver, 0, &Cell::new(usize::MAX))
}

/// Converts a Lua value that is written `depth` containers deep into the
/// context, producing at most `bytes` bytes (see [`crate::value_size`]);
/// `bytes` is lowered by the size of the result.
pub(crate) fn lua_to_value_capped(
    value: &mlua::Value,
    proxies: CappedResolver<'_>,
    depth: usize,
    bytes: &Cell<usize>,
) -> Result<Value, ConvertError> {
    convert(value, proxies, depth, bytes)
}

/// Copies a value a script hands to the host (the initial context, configs
/// of named parts), within `bytes` (lowered by the size of the copy).
///
/// Every place a table is referenced from is copied and charged again, so a
/// table shared by reference (`local t = {} t = { t, t } ...`, which doubles
/// at every level) costs what its copy would cost, and the work stops as soon
/// as the budget is spent: the work and memory of a conversion are bounded by
/// the budget, whatever the shape of the value.
///
/// A first pass sizes the copy without making it, counting each table once
/// and reusing its size wherever it is referenced again, so a value whose
/// copy would be too large is refused after work proportional to its distinct
/// tables (a ~150-byte script nesting `{ t, t }` 40 levels deep is refused at
/// once instead of after copying the budget).
pub(crate) fn script_table_to_value(value: &mlua::Value, bytes: &Cell<usize>) -> Result<Value, ConvertError> {
    copy_size(value, 0, bytes.get(), &mut HashMap::new())?;
    convert(value, &|_, _, _| None, 0, bytes)
}

/// The bytes [`convert`] would charge for `value` (at most `max`, else an
/// error); `sizes` remembers the size of each table already measured.
fn copy_size(
    value: &mlua::Value,
    depth: usize,
    max: usize,
    sizes: &mut HashMap<usize, usize>,
) -> Result<usize, ConvertError> {
    let size = match value {
        mlua::Value::String(s) => string_size(s.as_bytes().len()),
        mlua::Value::Table(t) => {
            let id = t.to_pointer() as usize;
            if let Some(size) = sizes.get(&id) {
                return if *size > max { Err(ConvertError::too_big()) } else { Ok(*size) };
            }
            if depth >= MAX_DEPTH {
                return Err(ConvertError::too_deep());
            }
            let mut size = CONTAINER_BYTES;
            let mut failure = None;
            t.for_each(|k: mlua::Value, v: mlua::Value| {
                let key = match &k {
                    mlua::Value::String(s) => string_size(s.as_bytes().len()),
                    _ => 0,
                };
                match copy_size(&v, depth + 1, max.saturating_sub(size.saturating_add(key)), sizes) {
                    Ok(item) => size = size.saturating_add(key).saturating_add(item),
                    Err(e) => failure = Some(e),
                }
                if failure.is_none() && size > max {
                    failure = Some(ConvertError::too_big());
                }
                // Stop iterating at the first failure.
                match &failure {
                    Some(_) => Err(mlua::Error::runtime("stop")),
                    None => Ok(()),
                }
            })
            .or_else(|e| if failure.is_some() { Ok(()) } else { Err(ConvertError::new(e.to_string())) })?;
            if let Some(e) = failure {
                return Err(e);
            }
            sizes.insert(id, size);
            size
        }
        mlua::Value::UserData(_) | mlua::Value::LightUserData(_) => 0,
        _ => SCALAR_BYTES,
    };
    if size > max { Err(ConvertError::too_big()) } else { Ok(size) }
}

fn charge(bytes: &Cell<usize>, size: usize) -> Result<(), ConvertError> {
    match bytes.get().checked_sub(size) {
        Some(left) => {
            bytes.set(left);
            Ok(())
        }
        None => Err(ConvertError::too_big()),
    }
}

fn convert(
    value: &mlua::Value,
    proxies: CappedResolver<'_>,
    depth: usize,
    bytes: &Cell<usize>,
) -> Result<Value, ConvertError> {
    match value {
        mlua::Value::String(s) => charge(bytes, string_size(s.as_bytes().len()))?,
        mlua::Value::Table(_) | mlua::Value::UserData(_) | mlua::Value::LightUserData(_) => {}
        _ => charge(bytes, SCALAR_BYTES)?,
    }
    Ok(match value {
        mlua::Value::Nil => Value::Nil,
        mlua::Value::Boolean(b) => Value::Bool(*b),
        mlua::Value::Integer(i) => Value::Int(*i),
        mlua::Value::Number(f) if f.is_finite() => Value::Float(*f),
        mlua::Value::Number(f) => return Err(ConvertError::new(format!("{f} has no context value (not finite)"))),
        mlua::Value::String(s) => match s.to_str() {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => return Err(ConvertError::new("string is not valid UTF-8")),
        },
        mlua::Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return Err(ConvertError::too_deep());
            }
            charge(bytes, CONTAINER_BYTES)?;
            table_to_value(t, proxies, depth + 1, bytes)?
        }
        mlua::Value::UserData(_) | mlua::Value::LightUserData(_) => {
            match proxies(value, MAX_DEPTH.saturating_sub(depth), bytes) {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(e),
                None => return Err(ConvertError::new("userdata has no context value")),
            }
        }
        other => return Err(ConvertError::new(format!("a {} has no context value", other.type_name()))),
    })
}

fn table_to_value(
    table: &Table,
    proxies: CappedResolver<'_>,
    depth: usize,
    bytes: &Cell<usize>,
) -> Result<Value, ConvertError> {
    let len = table.raw_len();
    if len > 0 {
        // A sequence 1..n, unless other keys exist as well.
        let mut array = Vec::with_capacity(len);
        for i in 1..=len {
            let item: mlua::Value = table.raw_get(i).map_err(|e| ConvertError::new(e.to_string()))?;
            let index = i64::try_from(i).unwrap_or(i64::MAX);
            array.push(convert(&item, proxies, depth, bytes).map_err(|e| e.inside(&Segment::Index(index)))?);
        }
        let mut extra = None;
        table
            .for_each(|k: mlua::Value, _: mlua::Value| {
                let in_sequence =
                    matches!(k, mlua::Value::Integer(i) if i >= 1 && usize::try_from(i).is_ok_and(|i| i <= len));
                if !in_sequence && extra.is_none() {
                    extra = Some(describe_key(&k));
                }
                Ok(())
            })
            .map_err(|e| ConvertError::new(e.to_string()))?;
        return match extra {
            None => Ok(Value::Array(array)),
            Some(key) => Err(ConvertError::new(format!(
                "table mixes a list (1..{len}) with the key {key}; use either a list or string keys"
            ))),
        };
    }
    let mut map = Map::new();
    let mut failure = None;
    table
        .for_each(|k: mlua::Value, v: mlua::Value| {
            if failure.is_some() {
                return Ok(());
            }
            match &k {
                mlua::Value::String(s) => match s.to_str() {
                    Ok(key) => {
                        match charge(bytes, string_size(key.len())).and_then(|()| convert(&v, proxies, depth, bytes)) {
                            Ok(value) => {
                                map.insert(key.to_owned(), value);
                            }
                            Err(e) => failure = Some(e.inside(&Segment::Key(&key))),
                        }
                    }
                    Err(_) => failure = Some(ConvertError::new("a key is not valid UTF-8")),
                },
                other => {
                    failure = Some(ConvertError::new(format!(
                        "table has the key {} besides string keys; use either a list or string keys",
                        describe_key(other)
                    )))
                }
            }
            Ok(())
        })
        .map_err(|e| ConvertError::new(e.to_string()))?;
    match failure {
        Some(e) => Err(e),
        None => {
            // Lua's iteration order depends on a per-process hash seed: sort for stable output.
            map.sort_unstable_keys();
            Ok(Value::Map(map))
        }
    }
}

fn describe_key(key: &mlua::Value) -> String {
    match key {
        mlua::Value::String(s) => format!("`{}`", s.to_string_lossy()),
        mlua::Value::Integer(i) => format!("[{i}]"),
        mlua::Value::Number(n) => format!("[{n}]"),
        other => format!("of type {}", other.type_name()),
    }
}

/// Converts a scalar [`Value`] to Lua; `None` for arrays and maps (which the
/// caller exposes as proxies or copies).
#[inline]
pub(crate) fn scalar_to_lua(lua: &Lua, value: &Value) -> mlua::Result<Option<mlua::Value>> {
    Ok(Some(match value {
        Value::Nil => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Int(i) => mlua::Value::Integer(*i),
        Value::Float(f) => mlua::Value::Number(*f),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(_) | Value::Map(_) => return Ok(None),
    }))
}

/// Converts any [`Value`] to a plain Lua value (maps and arrays become new tables).
#[cfg(test)]
pub(crate) fn value_to_lua(lua: &Lua, value: &Value) -> mlua::Result<mlua::Value> {
    if let Some(v) = scalar_to_lua(lua, value)? {
        return Ok(v);
    }
    match value {
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, value_to_lua(lua, item)?)?;
            }
            Ok(mlua::Value::Table(t))
        }
        Value::Map(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), value_to_lua(lua, v)?)?;
            }
            Ok(mlua::Value::Table(t))
        }
        _ => Ok(mlua::Value::Nil),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_proxies(_: &mlua::Value) -> Option<Result<Value, String>> {
        None
    }

    fn eval(lua: &Lua, src: &str) -> Result<Value, ConvertError> {
        let v: mlua::Value = lua.load(src).eval().expect("valid lua");
        lua_to_value(&v, &no_proxies)
    }

    #[test]
    fn numbers_keep_their_kind_and_tables_pick_array_or_map() {
        let lua = Lua::new();
        assert_eq!(eval(&lua, "3").unwrap(), Value::Int(3));
        // LuaJIT has no integer subtype: an integral float comes back as an integer.
        let three = if cfg!(any(feature = "luajit", feature = "luau")) { Value::Int(3) } else { Value::Float(3.0) };
        assert_eq!(eval(&lua, "3.0").unwrap(), three);
        assert_eq!(eval(&lua, "{1, 'a', true}").unwrap(), Value::from(vec![Value::Int(1), "a".into(), true.into()]));
        let map = eval(&lua, "{ b = 1, a = { 2.5 } }").unwrap();
        assert_eq!(map.as_map().and_then(|m| m.get("a")), Some(&Value::from(vec![2.5])));
        assert_eq!(eval(&lua, "{}").unwrap(), Value::Map(Map::default()));
    }

    #[test]
    fn values_without_a_context_form_are_errors_with_a_path() {
        let lua = Lua::new();
        assert_eq!(
            eval(&lua, "{ a = { b = { print } } }").unwrap_err().to_string(),
            "a.b[1]: a function has no context value"
        );
        assert_eq!(eval(&lua, "0/0").unwrap_err().message, "NaN has no context value (not finite)");
        assert!(eval(&lua, "{ 1, 2, x = 3 }").unwrap_err().message.contains("mixes a list (1..2) with the key `x`"));
        assert!(eval(&lua, "{ [5] = 1 }").unwrap_err().message.contains("the key [5]"));
        assert_eq!(eval(&lua, "'\\255'").unwrap_err().message, "string is not valid UTF-8");
        let cyclic = eval(&lua, "local t = {} t.t = t return t").unwrap_err();
        assert!(cyclic.message.contains("a cycle?"), "{cyclic}");
    }

    #[test]
    fn round_trip_through_plain_tables() {
        let lua = Lua::new();
        let v = Value::from_json(serde_json::json!({"a": [1, 2.5, "x", null], "m": {"k": false}}));
        let back = lua_to_value(&value_to_lua(&lua, &v).unwrap(), &no_proxies).unwrap();
        // A nil inside an array ends a Lua sequence: the array shortens.
        assert_eq!(back.to_json(), serde_json::json!({"a": [1, 2.5, "x"], "m": {"k": false}}));
    }
}
