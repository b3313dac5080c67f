//! The fast path of [`parse`](super::parse): a **valid** script table read
//! through Lua's C API in one protected call.
//!
//! mlua's table iteration makes every key and value an mlua value (a
//! reference, and for every table a protected call of its own), which cost
//! about 30,000 instructions for the seed script's small table (callgrind,
//! docs/benchmarks.md). Here one [`Lua::exec_raw`] walks the table with
//! `lua_next`/`lua_rawgeti`, copies the strings the spec keeps and the values
//! the script passes to the host (the `context`, configs of named parts,
//! charged to the same byte budget as [`script_table_to_value`] charges), and
//! hands over as mlua values only the functions: the handlers and the Lua
//! middleware.
//!
//! This path only **recognises** valid tables: at the first thing it does not
//! accept (an unknown key, a wrong type, a value the converter refuses, a
//! spent budget, anything unusual) it declines, and [`parse`](super::parse)
//! reads the table again with the checked path, which produces every error
//! message. So the messages are those of the checked path by construction,
//! and the one obligation of this module is: what it accepts, the checked
//! path accepts with the same result (the tests below compare both on valid
//! and invalid tables).
//!
//! [`script_table_to_value`]: crate::convert::script_table_to_value

use std::ffi::c_int;
use std::str::FromStr;

use eventchains_core::{FaultToleranceMode, Map, Value};
use mlua::{Lua, Variadic, ffi};

use super::{EventSpec, Functions, MAX_LUA_MIDDLEWARE, MAX_MIDDLEWARE, MiddlewareSpec, Spec};
use super::{lua_middleware_label, millis, registered, whole_u64};
use crate::convert::MAX_DEPTH;
use crate::limits::Limits;
use crate::value_size::{CONTAINER_BYTES, SCALAR_BYTES, string_size};

/// The walk met something it does not accept (the checked path says what).
struct Decline;

type Walk<T = ()> = Result<T, Decline>;

/// A function handed over as an mlua value, in the order the walk met it.
enum Handed {
    /// The handler of event `index` (0-based).
    Handler(usize),
    /// Lua middleware `index`.
    Middleware(usize),
}

/// What the walk found. Everything owned lives here, outside the protected
/// call: the walk's own frames hold nothing to drop while it calls into Lua
/// (see [`parse_valid`]), except [`copy`]'s, whose calls cannot raise.
struct Read {
    /// The spec so far (a Lua middleware's label is made once the walk is done).
    spec: Spec,
    handed: Vec<Handed>,
    saw_events: bool,
    /// The bytes the copied values may still take (the checked path's budget).
    left: usize,
    /// Values copied so far (the walk's work is bounded by [`MAX_COPIED`]).
    copied: usize,
    /// Scratch for one event table or one named middleware's table.
    entry_name: Option<String>,
    entry_rust: Option<String>,
    entry_handler: bool,
    entry_config: Map,
}

/// The most functions one walk hands over (a live mlua value takes a slot of
/// a stack LuaJIT caps near 8,000); a script with more takes the checked path.
const MAX_HANDED: usize = 256;

/// The most values one walk copies (a table shared by reference is copied
/// once per reference; the checked path refuses a copy too large at once).
const MAX_COPIED: usize = 100_000;

/// Stack slots reserved before the walk: three per level of [`each`] at the
/// deepest nesting of tables it copies, and the script table's own levels.
const STACK_RESERVE: c_int = 3 * (MAX_DEPTH as c_int + 8);

