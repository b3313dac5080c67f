//! `ctx` in Lua: a userdata proxy that reads and writes the chain's
//! [`EventContext`](eventchains_core::EventContext) values in place.
//!
//! `ctx.key` reads a value: scalars are converted (integers stay integers),
//! nested maps and arrays come back as proxies of their *path*, so
//! `ctx.order.items[1].qty = 2` edits the context itself and later events
//! (Rust or Lua) see it. `ctx.key = v` converts `v` and stores it; `nil`
//! removes the key. `#`, `pairs` and `ipairs` work on proxies, `tostring`
//! gives JSON. Extensions are not reachable.
//!
//! The root `ctx` is one light userdata per VM (see [`crate::fast_ctx`]),
//! bound to whichever call is running; nested proxies are full userdata bound
//! to the call that created them. Using either after
//! that call is over is a Lua error, never a dangling pointer.

use std::cell::Cell;
use std::rc::Rc;

use eventchains_core::{EventContext, Map, Value};
use mlua::{Function, Lua, MetaMethod, UserData, UserDataMethods};

use crate::bridge::{Binding, Bridge};
use crate::convert::{ConvertError, lua_to_value, lua_to_value_capped, scalar_to_lua};
use crate::value_size::{Exceeded, SCALAR_BYTES, measure, measure_map, size_of, string_size};

/// One step of a path into the context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A map key.
    Key(String),
    /// A 0-based array index.
    Index(usize),
}

/// The `ctx` userdata (root when `path` is empty).
pub(crate) struct CtxProxy {
    bridge: Rc<Bridge>,
    binding: Binding,
    path: Vec<Seg>,
}

