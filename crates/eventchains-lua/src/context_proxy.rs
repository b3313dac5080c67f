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
use std::ffi::c_void;
use std::rc::Rc;

use eventchains_core::{EventContext, Map, Value};
use mlua::{Function, Lua, MetaMethod, UserData, UserDataMethods};

use crate::bridge::{Binding, Bridge};
use crate::convert::{ConvertError, lua_to_value, lua_to_value_capped, scalar_to_lua};
use crate::value_size::{
    Exceeded, SCALAR_BYTES, measure, measure_map, reuse_buffer, size_of, stored_size, stored_string_size, string_size,
};
use crate::view_handle;
use crate::views::{ElemId, ROOT, Seg, Target, Views};

/// The `ctx` userdata (the root when `elem` is [`ROOT`]).
pub(crate) struct CtxProxy {
    bridge: Rc<Bridge>,
    binding: Binding,
    /// The table this view stands for (see [`crate::views`]).
    elem: ElemId,
}

/// A key as a proxy understands it.
enum Key<'a> {
    Str(&'a str),
    /// 1-based, as written in Lua.
    Int(i64),
    Other(&'static str),
}

impl Key<'_> {
    /// The slot this key names in a container (`None`: no slot of any table).
    fn seg(&self) -> Option<Seg<'_>> {
        match self {
            Key::Str(k) => Some(Seg::Key(k)),
            Key::Int(i) => usize::try_from(*i).ok().and_then(|i| i.checked_sub(1)).map(Seg::Index),
            Key::Other(_) => None,
        }
    }
}

/// What a read found.
enum Found {
    Lua(mlua::Value),
    /// A nested table: the identity of its view, and its userdata if made already.
    Nested(ElemId, Option<mlua::AnyUserData>),
}

/// What a store replaced.
#[derive(Debug)]
struct Replaced {
    /// The size of the replaced value (0 if the slot was new).
    old_size: usize,
    /// The size of what is now stored.
    new_size: usize,
    /// The replaced value, if it was a table (a view of it may live on).
    old_table: Option<Value>,
}

impl CtxProxy {
    /// The root proxy of a VM.
    pub(crate) fn root(bridge: Rc<Bridge>) -> Self {
        CtxProxy { bridge, binding: Binding::Current, elem: ROOT }
    }

    /// Another root proxy on the same bridge.
    pub(crate) fn clone_root(&self) -> Self {
        CtxProxy::root(self.bridge.clone())
    }