/// The spec and functions of `value` if it is a valid script table this
/// path accepts; `None` when the checked path must read it (see the module docs).
pub(super) fn parse_valid(lua: &Lua, script: &str, value: &mlua::Value, max_bytes: usize) -> Option<(Spec, Functions)> {
    let mlua::Value::Table(table) = value else { return None };
    let mut read = Read {
        spec: Spec::empty(),
        handed: Vec::new(),
        saw_events: false,
        left: max_bytes,
        copied: 0,
        entry_name: None,
        entry_rust: None,
        entry_handler: false,
        entry_config: Map::default(),
    };
    let mut declined = true;
    // SAFETY: `exec_raw` runs the walk in a protected call with the table
    // as its only argument (index 1). `lua_newthread` and the first
    // `lua_checkstack` may raise a memory error, before anything Rust-owned
    // exists in the closure. After them the walk uses only calls that raise
    // nothing: `lua_next` over keys it returned itself, raw reads, type
    // queries, `lua_tolstring` on strings only, `lua_xmove`, and
    // `lua_checkstack` within the room reserved (on LuaJIT a check for the
    // handed functions' thread may still grow it, where the walk's frames
    // hold nothing owned). It leaves exactly the handed functions on the
    // stack, for `exec_raw` to return.
    let handed = unsafe {
        lua.exec_raw::<Variadic<mlua::Function>>(table, |state| {
            ffi::lua_newthread(state); // index 2: holds the handed functions meanwhile
            let out = ffi::lua_tothread(state, 2);
            if ffi::lua_checkstack(state, STACK_RESERVE) != 0 && walk_top(state, out, &mut read).is_ok() {
                ffi::lua_settop(state, 2);
                let n = ffi::lua_gettop(out);
                if ffi::lua_checkstack(state, n) != 0 {
                    ffi::lua_xmove(out, state, n);
                    declined = false;
                }
            }
            if declined {
                ffi::lua_settop(state, 2);
            }
            // Drop the table and the thread: only the handed functions stay.
            ffi::lua_rotate(state, 1, -2);
            ffi::lua_settop(state, -3);
        })
    };
    let handed = handed.ok()?;
    if declined || handed.len() != read.handed.len() {
        return None;
    }
    assemble(lua, script, read, handed.into())
}

/// The spec from what the walk read, with the handed functions (registry
/// references for the handlers, in the walk's order, as the checked path makes them).
fn assemble(lua: &Lua, script: &str, read: Read, handed: Vec<mlua::Function>) -> Option<(Spec, Functions)> {
    let mut spec = read.spec;
    let mut functions = Functions {
        handlers: spec.events.iter().map(|_| None).collect(),
        middleware: spec.middleware.iter().map(|_| None).collect(),
    };
    for (what, f) in read.handed.into_iter().zip(handed) {
        match what {
            Handed::Handler(i) => *functions.handlers.get_mut(i)? = registered(lua, script, Some(f)).ok()?,
            Handed::Middleware(i) => {
                let Some(MiddlewareSpec::Lua { label }) = spec.middleware.get_mut(i) else { return None };
                *label = lua_middleware_label(script, i + 1, &f);
                *functions.middleware.get_mut(i)? = Some(f);
            }
        }
    }
    Some((spec, functions))
}

/// Calls `f(key, value)` (absolute stack indices) for every pair of the
/// table at absolute index `t`; what `f` pushes is popped.
///
/// # Safety
/// `t` is a table on the stack of `state`, not changed during the walk.
unsafe fn each(state: *mut ffi::lua_State, t: c_int, mut f: impl FnMut(c_int, c_int) -> Walk) -> Walk {
    // SAFETY: the caller's contract; `lua_next` gets back the key it returned.
    unsafe {
        if ffi::lua_checkstack(state, 3) == 0 {
            return Err(Decline);
        }
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, t) != 0 {
            let top = ffi::lua_gettop(state);
            let step = f(top - 1, top);
            ffi::lua_settop(state, top - 1);
            if step.is_err() {
                ffi::lua_settop(state, top - 2);
                return step;
            }
        }
        Ok(())
    }
}

/// The string at `i` (a string value, valid UTF-8), borrowed from the stack.
///
/// # Safety
/// `i` is a valid index of `state`; the result is used while the value stays there.
unsafe fn str_at<'a>(state: *mut ffi::lua_State, i: c_int) -> Walk<&'a str> {
    // SAFETY: the caller's contract; `lua_tolstring` on a string converts nothing.
    unsafe {
        if ffi::lua_type(state, i) != ffi::LUA_TSTRING {
            return Err(Decline);
        }
        let mut len = 0;
        let ptr = ffi::lua_tolstring(state, i, &mut len);
        std::str::from_utf8(std::slice::from_raw_parts(ptr.cast::<u8>(), len)).map_err(|_| Decline)
    }
}