/// A key as a proxy understands it.
enum Key<'a> {
    Str(&'a str),
    /// 1-based, as written in Lua.
    Int(i64),
    Other(&'static str),
}

/// What a read found.
enum Found {
    Lua(mlua::Value),
    Nested(Seg),
}

/// The container a path leads to.
enum Target<'a> {
    Root(&'a mut Map),
    Nested(&'a mut Value),
}

impl CtxProxy {
    /// The root proxy of a VM.
    pub(crate) fn root(bridge: Rc<Bridge>) -> Self {
        CtxProxy { bridge, binding: Binding::Current, path: Vec::new() }
    }

    /// Another root proxy on the same bridge.
    pub(crate) fn clone_root(&self) -> Self {
        CtxProxy::root(self.bridge.clone())
    }

    /// `ctx.order.items[1]` style name of this proxy's path.
    fn describe(&self) -> String {
        describe_path(&self.path)
    }

    fn with_target<R>(&self, f: impl FnOnce(Target<'_>) -> Result<R, String>) -> mlua::Result<R> {
        let result = self.bridge.with_ctx(self.binding, |ctx| match resolve(ctx, &self.path) {
            Some(target) => f(target),
            None => Err(format!("{} no longer exists or is no longer a table", self.describe())),
        });
        result.and_then(|r| r).map_err(mlua::Error::runtime)
    }

    pub(crate) fn index(&self, lua: &Lua, key: mlua::Value) -> mlua::Result<mlua::Value> {
        with_key(&key, |key| self.index_key(lua, key))
    }

    fn index_key(&self, lua: &Lua, key: Key<'_>) -> mlua::Result<mlua::Value> {
        // A Lua error (out of memory creating a string) is passed on as is, so
        // that it keeps its kind.
        let mut lua_error = None;
        let found = self.with_target(|target| {
            let value = match (&target, &key) {
                (Target::Root(map), Key::Str(k)) => map.get(*k),
                (Target::Nested(Value::Map(map)), Key::Str(k)) => map.get(*k),
                (Target::Nested(Value::Array(items)), Key::Int(i)) => {
                    usize::try_from(*i).ok().and_then(|i| i.checked_sub(1)).and_then(|i| items.get(i))
                }
                _ => None,
            };
            let Some(value) = value else { return Ok(Found::Lua(mlua::Value::Nil)) };
            let converted = scalar_to_lua(lua, value).map_err(|e| {
                let message = e.to_string();
                lua_error = Some(e);
                message
            })?;
            match converted {
                Some(v) => Ok(Found::Lua(v)),
                None => Ok(Found::Nested(match key {
                    Key::Str(k) => Seg::Key(k.to_owned()),
                    Key::Int(i) => Seg::Index(usize::try_from(i - 1).unwrap_or_default()),
                    Key::Other(_) => return Ok(Found::Lua(mlua::Value::Nil)),
                })),
            }
        });
        let found = match (found, lua_error) {
            (_, Some(e)) => return Err(e),
            (found, None) => found?,
        };
        match found {
            Found::Lua(v) => Ok(v),
            Found::Nested(seg) => self.child(lua, seg),
        }
    }

    fn child(&self, lua: &Lua, seg: Seg) -> mlua::Result<mlua::Value> {
        let frame = self.bridge.current_frame().ok_or_else(|| mlua::Error::runtime("ctx used outside of a call"))?;
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend_from_slice(&self.path);
        path.push(seg);
        let proxy = CtxProxy { bridge: self.bridge.clone(), binding: Binding::Frame(frame), path };
        lua.create_userdata(proxy).map(mlua::Value::UserData)
    }

    pub(crate) fn new_index(&self, key: mlua::Value, value: mlua::Value) -> mlua::Result<()> {
        with_key(&key, |key| self.new_index_key(&key, &value))
    }

    fn new_index_key(&self, key: &Key<'_>, value: &mlua::Value) -> mlua::Result<()> {
        // Strings and scalars are stored inside the borrow (reusing the old
        // string's buffer); tables and proxies are converted first. What the
        // call adds to the context counts against the memory cap (the Lua
        // VM's own limit does not see Rust memory).
        let budget = Cell::new(self.bridge.ctx_budget());
        let converted = match value {
            mlua::Value::Table(_) | mlua::Value::UserData(_) | mlua::Value::LightUserData(_) => {
                let resolver =
                    |v: &mlua::Value, depth: usize, bytes: &Cell<usize>| self.resolve_capped(v, depth, bytes);
                let at = format!("{}{}", self.describe(), key_suffix(key));
                let converted = lua_to_value_capped(value, &resolver, self.path.len(), &budget);
                Some(converted.map_err(|e| self.convert_error(&e, &at))?)
            }
            _ => None,
        };
        let value_size = match (value, &converted) {
            (_, Some(_)) => self.bridge.ctx_budget() - budget.get(),
            (mlua::Value::String(s), None) => string_size(s.as_bytes().len()),
            _ => SCALAR_BYTES,
        };
        // A map key counts too (`store_in_map` gives it back when it replaces an entry).
        let size = match key {
            Key::Str(k) => value_size.saturating_add(string_size(k.len())),
            _ => value_size,
        };
        if size > self.bridge.ctx_budget() {
            return Err(self.bridge.ctx_memory_exceeded());
        }
        let lua_str;
        let incoming = match (value, converted) {
            (_, Some(v)) => Incoming::Value(v),
            (mlua::Value::String(s), None) => match s.to_str() {
                Ok(text) => {
                    lua_str = text;
                    Incoming::Str(&lua_str)
                }
                Err(_) => {
                    return Err(mlua::Error::runtime(format!(
                        "{}{}: string is not valid UTF-8",
                        self.describe(),
                        key_suffix(key)
                    )));
                }
            },
            (other, None) => {
                let at = format!("{}{}", self.describe(), key_suffix(key));
                Incoming::Value(lua_to_value(other, &|_| None).map_err(|e| mlua::Error::runtime(e.at(&at)))?)
            }
        };
        let name = self.describe();
        let replaced = self.with_target(|target| store(target, key, incoming, &name))?;
        self.bridge.record_ctx_write(replaced, size);
        Ok(())
    }

    /// The Lua error for a value that cannot be written at `at`.
    fn convert_error(&self, e: &ConvertError, at: &str) -> mlua::Error {
        if e.too_big { self.bridge.ctx_memory_exceeded() } else { mlua::Error::runtime(e.at(at)) }
    }

    pub(crate) fn len(&self) -> mlua::Result<usize> {
        self.with_target(|target| {
            Ok(match target {
                Target::Nested(Value::Array(items)) => items.len(),
                _ => 0,
            })
        })
    }

    pub(crate) fn to_json(&self) -> mlua::Result<String> {
        self.with_target(|target| {
            Ok(match target {
                Target::Root(map) => Value::Map(map.clone()).to_string(),
                Target::Nested(v) => v.to_string(),
            })
        })
    }

    /// The `i`-th entry (0-based) for `pairs`: a key (or 1-based index) and its value.
    fn entry(&self, lua: &Lua, i: usize) -> mlua::Result<Option<(mlua::Value, mlua::Value)>> {
        let key = self.with_target(|target| {
            Ok(match target {
                Target::Root(map) | Target::Nested(Value::Map(map)) => {
                    map.get_index(i).map(|(k, _)| Seg::Key(k.clone()))
                }
                Target::Nested(Value::Array(items)) => (i < items.len()).then_some(Seg::Index(i)),
                Target::Nested(_) => None,
            })
        })?;
        let Some(seg) = key else { return Ok(None) };
        let (k, lua_key) = match &seg {
            Seg::Key(k) => (mlua::Value::String(lua.create_string(k)?), mlua::Value::String(lua.create_string(k)?)),
            Seg::Index(i) => {
                let n = i64::try_from(*i + 1).unwrap_or(i64::MAX);
                (mlua::Value::Integer(n), mlua::Value::Integer(n))
            }
        };
        let value = self.index(lua, lua_key)?;
        Ok(Some((k, value)))
    }
}

enum Incoming<'a> {
    Str(&'a str),
    Value(Value),
}

impl Incoming<'_> {
    fn into_value(self) -> Value {
        match self {
            Incoming::Str(s) => Value::String(s.to_owned()),
            Incoming::Value(v) => v,
        }
    }
    fn is_nil(&self) -> bool {
        matches!(self, Incoming::Value(Value::Nil))
    }
}

/// Writes `incoming` at `key` of `target`; returns the size of the value it replaced.
fn store(target: Target<'_>, key: &Key<'_>, incoming: Incoming<'_>, name: &str) -> Result<usize, String> {
    match target {
        Target::Root(map) => match key {
            Key::Str(k) => Ok(store_in_map(map, k, incoming)),
            Key::Int(_) | Key::Other(_) => Err(format!("{name}: keys of ctx are strings")),
        },
        Target::Nested(slot) => {
            // An empty map or array takes either kind of key (Lua's `{}` is both).
            match (&*slot, key) {
                (Value::Map(m), Key::Int(1)) if m.is_empty() => *slot = Value::Array(Vec::new()),
                (Value::Array(a), Key::Str(_)) if a.is_empty() => *slot = Value::Map(Map::default()),
                _ => {}
            }
            match (slot, key) {
                (Value::Map(map), Key::Str(k)) => Ok(store_in_map(map, k, incoming)),
                (Value::Array(items), Key::Int(i)) => store_in_array(items, *i, incoming, name),
                (Value::Map(_), _) => Err(format!("{name}: this map has string keys")),
                (Value::Array(_), _) => Err(format!("{name}: this array takes integer keys 1..n+1")),
                (other, _) => Err(format!("{name} is a {}, not a table", other.type_name())),
            }
        }
    }
}

fn store_in_map(map: &mut Map, key: &str, incoming: Incoming<'_>) -> usize {
    if incoming.is_nil() {
        return map.shift_remove(key).map_or(0, |old| size_of(&old) + string_size(key.len()));
    }
    match (map.get_mut(key), incoming) {
        (Some(Value::String(old)), Incoming::Str(s)) => {
            let replaced = string_size(old.len()) + string_size(key.len());
            old.clear();
            old.push_str(s);
            replaced
        }
        (Some(slot), incoming) => size_of(&std::mem::replace(slot, incoming.into_value())) + string_size(key.len()),
        (None, incoming) => {
            map.insert(key.to_owned(), incoming.into_value());
            0
        }
    }
}

fn store_in_array(items: &mut Vec<Value>, index: i64, incoming: Incoming<'_>, name: &str) -> Result<usize, String> {
    let len = items.len();
    let Some(i) = usize::try_from(index).ok().and_then(|i| i.checked_sub(1)).filter(|i| *i <= len) else {
        return Err(format!("{name}[{index}]: index out of range (the array has {len} items; append at {})", len + 1));
    };
    let nil = incoming.is_nil();
    Ok(match (i == len, nil) {
        (true, true) => 0,
        (true, false) => {
            items.push(incoming.into_value());
            0
        }
        (false, true) if i + 1 == len => items.pop().map_or(0, |old| size_of(&old)),
        (false, _) => size_of(&std::mem::replace(&mut items[i], incoming.into_value())),
    })
}

fn with_key<R>(key: &mlua::Value, f: impl FnOnce(Key<'_>) -> mlua::Result<R>) -> mlua::Result<R> {
    match key {
        mlua::Value::String(s) => {
            f(Key::Str(&s.to_str().map_err(|_| mlua::Error::runtime("a key of ctx is not valid UTF-8"))?))
        }
        other => f(key_of(other)),
    }
}

fn key_of(value: &mlua::Value) -> Key<'static> {
    match value {
        mlua::Value::Integer(i) => Key::Int(*i),
        mlua::Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Key::Int(*n as i64),
        other => Key::Other(other.type_name()),
    }
}

fn key_suffix(key: &Key<'_>) -> String {
    match key {
        Key::Str(k) => format!(".{k}"),
        Key::Int(i) => format!("[{i}]"),
        Key::Other(t) => format!("[<{t}>]"),
    }
}

fn describe_path(path: &[Seg]) -> String {
    let mut out = String::from("ctx");
    for seg in path {
        match seg {
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{}]", i + 1)),
        }
    }
    out
}

fn resolve<'a>(ctx: &'a mut EventContext, path: &[Seg]) -> Option<Target<'a>> {
    let Some((first, rest)) = path.split_first() else { return Some(Target::Root(ctx.values_mut())) };
    let Seg::Key(k) = first else { return None };
    let mut value = ctx.value_mut(k)?;
    for seg in rest {
        value = match (value, seg) {
            (Value::Map(m), Seg::Key(k)) => m.get_mut(k)?,
            (Value::Array(a), Seg::Index(i)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    matches!(value, Value::Map(_) | Value::Array(_)).then_some(Target::Nested(value))
}

impl CtxProxy {
    /// Resolves a proxy value met while converting (the root `ctx`, the VM's
    /// only light userdata, or a nested proxy) to a copy of the value it
    /// points at, if it nests at most `max_depth` containers and fits in
    /// `bytes` (lowered by its size). Measured before copying, so a huge
    /// value is never copied. `None` if `value` is not a proxy.
    pub(crate) fn resolve_capped(
        &self,
        value: &mlua::Value,
        max_depth: usize,
        bytes: &Cell<usize>,
    ) -> Option<Result<Value, ConvertError>> {
        match value {
            mlua::Value::LightUserData(_) => Some(CtxProxy::root(self.bridge.clone()).copy_capped(max_depth, bytes)),
            mlua::Value::UserData(ud) => Some(ud.borrow::<CtxProxy>().ok()?.copy_capped(max_depth, bytes)),
            _ => None,
        }
    }

    /// A copy of the value this proxy points at, within the caps.
    fn copy_capped(&self, max_depth: usize, bytes: &Cell<usize>) -> Result<Value, ConvertError> {
        let copied = self.with_target(|target| {
            let measured = match &target {
                Target::Root(map) => measure_map(map, max_depth, bytes.get()),
                Target::Nested(v) => measure(v, max_depth, bytes.get()),
            };
            Ok(measured.map(|size| {
                bytes.set(bytes.get() - size);
                match target {
                    Target::Root(map) => Value::Map(map.clone()),
                    Target::Nested(v) => v.clone(),
                }
            }))
        });
        match copied {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(Exceeded::Depth)) => Err(ConvertError::too_deep()),
            Ok(Err(Exceeded::Bytes)) => Err(ConvertError::too_big()),
            Err(e) => Err(ConvertError::new(e.to_string())),
        }
    }

    /// The iterator `pairs(proxy)` returns.
    pub(crate) fn pairs(&self, lua: &Lua) -> mlua::Result<(Function, mlua::Value, mlua::Value)> {
        let proxy = CtxProxy { bridge: self.bridge.clone(), binding: self.binding, path: self.path.clone() };
        let position = std::cell::Cell::new(0usize);
        let iter = lua.create_function(move |lua, _: mlua::MultiValue| {
            let i = position.get();
            position.set(i + 1);
            match proxy.entry(lua, i)? {
                Some((k, v)) => Ok((k, v)),
                None => Ok((mlua::Value::Nil, mlua::Value::Nil)),
            }
        })?;
        Ok((iter, mlua::Value::Nil, mlua::Value::Nil))
    }
}

impl UserData for CtxProxy {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::Index, |lua, this, key: mlua::Value| this.index(lua, key));
        methods.add_meta_method(MetaMethod::NewIndex, |_, this, (key, value): (mlua::Value, mlua::Value)| {
            this.new_index(key, value)
        });
        methods.add_meta_method(MetaMethod::Len, |_, this, ()| this.len());
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| this.to_json());
        #[cfg(not(feature = "luau"))]
        methods.add_meta_method(MetaMethod::Pairs, |lua, this, ()| this.pairs(lua));
        // Luau has no `__pairs`: `__iter` serves `for k, v in proxy do`, and
        // `pairs`/`ipairs` are replaced (see `install_luau_iteration`).
        #[cfg(feature = "luau")]
        methods.add_meta_method(MetaMethod::Iter, |lua, this, ()| this.pairs(lua));
        // LuaJIT's `ipairs` does not go through `__index`; on an array proxy `pairs` yields 1..n in order.
        #[cfg(feature = "luajit")]
        methods.add_meta_method(MetaMethod::IPairs, |lua, this, ()| this.pairs(lua));
    }
}