    /// Runs `f` on the container this view stands for (in its first location).
    fn with_target<R>(&self, f: impl FnOnce(Target<'_>) -> Result<R, String>) -> mlua::Result<R> {
        self.with_views(|ctx, views| match views.target(ctx.values_mut(), self.elem) {
            Some(target) => f(target),
            None => Err(format!("{} no longer exists or is no longer a table", views.describe(self.elem))),
        })
    }

    /// Runs `f` on the context and the call's views, once this view is known to be current.
    fn with_views<R>(&self, f: impl FnOnce(&mut EventContext, &mut Views) -> Result<R, String>) -> mlua::Result<R> {
        let result = self.bridge.with_views(self.binding, |ctx, views| {
            if views.is_stale(self.elem) {
                return Err(format!(
                    "{} was read before next() ran the rest of the chain; read it again from ctx",
                    views.describe(self.elem)
                ));
            }
            f(ctx, views)
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
        let found = self.with_views(|ctx, views| {
            let value = match (views.target(ctx.values_mut(), self.elem), &key) {
                (None, _) => {
                    return Err(format!("{} no longer exists or is no longer a table", views.describe(self.elem)));
                }
                (Some(Target::Root(map)), Key::Str(k)) => map.get(k),
                (Some(Target::Nested(Value::Map(map))), Key::Str(k)) => map.get(k),
                (Some(Target::Nested(Value::Array(items))), Key::Int(_)) => key.seg().and_then(|seg| match seg {
                    Seg::Index(i) => items.get(i),
                    Seg::Key(_) => None,
                }),
                _ => None,
            };
            let Some(value) = value else { return Ok(Found::Lua(mlua::Value::Nil)) };
            let converted = scalar_to_lua(lua, value).map_err(|e| {
                let message = e.to_string();
                lua_error = Some(e);
                message
            })?;
            match (converted, key.seg()) {
                (Some(v), _) => Ok(Found::Lua(v)),
                (None, Some(seg)) => {
                    let id = views.child(self.elem, seg);
                    Ok(Found::Nested(id, views.userdata(id)))
                }
                (None, None) => Ok(Found::Lua(mlua::Value::Nil)),
            }
        });
        let found = match (found, lua_error) {
            (_, Some(e)) => return Err(e),
            (found, None) => found?,
        };
        match found {
            Found::Lua(v) => Ok(v),
            Found::Nested(_, Some(ud)) => Ok(mlua::Value::UserData(ud)),
            Found::Nested(id, None) => self.new_view(lua, id),
        }
    }

    /// The value standing for table `id` in the running call (one per table
    /// and call, so that `ctx.a == ctx.a`, as for Lua tables): a light
    /// userdata encoding both (see [`crate::view_handle`]), or a full userdata
    /// when the ids do not fit.
    fn new_view(&self, lua: &Lua, id: ElemId) -> mlua::Result<mlua::Value> {
        let frame = self.bridge.current_frame().ok_or_else(|| mlua::Error::runtime("ctx used outside of a call"))?;
        if let Some(handle) = self.bridge.light_view(frame, id) {
            return Ok(mlua::Value::LightUserData(mlua::LightUserData(handle)));
        }
        let proxy = CtxProxy { bridge: self.bridge.clone(), binding: Binding::Frame(frame), elem: id };
        let ud = lua.create_userdata(proxy)?;
        self.with_views(|_, views| {
            views.set_userdata(id, ud.clone());
            Ok(())
        })?;
        Ok(mlua::Value::UserData(ud))
    }

    pub(crate) fn new_index(&self, key: mlua::Value, value: mlua::Value) -> mlua::Result<()> {
        with_key(&key, |key| self.new_index_key(&key, &value))
    }

    /// The view of this VM's context that `value` is, if it is a nested one.
    fn source_view(&self, value: &mlua::Value) -> Option<ElemId> {
        self.proxy_of(value).map(|proxy| proxy.elem).filter(|elem| *elem != ROOT)
    }

    /// The proxy `value` is in this VM: the root `ctx` (the bridge's address
    /// as a light userdata), a nested view encoded in a light userdata (see
    /// [`crate::view_handle`]) or a nested view's full userdata.
    pub(crate) fn proxy_of(&self, value: &mlua::Value) -> Option<CtxProxy> {
        let bridge = self.bridge.clone();
        match value {
            mlua::Value::LightUserData(ud) if ud.0.cast_const() == Rc::as_ptr(&self.bridge).cast::<c_void>() => {
                Some(CtxProxy::root(bridge))
            }
            mlua::Value::LightUserData(ud) => {
                let (frame, elem) = view_handle::decode(ud.0)?;
                Some(CtxProxy { bridge, binding: Binding::Frame(frame), elem })
            }
            mlua::Value::UserData(ud) => {
                let proxy = ud.borrow::<CtxProxy>().ok()?;
                Rc::ptr_eq(&proxy.bridge, &self.bridge).then(|| CtxProxy {
                    bridge,
                    binding: proxy.binding,
                    elem: proxy.elem,
                })
            }
            _ => None,
        }
    }

    /// [`CtxProxy::proxy_of`] the first argument of a metamethod of the light
    /// userdata's metatable, or the error saying it is not a `ctx` value.
    pub(crate) fn proxy_arg(&self, value: &mlua::Value) -> mlua::Result<CtxProxy> {
        self.proxy_of(value).ok_or_else(|| mlua::Error::runtime("not a ctx value"))
    }

    /// The bytes the running call may still add to the context.
    fn budget(&self) -> mlua::Result<usize> {
        self.with_views(|ctx, _| Ok(self.bridge.ctx_budget(ctx)))
    }

    /// Converts a table or a view being written at `at` within `budget` bytes.
    fn convert_table(&self, value: &mlua::Value, budget: usize) -> Result<(Value, usize), ConvertError> {
        let left = Cell::new(budget);
        let resolver = |v: &mlua::Value, depth: usize, bytes: &Cell<usize>| self.resolve_capped(v, depth, bytes);
        let converted = lua_to_value_capped(value, &resolver, self.depth(), &left);
        converted.map(|v| (v, budget - left.get()))
    }

    /// How deep this view is (for the nesting cap of values written into it).
    fn depth(&self) -> usize {
        self.with_views(|_, views| Ok(views.depth(self.elem))).unwrap_or_default()
    }

    fn new_index_key(&self, key: &Key<'_>, value: &mlua::Value) -> mlua::Result<()> {
        // Strings and scalars are stored inside the borrow (reusing the old
        // string's buffer when it fits); tables and views are converted first.
        let at = || format!("{}{}", self.describe(), key_suffix(key));
        let is_table =
            matches!(value, mlua::Value::Table(_) | mlua::Value::UserData(_) | mlua::Value::LightUserData(_));
        let lua_str;
        let (incoming, size) = match value {
            _ if is_table => {
                let (v, size) = self.convert_for_write(value).map_err(|e| self.convert_error(&e, &at()))?;
                (Incoming::Value(v), size)
            }
            mlua::Value::String(s) => match s.to_str() {
                Ok(text) => {
                    lua_str = text;
                    (Incoming::Str(&lua_str), string_size(lua_str.len()))
                }
                Err(_) => return Err(mlua::Error::runtime(format!("{}: string is not valid UTF-8", at()))),
            },
            other => {
                let v = lua_to_value(other, &|_| None).map_err(|e| mlua::Error::runtime(e.at(&at())))?;
                (Incoming::Value(v), SCALAR_BYTES)
            }
        };
        let table_size = is_table.then_some(size);
        self.write(key, incoming, size, table_size, self.source_view(value))
    }

    /// Converts a table or a view for writing it into the context, within the
    /// memory budget; returns it with its size.
    fn convert_for_write(&self, value: &mlua::Value) -> Result<(Value, usize), ConvertError> {
        let budget = self.budget().map_err(|e| ConvertError::new(e.to_string()))?;
        match self.convert_table(value, budget) {
            // The running total may count values that are gone: measure once, then retry.
            Err(e) if e.too_big && budget != usize::MAX => {
                let more = self
                    .with_views(|ctx, _| {
                        Ok(self.bridge.reserve(ctx, budget.saturating_add(1)).then(|| self.bridge.ctx_budget(ctx)))
                    })
                    .ok()
                    .flatten();
                match more {
                    Some(more) => self.convert_table(value, more),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// Stores `incoming` (of `size` bytes, the key included) at `key` of this
    /// view, in every place the table is held; charges the memory account and
    /// tells the call's views (see [`crate::views`]). `table_size` is the
    /// measured size of a table being stored; `source` the view being
    /// assigned, if it is one.
    fn write(
        &self,
        key: &Key<'_>,
        mut incoming: Incoming<'_>,
        size: usize,
        table_size: Option<usize>,
        source: Option<ElemId>,
    ) -> mlua::Result<()> {
        // A map key counts too (the store gives it back when it replaces an entry).
        let size = match key {
            Key::Str(k) => size.saturating_add(string_size(k.len())),
            _ => size,
        };
        let mut over_cap = false;
        self.with_views(|ctx, views| {
            // The view's path, for errors only (building it allocates).
            let name = |views: &Views| views.describe(self.elem);
            if let Some(source) = source
                && views.holds(source, self.elem)
            {
                return Err(format!(
                    "{}{}: a table cannot be stored inside itself (the context holds trees, not references)",
                    name(views),
                    key_suffix(key)
                ));
            }
            let copies = views.location_count(self.elem).ok_or_else(|| {
                format!(
                    "{} is held in too many places at once (assigned into the context again and again)",
                    name(views)
                )
            })?;
            if !incoming.is_nil() && !self.bridge.reserve(ctx, size.saturating_mul(copies)) {
                over_cap = true;
                return Ok(());
            }
            let (mut old, mut new, mut old_table, mut first_old) = (0usize, 0usize, None, 0);
            for copy in 0..copies {
                let Some(target) = views.target_at(ctx.values_mut(), self.elem, copy) else {
                    return Err(format!("{} no longer exists or is no longer a table", name(views)));
                };
                let incoming = if copy + 1 == copies { incoming.take() } else { incoming.copy() };
                let replaced = store(target, key, incoming).map_err(|e| format!("{}{e}", name(views)))?;
                old = old.saturating_add(replaced.old_size);
                new = new.saturating_add(table_size.map_or(replaced.new_size, |t| t.saturating_add(key_size(key))));
                if copy == 0 {
                    first_old = replaced.old_size;
                    old_table = replaced.old_table;
                }
            }
            let (kept, released) = match key.seg() {
                Some(seg) => views.written(self.elem, seg, old_table, first_old, source),
                None => (0, 0),
            };
            if views.is_detached(self.elem) {
                // A write into a table out of the context changes what the call holds.
                self.bridge.record(ctx, 0, 0, kept.saturating_add(new), released.saturating_add(old));
            } else {
                self.bridge.record(ctx, old, new, kept, released);
            }
            Ok(())
        })?;
        if over_cap {
            return Err(self.bridge.ctx_memory_exceeded());
        }
        Ok(())
    }

    /// Merges a table a handler returned into the context (its string keys win).
    pub(crate) fn merge(&self, value: &mlua::Value) -> mlua::Result<()> {
        let (converted, _) = self.convert_for_write(value).map_err(|e| self.convert_error(&e, "returned table"))?;
        let map = match converted {
            Value::Map(map) => map,
            Value::Array(a) if a.is_empty() => return Ok(()),
            _ => {
                return Err(mlua::Error::runtime("returned a list; return a table with string keys to merge into ctx"));
            }
        };
        for (k, v) in map {
            let size = size_of(&v);
            let table_size = matches!(v, Value::Map(_) | Value::Array(_)).then_some(size);
            self.write(&Key::Str(&k), Incoming::Value(v), size, table_size, None)?;
        }
        Ok(())
    }

    /// `ctx.order.items[1]` style name of this view.
    fn describe(&self) -> String {
        self.with_views(|_, views| Ok(views.describe(self.elem))).unwrap_or_else(|_| "ctx".to_owned())
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
        enum Entry {
            Key(String),
            Index(usize),
        }
        let key = self.with_target(|target| {
            Ok(match target {
                Target::Root(map) | Target::Nested(Value::Map(map)) => {
                    map.get_index(i).map(|(k, _)| Entry::Key(k.clone()))
                }
                Target::Nested(Value::Array(items)) => (i < items.len()).then_some(Entry::Index(i)),
                Target::Nested(_) => None,
            })
        })?;
        let Some(entry) = key else { return Ok(None) };
        let (k, lua_key) = match &entry {
            Entry::Key(k) => (mlua::Value::String(lua.create_string(k)?), mlua::Value::String(lua.create_string(k)?)),
            Entry::Index(i) => {
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
    Taken,
}

impl Incoming<'_> {
    fn into_value(self) -> Value {
        match self {
            Incoming::Str(s) => Value::String(s.to_owned()),
            Incoming::Value(v) => v,
            Incoming::Taken => Value::Nil,
        }
    }
    fn is_nil(&self) -> bool {
        matches!(self, Incoming::Value(Value::Nil))
    }
    /// A copy, for one more location of an aliased table.
    fn copy(&self) -> Self {
        match self {
            Incoming::Str(s) => Incoming::Str(s),
            Incoming::Value(v) => Incoming::Value(v.clone()),
            Incoming::Taken => Incoming::Taken,
        }
    }
    /// The value itself, for the last location.
    fn take(&mut self) -> Self {
        std::mem::replace(self, Incoming::Taken)
    }
}

/// Writes `incoming` at `key` of `target`. An error is the rest of a
/// message that starts with the target's path (`ctx.order`).
fn store(target: Target<'_>, key: &Key<'_>, incoming: Incoming<'_>) -> Result<Replaced, String> {
    match target {
        Target::Root(map) => match key {
            Key::Str(k) => Ok(store_in_map(map, k, incoming)),
            Key::Int(_) | Key::Other(_) => Err(": keys of ctx are strings".to_owned()),
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
                (Value::Array(items), Key::Int(i)) => store_in_array(items, *i, incoming),
                (Value::Map(_), _) => Err(": this map has string keys".to_owned()),
                (Value::Array(_), _) => Err(": this array takes integer keys 1..n+1".to_owned()),
                (other, _) => Err(format!(" is a {}, not a table", other.type_name())),
            }
        }
    }
}

/// The replaced value's size, and the value itself if it was a table.
fn replaced(old: Value, extra: usize, new_size: usize) -> Replaced {
    let old_size = size_of(&old).saturating_add(extra);
    let old_table = matches!(old, Value::Map(_) | Value::Array(_)).then_some(old);
    Replaced { old_size, new_size, old_table }
}

fn store_in_map(map: &mut Map, key: &str, incoming: Incoming<'_>) -> Replaced {
    let key_size = string_size(key.len());
    if incoming.is_nil() {
        return match map.shift_remove(key) {
            Some(old) => replaced(old, key_size, 0),
            None => Replaced { old_size: 0, new_size: 0, old_table: None },
        };
    }
    match (map.get_mut(key), incoming) {
        (Some(Value::String(old)), Incoming::Str(s)) if reuse_buffer(old, s.len()) => {
            let old_size = stored_string_size(old) + key_size;
            old.clear();
            old.push_str(s);
            Replaced { old_size, new_size: stored_string_size(old) + key_size, old_table: None }
        }
        (Some(slot), incoming) => {
            let value = incoming.into_value();
            let new_size = stored_size(&value) + key_size;
            replaced(std::mem::replace(slot, value), key_size, new_size)
        }
        (None, incoming) => {
            let value = incoming.into_value();
            let new_size = stored_size(&value) + key_size;
            map.insert(key.to_owned(), value);
            Replaced { old_size: 0, new_size, old_table: None }
        }
    }
}

/// Writes `incoming` at 1-based `index` of `items` (an error as in [`store`]).
fn store_in_array(items: &mut Vec<Value>, index: i64, incoming: Incoming<'_>) -> Result<Replaced, String> {
    let len = items.len();
    let Some(i) = usize::try_from(index).ok().and_then(|i| i.checked_sub(1)).filter(|i| *i <= len) else {
        return Err(format!("[{index}]: index out of range (the array has {len} items; append at {})", len + 1));
    };
    let nil = incoming.is_nil();
    let nothing = Replaced { old_size: 0, new_size: 0, old_table: None };
    Ok(match (i == len, nil) {
        (true, true) => nothing,
        (true, false) => {
            let value = incoming.into_value();
            let new_size = stored_size(&value);
            items.push(value);
            Replaced { new_size, ..nothing }
        }
        (false, true) if i + 1 == len => items.pop().map_or(nothing, |old| replaced(old, 0, 0)),
        (false, _) => {
            let value = incoming.into_value();
            let new_size = stored_size(&value);
            replaced(std::mem::replace(&mut items[i], value), 0, new_size)
        }
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

/// The bytes a map key costs (arrays have none).
fn key_size(key: &Key<'_>) -> usize {
    match key {
        Key::Str(k) => string_size(k.len()),
        _ => 0,
    }
}

fn key_suffix(key: &Key<'_>) -> String {
    match key {
        Key::Str(k) => format!(".{k}"),
        Key::Int(i) => format!("[{i}]"),
        Key::Other(t) => format!("[<{t}>]"),
    }
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
        Some(self.proxy_of(value)?.copy_capped(max_depth, bytes))
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
        let proxy = CtxProxy { bridge: self.bridge.clone(), binding: self.binding, elem: self.elem };
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
            // Scripts cannot create light userdata: the ones they see are `ctx` and its views.
            Some(value) if root.proxy_of(value).is_some() => root.proxy_arg(value)?.pairs(lua)?.into_lua_multi(lua),
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
    fn arrays_append_pop_and_refuse_gaps() {
        let mut items = vec![Value::Int(1)];
        store_in_array(&mut items, 2, Incoming::Value(Value::Int(2))).expect("append");
        store_in_array(&mut items, 2, Incoming::Value(Value::Nil)).expect("pop");
        assert_eq!(items, vec![Value::Int(1)]);
        let err = store_in_array(&mut items, 5, Incoming::Value(Value::Int(5))).unwrap_err();
        assert_eq!(err, "[5]: index out of range (the array has 1 items; append at 2)");
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

    #[test]
    fn an_emptied_big_string_gives_its_buffer_back_and_is_charged_by_capacity() {
        let mut map = Map::default();
        map.insert("s".into(), Value::String("x".repeat(1 << 20)));
        let r = store_in_map(&mut map, "s", Incoming::Str(""));
        assert_eq!(r.old_size, string_size(1 << 20) + string_size(1));
        assert!(matches!(map.get("s"), Some(Value::String(s)) if s.is_empty() && s.capacity() < 64));
        assert_eq!(r.new_size, stored_string_size(&String::new()) + string_size(1));
        // Half full or more: the buffer is kept (and charged as it is).
        map.insert("t".into(), Value::String(String::with_capacity(100)));
        let r = store_in_map(&mut map, "t", Incoming::Str(&"y".repeat(60)));
        assert_eq!(r.new_size, string_size(100) + string_size(1));
    }
}