/// Hands the function at `i` over (see [`Handed`]).
///
/// # Safety
/// `i` is a valid index of `state`; `out` is a thread of the same VM.
unsafe fn hand(state: *mut ffi::lua_State, out: *mut ffi::lua_State, i: c_int, what: Handed, read: &mut Read) -> Walk {
    read.handed.push(what);
    if read.handed.len() > MAX_HANDED {
        return Err(Decline);
    }
    // SAFETY: the caller's contract; room is checked before the move.
    unsafe {
        if ffi::lua_type(state, i) != ffi::LUA_TFUNCTION || ffi::lua_checkstack(out, 1) == 0 {
            return Err(Decline);
        }
        ffi::lua_pushvalue(state, i);
        ffi::lua_xmove(state, out, 1);
    }
    Ok(())
}

/// Charges `size` bytes to the budget.
fn charge(read: &mut Read, size: usize) -> Walk {
    read.left = read.left.checked_sub(size).ok_or(Decline)?;
    Ok(())
}

/// The value at `i` copied as [`script_table_to_value`] copies it, charged
/// to the budget, `depth` tables deep.
///
/// [`script_table_to_value`]: crate::convert::script_table_to_value
///
/// # Safety
/// `i` is a valid absolute index of `state`, with [`STACK_RESERVE`] room
/// for the nesting [`MAX_DEPTH`] allows.
unsafe fn copy(state: *mut ffi::lua_State, i: c_int, depth: usize, read: &mut Read) -> Walk<Value> {
    read.copied += 1;
    if read.copied > MAX_COPIED {
        return Err(Decline);
    }
    // SAFETY: the caller's contract; no call converts or raises.
    unsafe {
        match ffi::lua_type(state, i) {
            ffi::LUA_TBOOLEAN => {
                charge(read, SCALAR_BYTES)?;
                Ok(Value::Bool(ffi::lua_toboolean(state, i) != 0))
            }
            ffi::LUA_TNUMBER => {
                charge(read, SCALAR_BYTES)?;
                number(state, i)
            }
            ffi::LUA_TSTRING => {
                let text = str_at(state, i)?;
                charge(read, string_size(text.len()))?;
                Ok(Value::String(text.to_owned()))
            }
            ffi::LUA_TTABLE if depth < MAX_DEPTH => {
                charge(read, CONTAINER_BYTES)?;
                copy_table(state, i, depth + 1, read)
            }
            _ => Err(Decline),
        }
    }
}

/// A table's copy: a list (keys exactly `1..n`, n > 0) or string keys.
///
/// # Safety
/// As [`copy`].
unsafe fn copy_table(state: *mut ffi::lua_State, t: c_int, depth: usize, read: &mut Read) -> Walk<Value> {
    // SAFETY: the caller's contract.
    unsafe {
        let len = ffi::lua_rawlen(state, t);
        if len > 0 {
            let mut array = Vec::with_capacity(len.min(1024));
            for n in 1..=len {
                ffi::lua_rawgeti(state, t, n as ffi::lua_Integer);
                let item = ffi::lua_gettop(state);
                let value = if ffi::lua_type(state, item) == ffi::LUA_TNIL {
                    Err(Decline)
                } else {
                    copy(state, item, depth, read)
                };
                ffi::lua_settop(state, item - 1);
                array.push(value?);
            }
            let mut count = 0usize;
            each(state, t, |_, _| {
                count += 1;
                Ok(())
            })?;
            return if count == len { Ok(Value::Array(array)) } else { Err(Decline) };
        }
        let mut map = Map::default();
        each(state, t, |k, v| {
            let key = str_at(state, k)?;
            charge(read, string_size(key.len()))?;
            let value = copy(state, v, depth, read)?;
            map.insert(key.to_owned(), value);
            Ok(())
        })?;
        // As the checked path: sorted, for an order independent of the hash seed.
        map.sort_unstable_keys();
        Ok(Value::Map(map))
    }
}