/// Luau's `pairs` and `ipairs` accept only tables (it has no `__pairs` or
/// `__ipairs`): these replacements give `ctx` and its nested views their
/// iterator (in order; on an array view that is 1..n) and pass anything else
/// to the original function.
#[cfg(feature = "luau")]
pub(crate) fn install_luau_iteration(lua: &Lua, bridge: &Rc<Bridge>) -> mlua::Result<()> {
    use mlua::IntoLuaMulti;
    let globals = lua.globals();
    for name in ["pairs", "ipairs"] {
        let original: Function = globals.get(name)?;
        let root = CtxProxy::root(bridge.clone());
        let replacement = lua.create_function(move |lua, args: mlua::MultiValue| match args.front() {
            // Scripts cannot create light userdata: the only one they see is the root `ctx`.
            Some(mlua::Value::LightUserData(_)) => root.pairs(lua)?.into_lua_multi(lua),
            Some(mlua::Value::UserData(ud)) if ud.is::<CtxProxy>() => {
                ud.borrow::<CtxProxy>()?.pairs(lua)?.into_lua_multi(lua)
            }
            _ => original.call::<mlua::MultiValue>(args),
        })?;
        globals.raw_set(name, replacement)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_lua() {
        assert_eq!(
            describe_path(&[Seg::Key("order".into()), Seg::Key("items".into()), Seg::Index(0)]),
            "ctx.order.items[1]"
        );
        assert_eq!(describe_path(&[]), "ctx");
    }

    #[test]
    fn arrays_append_pop_and_refuse_gaps() {
        let mut items = vec![Value::Int(1)];
        store_in_array(&mut items, 2, Incoming::Value(Value::Int(2)), "ctx.a").expect("append");
        store_in_array(&mut items, 2, Incoming::Value(Value::Nil), "ctx.a").expect("pop");
        assert_eq!(items, vec![Value::Int(1)]);
        let err = store_in_array(&mut items, 5, Incoming::Value(Value::Int(5)), "ctx.a").unwrap_err();
        assert_eq!(err, "ctx.a[5]: index out of range (the array has 1 items; append at 2)");
    }

    #[test]
    fn strings_reuse_the_old_buffer() {
        let mut map = Map::default();
        map.insert("s".into(), Value::String(String::with_capacity(64)));
        store_in_map(&mut map, "s", Incoming::Str("abc"));
        assert!(matches!(map.get("s"), Some(Value::String(s)) if s == "abc" && s.capacity() >= 64));
        store_in_map(&mut map, "s", Incoming::Value(Value::Nil));
        assert!(map.is_empty());
    }
}
