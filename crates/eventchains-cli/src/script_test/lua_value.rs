//! Plain data between the runner's Lua and the context: [`to_value`] reads a
//! Lua value (test files, host-function arguments), [`Data`] writes one.

use eventchains_core::{Map, Value};
use mlua::{IntoLua, Lua};

/// Tables nested deeper than this are an error (a cycle, most likely).
const MAX_DEPTH: usize = 64;

/// A Lua value as a context value: tables with keys `1..n` are arrays, other
/// tables maps with string keys; functions and other values are errors.
pub fn to_value(value: &mlua::Value) -> Result<Value, String> {
    convert(value, 0)
}

fn convert(value: &mlua::Value, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("tables nested too deep (a cycle?)".to_owned());
    }
    Ok(match value {
        mlua::Value::Nil => Value::Nil,
        mlua::Value::Boolean(b) => Value::Bool(*b),
        mlua::Value::Integer(i) => Value::Int(*i),
        mlua::Value::Number(n) => Value::Float(*n),
        mlua::Value::String(s) => Value::String(s.to_str().map_err(|_| "a string is not UTF-8".to_owned())?.to_owned()),
        mlua::Value::Table(t) => {
            let len = t.raw_len();
            let mut count = 0;
            let mut map = Map::default();
            for pair in t.pairs::<mlua::Value, mlua::Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                count += 1;
                if let mlua::Value::String(s) = &k {
                    let key = s.to_str().map_err(|_| "a key is not UTF-8".to_owned())?.to_owned();
                    map.insert(key, convert(&v, depth + 1)?);
                }
            }
            if len > 0 && count == len {
                let items: Result<Vec<Value>, String> = (1..=len)
                    .map(|i| t.raw_get::<mlua::Value>(i).map_err(|e| e.to_string()))
                    .map(|v| convert(&v?, depth + 1))
                    .collect();
                Value::Array(items?)
            } else if map.len() == count {
                Value::Map(map)
            } else {
                return Err("a table mixes list entries and keys".to_owned());
            }
        }
        other => return Err(format!("a {} is not plain data", other.type_name())),
    })
}

/// A context value handed to Lua (the result of a replaced host function).
pub struct Data(pub Value);

impl IntoLua for Data {
    fn into_lua(self, lua: &Lua) -> mlua::Result<mlua::Value> {
        Ok(match self.0 {
            Value::Nil => mlua::Value::Nil,
            Value::Bool(b) => mlua::Value::Boolean(b),
            Value::Int(i) => mlua::Value::Integer(i),
            Value::Float(f) => mlua::Value::Number(f),
            Value::String(s) => mlua::Value::String(lua.create_string(&s)?),
            Value::Array(items) => {
                let t = lua.create_table_with_capacity(items.len(), 0)?;
                for (i, v) in items.into_iter().enumerate() {
                    t.raw_set(i + 1, Data(v))?;
                }
                mlua::Value::Table(t)
            }
            Value::Map(map) => {
                let t = lua.create_table_with_capacity(0, map.len())?;
                for (k, v) in map {
                    t.raw_set(k, Data(v))?;
                }
                mlua::Value::Table(t)
            }
        })
    }
}