/// A number as mlua reads it: an integer subtype (Lua 5.4/5.5) is an
/// integer, a float a float (finite only).
///
/// # Safety
/// `i` is a number on the stack of `state`.
#[cfg(any(feature = "lua54", feature = "lua55"))]
unsafe fn number(state: *mut ffi::lua_State, i: c_int) -> Walk<Value> {
    // SAFETY: the caller's contract.
    unsafe {
        if ffi::lua_isinteger(state, i) != 0 {
            return Ok(Value::Int(ffi::lua_tointeger(state, i)));
        }
        let f = ffi::lua_tonumber(state, i);
        if f.is_finite() { Ok(Value::Float(f)) } else { Err(Decline) }
    }
}

/// A number as mlua reads it on engines without an integer subtype: an
/// integer when the float is exactly an `i64`, else a float (finite only).
///
/// # Safety
/// `i` is a number on the stack of `state`.
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
unsafe fn number(state: *mut ffi::lua_State, i: c_int) -> Walk<Value> {
    // SAFETY: the caller's contract.
    let f = unsafe { ffi::lua_tonumber(state, i) };
    // `-2^63 <= f < 2^63`, where `as` does not saturate.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&f) && (f as i64 as f64).to_bits() == f.to_bits() {
        return Ok(Value::Int(f as i64));
    }
    if f.is_finite() { Ok(Value::Float(f)) } else { Err(Decline) }
}

/// The script table at index 1.
///
/// # Safety
/// Index 1 of `state` is a table; `out` is a thread of the same VM.
unsafe fn walk_top(state: *mut ffi::lua_State, out: *mut ffi::lua_State, read: &mut Read) -> Walk {
    // SAFETY: the caller's contract; every index comes from `each`.
    unsafe {
        each(state, 1, |k, v| {
            match str_at(state, k)? {
                "name" => read.spec.name = Some(str_at(state, v)?.to_owned()),
                "fault_tolerance" => {
                    read.spec.mode = FaultToleranceMode::from_str(str_at(state, v)?).map_err(|_| Decline)?;
                }
                "context" => match ffi::lua_type(state, v) {
                    ffi::LUA_TTABLE => match copy(state, v, 0, read)? {
                        Value::Map(map) => read.spec.context = map,
                        _ => return Err(Decline),
                    },
                    _ => return Err(Decline),
                },
                "limits" => limits(state, v, read)?,
                "middleware" => {
                    let len = list_len(state, v)?;
                    if len > MAX_MIDDLEWARE {
                        return Err(Decline);
                    }
                    each_item(state, v, len, |item| middleware(state, out, item, read))?;
                    let lua = read.spec.middleware.iter().filter(|m| matches!(m, MiddlewareSpec::Lua { .. })).count();
                    if lua > MAX_LUA_MIDDLEWARE {
                        return Err(Decline);
                    }
                }
                "events" => {
                    read.saw_events = true;
                    let len = list_len(state, v)?;
                    each_item(state, v, len, |item| event(state, out, item, read))?;
                }
                _ => return Err(Decline),
            }
            Ok(())
        })?;
        if read.saw_events { Ok(()) } else { Err(Decline) }
    }
}

/// The length `n` of the list at `t` (a table whose keys are exactly `1..n`).
///
/// # Safety
/// `t` is a valid absolute index of `state`.
unsafe fn list_len(state: *mut ffi::lua_State, t: c_int) -> Walk<usize> {
    // SAFETY: the caller's contract.
    unsafe {
        if ffi::lua_type(state, t) != ffi::LUA_TTABLE {
            return Err(Decline);
        }
        let len = ffi::lua_rawlen(state, t);
        let mut count = 0usize;
        each(state, t, |_, _| {
            count += 1;
            Ok(())
        })?;
        if count == len { Ok(count) } else { Err(Decline) }
    }
}

/// Calls `f(item)` (an absolute stack index) for items `1..=len` of the list at `t`.
///
/// # Safety
/// `t` is a valid absolute index of `state`, with room for one more value.
unsafe fn each_item(state: *mut ffi::lua_State, t: c_int, len: usize, mut f: impl FnMut(c_int) -> Walk) -> Walk {
    for i in 1..=len {
        // SAFETY: the caller's contract; the item is popped after `f`.
        unsafe {
            ffi::lua_rawgeti(state, t, i as ffi::lua_Integer);
            let item = ffi::lua_gettop(state);
            let step = f(item);
            ffi::lua_settop(state, item - 1);
            step?;
        }
    }
    Ok(())
}

/// The `limits` table at `t`.
///
/// # Safety
/// `t` is a valid absolute index of `state`.
unsafe fn limits(state: *mut ffi::lua_State, t: c_int, read: &mut Read) -> Walk {
    // SAFETY: the caller's contract; numbers are read without conversion.
    unsafe {
        if ffi::lua_type(state, t) != ffi::LUA_TTABLE {
            return Err(Decline);
        }
        let mut limits = Limits::UNLIMITED;
        each(state, t, |k, v| {
            if ffi::lua_type(state, v) != ffi::LUA_TNUMBER {
                return Err(Decline);
            }
            let number = ffi::lua_tonumber(state, v);
            if !(number > 0.0 && number.is_finite()) {
                return Err(Decline);
            }
            match str_at(state, k)? {
                "instructions" => limits.instructions = Some(whole_u64(number)),
                "memory_mb" => {
                    limits.memory_bytes =
                        Some(usize::try_from(whole_u64(number * 1024.0 * 1024.0)).unwrap_or(usize::MAX));
                }
                "timeout_ms" => limits.timeout = millis(number),
                _ => return Err(Decline),
            }
            Ok(())
        })?;
        read.spec.limits = limits;
    }
    Ok(())
}

/// The `middleware` entry at `item`.
///
/// # Safety
/// `item` is a valid absolute index of `state`; `out` a thread of the same VM.
unsafe fn middleware(state: *mut ffi::lua_State, out: *mut ffi::lua_State, item: c_int, read: &mut Read) -> Walk {
    let index = read.spec.middleware.len();
    // SAFETY: the caller's contract; indices from `each`.
    unsafe {
        match ffi::lua_type(state, item) {
            ffi::LUA_TSTRING => {
                let name = str_at(state, item)?.to_owned();
                read.spec.middleware.push(MiddlewareSpec::Named { name, config: Value::Nil });
            }
            ffi::LUA_TFUNCTION => {
                hand(state, out, item, Handed::Middleware(index), read)?;
                read.spec.middleware.push(MiddlewareSpec::Lua { label: String::new() });
            }
            ffi::LUA_TTABLE => {
                read.entry_name = None;
                read.entry_config.clear();
                each(state, item, |k, v| {
                    if ffi::lua_type(state, k) == ffi::LUA_TSTRING {
                        let key = str_at(state, k)?;
                        let value = copy(state, v, 0, read)?;
                        read.entry_config.insert(key.to_owned(), value);
                        Ok(())
                    } else if is_one(state, k) && read.entry_name.is_none() {
                        read.entry_name = Some(str_at(state, v)?.to_owned());
                        Ok(())
                    } else {
                        Err(Decline)
                    }
                })?;
                let name = read.entry_name.take().ok_or(Decline)?;
                let config = config(std::mem::take(&mut read.entry_config));
                read.spec.middleware.push(MiddlewareSpec::Named { name, config });
            }
            _ => return Err(Decline),
        }
    }
    Ok(())
}

/// A named part's config: `nil` when it has no keys (as the checked path).
fn config(map: Map) -> Value {
    if map.is_empty() { Value::Nil } else { Value::Map(map) }
}

/// Whether the key at `k` is the number 1 (the name's place in `{ "retry", ... }`).
///
/// # Safety
/// `k` is a valid index of `state`.
unsafe fn is_one(state: *mut ffi::lua_State, k: c_int) -> bool {
    // SAFETY: the caller's contract; a number is read without conversion.
    unsafe { ffi::lua_type(state, k) == ffi::LUA_TNUMBER && ffi::lua_tonumber(state, k) == 1.0 }
}

/// The `events` entry at `item`.
///
/// # Safety
/// `item` is a valid absolute index of `state`; `out` a thread of the same VM.
unsafe fn event(state: *mut ffi::lua_State, out: *mut ffi::lua_State, item: c_int, read: &mut Read) -> Walk {
    let index = read.spec.events.len();
    read.entry_name = None;
    read.entry_rust = None;
    read.entry_handler = false;
    read.entry_config.clear();
    // SAFETY: the caller's contract; indices from `each`.
    unsafe {
        if ffi::lua_type(state, item) != ffi::LUA_TTABLE {
            return Err(Decline);
        }
        each(state, item, |k, v| {
            match str_at(state, k)? {
                "name" => read.entry_name = Some(str_at(state, v)?.to_owned()),
                "rust" => read.entry_rust = Some(str_at(state, v)?.to_owned()),
                "handler" => {
                    read.entry_handler = true;
                    hand(state, out, v, Handed::Handler(index), read)?;
                }
                // The checked path converts these after the event's own keys,
                // in this order; the budget's total is the same.
                key => {
                    let value = copy(state, v, 0, read)?;
                    read.entry_config.insert(key.to_owned(), value);
                }
            }
            Ok(())
        })?;
    }
    let name = read.entry_name.take().filter(|n| !n.is_empty()).ok_or(Decline)?;
    let event = match (read.entry_handler, read.entry_rust.take()) {
        (true, None) if read.entry_config.is_empty() => EventSpec::Lua { name },
        (false, Some(rust)) => EventSpec::Rust { name, rust, config: config(std::mem::take(&mut read.entry_config)) },
        _ => return Err(Decline),
    };
    read.spec.events.push(event);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse_checked;
    use super::*;

    /// The script table `source` returns, in a plain VM.
    fn returned(lua: &Lua, source: &str) -> mlua::Value {
        lua.load(source).eval::<mlua::Value>().expect("the test script runs")
    }

    /// Both paths on the table `source` returns (the same table, so the
    /// same functions): the fast one's result, if it accepts, and the checked one's.
    fn both(source: &str, max_bytes: usize) -> (Option<String>, Result<String, String>) {
        let lua = Lua::new();
        let value = returned(&lua, source);
        let fast = parse_valid(&lua, "t.lua", &value, max_bytes);
        let checked = parse_checked(&lua, "t.lua", value, max_bytes);
        // Functions by identity: the same handler from either path.
        let describe = |lua: &Lua, (spec, functions): &(Spec, Functions)| {
            let handlers: Vec<Option<_>> = functions
                .handlers
                .iter()
                .map(|k| k.as_ref().map(|k| lua.registry_value::<mlua::Function>(k).expect("a function").to_pointer()))
                .collect();
            let middleware: Vec<Option<_>> =
                functions.middleware.iter().map(|f| f.as_ref().map(|f| f.to_pointer())).collect();
            format!("{spec:?} handlers {handlers:?} middleware {middleware:?}")
        };
        let fast = fast.map(|parsed| describe(&lua, &parsed));
        let checked = checked.map(|parsed| describe(&lua, &parsed)).map_err(|e| e.to_string());
        (fast, checked)
    }

    #[test]
    fn valid_tables_take_the_fast_path_with_the_checked_result() {
        let valid = [
            include_str!("../../../../examples/scripts/seed.lua"),
            "return { events = {} }",
            r#"return {
                 name = "all", fault_tolerance = "best_effort",
                 context = { n = 1, s = "x", list = { 1, 2, { deep = true } }, f = 1.5 },
                 limits = { instructions = 1000, memory_mb = 1.5, timeout_ms = 20 },
                 middleware = {
                   "logging",
                   { "retry", max_attempts = 3, backoff = "exponential", initial_ms = 5 },
                   function(event, ctx, next) return next(ctx) end,
                   { "timing" },
                 },
                 events = {
                   { name = "a", handler = function(ctx) end },
                   { name = "b", rust = "validate", strict = true, level = 2 },
                   { name = "c", rust = "plain" },
                   { name = "d", handler = print },
                 },
               }"#,
            "return { limits = { instructions = 2^70, timeout_ms = 1e300 }, events = {} }",
            "return { middleware = { { [1.0] = 'retry' } }, events = {} }",
            "return { fault_tolerance = 'lenient', middleware = {}, context = {}, events = {} }",
            // Values of every shape the converter takes.
            r#"local shared = { 1, 2 }
               return { context = {
                 i = 3, big = 9007199254740993, f = 0.5, whole = 2.0, negzero = -0.0, huge = 2^63, low = -2^63,
                 t = true, no = false, s = "é ü", empty = {}, list = { { a = 1 }, { 1.5, "x" } },
                 a = shared, b = shared, deep = { { { { { { { { { { 1 } } } } } } } } } },
               }, events = {} }"#,
            r#"return { middleware = { { "retry", list = { 1, 2, 3 }, nested = { k = { v = "w" } } } },
                        events = { { name = "r", rust = "x", n = 2^53, m = { "a" } } } }"#,
        ];
        for source in valid {
            let (fast, checked) = both(source, usize::MAX);
            let checked = checked.unwrap_or_else(|e| panic!("valid: {source}: {e}"));
            assert_eq!(fast.as_ref(), Some(&checked), "{source}");
        }
    }

    #[test]
    fn invalid_tables_are_left_to_the_checked_path() {
        let many = |n: usize, item: &str| vec![item; n].join(", ");
        let too_many_middleware = format!("return {{ middleware = {{ {} }}, events = {{}} }}", many(257, "'m'"));
        let too_many_lua_middleware =
            format!("return {{ middleware = {{ {} }}, events = {{}} }}", many(65, "function(e, c, n) return n(c) end"));
        let invalid = [
            "return 1",
            "return {}",
            "return { events = {}, extra = 1 }",
            "return { events = {}, 'list' }",
            "return { events = {}, [true] = 1 }",
            "return { events = {}, ['\\xff'] = 1 }",
            "return { name = 1, events = {} }",
            "return { name = '\\xff', events = {} }",
            "return { fault_tolerance = 'sometimes', events = {} }",
            "return { context = 1, events = {} }",
            "return { context = { 1, 2 }, events = {} }",
            "return { context = { f = print }, events = {} }",
            "return { context = { x = 0/0 }, events = {} }",
            "return { limits = 5, events = {} }",
            "return { limits = { instructions = 0 }, events = {} }",
            "return { limits = { instructions = -1.5 }, events = {} }",
            "return { limits = { instructions = 1/0 }, events = {} }",
            "return { limits = { instructions = '5' }, events = {} }",
            "return { limits = { seconds = 5 }, events = {} }",
            "return { limits = { 5 }, events = {} }",
            "return { middleware = 'logging', events = {} }",
            "return { middleware = { 'a', nil, 'c' }, events = {} }",
            "return { middleware = { 'a', x = 'b' }, events = {} }",
            "return { middleware = { 5 }, events = {} }",
            "return { middleware = { {} }, events = {} }",
            "return { middleware = { { 'a', 'b' } }, events = {} }",
            "return { middleware = { { [2] = 'a' } }, events = {} }",
            "return { middleware = { { [1.5] = 'a' } }, events = {} }",
            "return { middleware = { { 5 } }, events = {} }",
            "return { middleware = { { 'retry', f = print } }, events = {} }",
            &too_many_middleware,
            &too_many_lua_middleware,
            "return { events = 5 }",
            "return { events = { 5 } }",
            "return { events = { {} } }",
            "return { events = { { name = '', handler = print } } }",
            "return { events = { { name = 5, handler = print } } }",
            "return { events = { { handler = print } } }",
            "return { events = { { name = 'a' } } }",
            "return { events = { { name = 'a', handler = print, rust = 'x' } } }",
            "return { events = { { name = 'a', handler = 5 } } }",
            "return { events = { { name = 'a', rust = 5 } } }",
            "return { events = { { name = 'a', handler = print, extra = 1 } } }",
            "return { events = { { 'a', handler = print } } }",
            "return { events = { { name = 'a', rust = 'x', f = print } } }",
            "return { events = { { name = 'a', handler = print }, nil, { name = 'c', handler = print } } }",
            // Values the converter refuses.
            "return { context = { l = { 1, 2, x = 3 } }, events = {} }",
            "return { context = { m = { x = 1, [5] = 2 } }, events = {} }",
            "return { context = { m = { [true] = 2 } }, events = {} }",
            "return { context = { x = 1/0 }, events = {} }",
            "return { context = { x = -1/0 }, events = {} }",
            "return { context = { x = print }, events = {} }",
            "return { context = { x = coroutine.create(print) }, events = {} }",
            "return { context = { x = '\\xff' }, events = {} }",
            "return { context = { ['\\xff'] = 1 }, events = {} }",
            "local t = {} t.t = t return { context = t, events = {} }",
            "local t = {} for i = 1, 70 do t = { t } end return { context = { t = t }, events = {} }",
            "return { middleware = { { 'retry', x = 0/0 } }, events = {} }",
        ];
        for source in invalid {
            let (fast, checked) = both(source, usize::MAX);
            assert!(checked.is_err(), "invalid: {source}");
            assert_eq!(fast, None, "the fast path declines {source}");
        }
    }

    #[test]
    fn lists_with_holes_are_left_to_the_checked_path() {
        // Valid (the holes become nil), but rare: the fast path does not copy them.
        for source in [
            "return { context = { l = { 1, nil, 3 } }, events = {} }",
            "return { events = { { name = 'r', rust = 'x', l = { 1, nil, 3 } } } }",
        ] {
            let (fast, checked) = both(source, usize::MAX);
            // (The border of `{ 1, nil, 3 }` may be 1 on some engines, 3 on
            // others: a mixed table, refused, or a list with a nil.)
            if let Ok(checked) = checked {
                assert!(checked.contains("Nil"), "{source}: {checked}");
            }
            assert_eq!(fast, None, "{source}");
        }
    }

    #[test]
    fn one_budget_spans_every_value_the_script_passes() {
        let source = r#"return {
            context = { text = string.rep("x", 100) },
            middleware = { { "retry", note = string.rep("y", 100) } },
            events = { { name = "r", rust = "x", more = string.rep("z", 100) } },
          }"#;
        let outcomes: Vec<bool> = (0..2000)
            .step_by(25)
            .map(|max_bytes| {
                let (fast, checked) = both(source, max_bytes);
                match checked {
                    Ok(checked) => assert_eq!(fast, Some(checked), "{max_bytes}"),
                    Err(_) => assert_eq!(fast, None, "{max_bytes}"),
                }
                fast.is_some()
            })
            .collect();
        // Budgets that fit one value but not all three are among those tried.
        assert!(outcomes.iter().take_while(|ok| !**ok).count() > 15, "{outcomes:?}");
        assert!(outcomes.last() == Some(&true));
    }

    #[test]
    fn scripts_with_very_many_functions_take_the_checked_path() {
        let events: Vec<String> =
            (0..MAX_HANDED + 1).map(|i| format!("{{ name = 'e{i}', handler = print }}")).collect();
        let source = format!("return {{ events = {{ {} }} }}", events.join(", "));
        let (fast, checked) = both(&source, usize::MAX);
        assert!(checked.is_ok());
        assert_eq!(fast, None);
        let events = &events[..MAX_HANDED];
        let (fast, checked) = both(&format!("return {{ events = {{ {} }} }}", events.join(", ")), usize::MAX);
        assert_eq!(fast, checked.ok());
    }
}
