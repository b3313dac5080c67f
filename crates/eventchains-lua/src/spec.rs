//! Format v1: validating the table a chain script returns.
//!
//! [`parse`] checks every key strictly (unknown keys are errors, so typos do
//! not silently do nothing) and turns the table into a thread-independent
//! [`Spec`] plus the Lua functions of this VM ([`Functions`]). Other threads
//! run the same compiled script in their own VM and only [`extract`] the
//! functions at the positions the spec recorded.

use std::fmt::{self, Display};
use std::str::FromStr;
use std::time::Duration;

use eventchains_core::{FaultToleranceMode, Map, Value};
use mlua::{Function, Lua, RegistryKey, Table};

use std::cell::Cell;

use crate::convert::script_table_to_value;
use crate::error::LoadError;
use crate::limits::Limits;

mod raw_extract;
mod raw_read;

pub(crate) const TOP_KEYS: &str = "name, fault_tolerance, context, limits, middleware, events";
pub(crate) const LIMIT_KEYS: &str = "instructions, memory_mb, timeout_ms";

/// The most middleware written in Lua one script may have. Each one nests a
/// Lua call inside the previous one's `next` (Lua 5.4 allows about 200 nested
/// C calls in all, and every level takes the thread's stack), so the cap
/// leaves the innermost handler room for its own calls on every engine.
pub const MAX_LUA_MIDDLEWARE: usize = 64;

/// The most middleware (Rust and Lua) one script may have: each one nests the
/// next call on the thread's stack.
pub const MAX_MIDDLEWARE: usize = 256;

/// A validated script, without its Lua functions.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) name: Option<String>,
    pub(crate) mode: FaultToleranceMode,
    pub(crate) context: Map,
    pub(crate) limits: Limits,
    /// In script order (the last one is the outermost).
    pub(crate) middleware: Vec<MiddlewareSpec>,
    pub(crate) events: Vec<EventSpec>,
}

impl Spec {
    /// A spec with nothing read yet (what a table with only `events = {}` gives).
    fn empty() -> Self {
        Spec {
            name: None,
            mode: FaultToleranceMode::default(),
            context: Map::default(),
            limits: Limits::UNLIMITED,
            middleware: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The names of the events, in order.
    pub(crate) fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| match e {
            EventSpec::Lua { name } | EventSpec::Rust { name, .. } => name.as_str(),
        })
    }
}

/// One entry of `middleware`.
#[derive(Clone, Debug)]
pub(crate) enum MiddlewareSpec {
    /// A named Rust middleware from the host's registry.
    Named { name: String, config: Value },
    /// A Lua function; `label` names it in listings and errors.
    Lua { label: String },
}

/// One entry of `events`.
#[derive(Clone, Debug)]
pub(crate) enum EventSpec {
    /// A Lua handler.
    Lua { name: String },
    /// A Rust event from the host's registry, shown under the script's `name`.
    Rust { name: String, rust: String, config: Value },
}

/// The Lua functions of one VM, indexed like the spec's lists. Handlers are
/// held in the registry: a script may have any number of events, and a live
/// `mlua::Function` takes a slot of a stack that LuaJIT caps near 8,000.
pub(crate) struct Functions {
    pub(crate) handlers: Vec<Option<RegistryKey>>,
    pub(crate) middleware: Vec<Option<Function>>,
}

/// Validates the returned table.
///
/// The values the script hands over (the initial `context`, configs of named
/// parts) are copied within `max_bytes` in all (see [`script_table_to_value`]).
///
/// A valid table is read through the C API in one protected call
/// ([`raw_read`]); anything that path does not accept is read again by
/// [`parse_checked`], which gives every error message.
pub(crate) fn parse(
    lua: &Lua,
    script: &str,
    value: mlua::Value,
    max_bytes: usize,
) -> Result<(Spec, Functions), LoadError> {
    match raw_read::parse_valid(lua, script, &value, max_bytes) {
        Some(parsed) => Ok(parsed),
        None => parse_checked(lua, script, value, max_bytes),
    }
}

/// [`parse`] through mlua's values, every rule checked in turn: the path
/// that names what is wrong (and the reference the fast path is tested against).
fn parse_checked(
    lua: &Lua,
    script: &str,
    value: mlua::Value,
    max_bytes: usize,
) -> Result<(Spec, Functions), LoadError> {
    let budget = Cell::new(max_bytes);
    let budget = Budget { left: &budget, max_bytes };
    let mlua::Value::Table(table) = value else {
        return Err(LoadError::invalid(script, "", format!("the script must return a table, got {}", kind_of(&value))));
    };
    let mut spec = Spec::empty();
    let mut functions = Functions { handlers: Vec::new(), middleware: Vec::new() };
    let mut saw_events = false;
    for (key, value) in entries(script, &"", &table)? {
        let Some(key) = key else {
            return Err(LoadError::invalid(script, "", format!("unexpected list entry; expected the keys {TOP_KEYS}")));
        };
        match key.as_str() {
            "name" => spec.name = Some(string(script, &"name", &value)?),
            "fault_tolerance" => {
                let text = string(script, &"fault_tolerance", &value)?;
                spec.mode = FaultToleranceMode::from_str(&text)
                    .map_err(|e| LoadError::invalid(script, "fault_tolerance", e.to_string()))?;
            }
            "context" => spec.context = context(script, &value, budget)?,
            "limits" => spec.limits = limits(script, &value)?,
            "middleware" => {
                let (list, len) = list(script, "middleware", &value)?;
                if len > MAX_MIDDLEWARE {
                    return Err(LoadError::invalid(
                        script,
                        "middleware",
                        format!("{len} middleware; at most {MAX_MIDDLEWARE} (each nests the next call)"),
                    ));
                }
                for i in 1..=len {
                    let (m, f) = middleware(script, i, item(script, "middleware", &list, i)?, budget)?;
                    spec.middleware.push(m);
                    functions.middleware.push(f);
                }
                let lua_count = functions.middleware.iter().flatten().count();
                if lua_count > MAX_LUA_MIDDLEWARE {
                    return Err(LoadError::invalid(
                        script,
                        "middleware",
                        format!(
                            "{lua_count} middleware written in Lua; at most {MAX_LUA_MIDDLEWARE} \
                             (each nests a Lua call inside the previous one)"
                        ),
                    ));
                }
            }
            "events" => {
                saw_events = true;
                let (list, len) = list(script, "events", &value)?;
                for i in 1..=len {
                    let (e, f) = event(script, i, item(script, "events", &list, i)?, budget)?;
                    spec.events.push(e);
                    functions.handlers.push(registered(lua, script, f)?);
                }
            }
            other => {
                return Err(LoadError::invalid(script, other, format!("unknown key (expected one of {TOP_KEYS})")));
            }
        }
    }
    if !saw_events {
        return Err(LoadError::invalid(script, "", "missing `events`"));
    }
    Ok((spec, functions))
}

/// Takes this VM's functions from a table already validated as `spec` (another thread's VM).
///
/// Read through the C API in one protected call ([`raw_extract`]); when the
/// table is not what `spec` says, [`extract_checked`] names the difference.
pub(crate) fn extract(lua: &Lua, script: &str, value: mlua::Value, spec: &Spec) -> Result<Functions, LoadError> {
    match raw_extract::extract_valid(lua, script, &value, spec) {
        Some(functions) => Ok(functions),
        None => extract_checked(lua, script, value, spec),
    }
}

/// [`extract`] through mlua's values, every position checked in turn.
fn extract_checked(lua: &Lua, script: &str, value: mlua::Value, spec: &Spec) -> Result<Functions, LoadError> {
    let changed = |path: &str| {
        LoadError::invalid(script, path, "the script returned a different table on this thread (is it deterministic?)")
    };
    let mlua::Value::Table(table) = value else { return Err(changed("")) };
    let get = |t: &Table, key: &str| -> Result<mlua::Value, LoadError> { t.raw_get(key).map_err(|_| changed(key)) };
    let mut functions = Functions { handlers: Vec::new(), middleware: Vec::new() };
    let events = get(&table, "events")?;
    for (i, e) in spec.events.iter().enumerate() {
        let path = format!("events[{}]", i + 1);
        functions.handlers.push(match e {
            EventSpec::Rust { .. } => None,
            EventSpec::Lua { .. } => {
                let entry = match &events {
                    mlua::Value::Table(t) => t.raw_get::<mlua::Value>(i + 1).ok(),
                    _ => None,
                };
                match entry {
                    Some(mlua::Value::Table(t)) => match t.raw_get::<mlua::Value>("handler") {
                        Ok(mlua::Value::Function(f)) => registered(lua, script, Some(f))?,
                        _ => return Err(changed(&path)),
                    },
                    _ => return Err(changed(&path)),
                }
            }
        });
    }
    let middleware = get(&table, "middleware")?;
    for (i, m) in spec.middleware.iter().enumerate() {
        functions.middleware.push(match m {
            MiddlewareSpec::Named { .. } => None,
            MiddlewareSpec::Lua { .. } => match &middleware {
                mlua::Value::Table(t) => match t.raw_get::<mlua::Value>(i + 1) {
                    Ok(mlua::Value::Function(f)) => Some(f),
                    _ => return Err(changed(&format!("middleware[{}]", i + 1))),
                },
                _ => return Err(changed("middleware")),
            },
        });
    }
    Ok(functions)
}

/// The `(key, value)` pairs of a table: `Some(key)` for string keys, `None` for list entries.
fn entries(script: &str, path: &dyn Display, table: &Table) -> Result<Vec<(Option<String>, mlua::Value)>, LoadError> {
    let mut out = Vec::new();
    let mut bad = None;
    table
        .for_each(|k: mlua::Value, v: mlua::Value| {
            match &k {
                mlua::Value::String(s) => match s.to_str() {
                    Ok(key) => out.push((Some(key.to_owned()), v)),
                    Err(_) => bad = bad.take().or(Some("a key is not valid UTF-8".to_owned())),
                },
                mlua::Value::Integer(_) => out.push((None, v)),
                other => bad = bad.take().or(Some(format!("unexpected key of type {}", other.type_name()))),
            }
            Ok(())
        })
        .map_err(|e| LoadError::invalid(script, path.to_string(), e.to_string()))?;
    match bad {
        Some(message) => Err(LoadError::invalid(script, path.to_string(), message)),
        None => Ok(out),
    }
}

/// A Lua list (keys exactly `1..n`) and its length `n`. Its items are read
/// one at a time with [`item`] (a script may have any number of them).
fn list(script: &str, path: &str, value: &mlua::Value) -> Result<(Table, usize), LoadError> {
    let mlua::Value::Table(t) = value else {
        return Err(LoadError::invalid(script, path, format!("expected a list, got {}", kind_of(value))));
    };
    let len = t.raw_len();
    let mut count = 0usize;
    t.for_each(|_: mlua::Value, _: mlua::Value| {
        count += 1;
        Ok(())
    })
    .map_err(|e| LoadError::invalid(script, path, e.to_string()))?;
    if count != len {
        return Err(LoadError::invalid(script, path, "expected a list (entries 1..n without other keys)"));
    }
    Ok((t.clone(), len))
}

/// Item `i` of a [`list`].
fn item(script: &str, path: &str, list: &Table, i: usize) -> Result<mlua::Value, LoadError> {
    list.raw_get(i).map_err(|e| LoadError::invalid(script, path, e.to_string()))
}

/// A handler moved into the registry (see [`Functions`]).
fn registered(lua: &Lua, script: &str, f: Option<Function>) -> Result<Option<RegistryKey>, LoadError> {
    f.map(|f| lua.create_registry_value(f))
        .transpose()
        .map_err(|e| LoadError::Vm { script: script.to_owned(), message: e.to_string() })
}

/// A string value; `path` (formatted only for a message) names where it is.
fn string(script: &str, path: &dyn Display, value: &mlua::Value) -> Result<String, LoadError> {
    match value {
        mlua::Value::String(s) => s
            .to_str()
            .map(|s| s.to_owned())
            .map_err(|_| LoadError::invalid(script, path.to_string(), "string is not valid UTF-8")),
        other => {
            Err(LoadError::invalid(script, path.to_string(), format!("expected a string, got {}", kind_of(other))))
        }
    }
}

/// The path of a list entry (`events[2]`), formatted only for a message or
/// a label: parsing a valid script formats none.
#[derive(Clone, Copy)]
struct Entry(&'static str, usize);

impl Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

/// The bytes the script's values may still take when copied, shared by all of them.
#[derive(Clone, Copy)]
struct Budget<'a> {
    left: &'a Cell<usize>,
    max_bytes: usize,
}

impl Budget<'_> {
    /// `value` (found at `path`) as a context value, within the budget.
    fn convert(self, script: &str, path: &str, value: &mlua::Value) -> Result<Value, LoadError> {
        script_table_to_value(value, self.left).map_err(|e| {
            let message = if e.too_big {
                format!(
                    "the values the script passes to the host are too large: copied, they take more than {} \
                     (a table referenced from several places is copied once per reference)",
                    crate::limits::describe_bytes(Some(self.max_bytes))
                )
            } else {
                e.message.clone()
            };
            LoadError::invalid(script, "", crate::convert::ConvertError { message, ..e }.at(path))
        })
    }
}

fn context(script: &str, value: &mlua::Value, budget: Budget<'_>) -> Result<Map, LoadError> {
    if !matches!(value, mlua::Value::Table(_)) {
        return Err(LoadError::invalid(script, "context", format!("expected a table, got {}", kind_of(value))));
    }
    match budget.convert(script, "context", value)? {
        Value::Map(map) => Ok(map),
        _ => Err(LoadError::invalid(script, "context", "expected a table with string keys, got a list")),
    }
}

fn limits(script: &str, value: &mlua::Value) -> Result<Limits, LoadError> {
    let mlua::Value::Table(t) = value else {
        return Err(LoadError::invalid(script, "limits", format!("expected a table, got {}", kind_of(value))));
    };
    let mut limits = Limits::UNLIMITED;
    for (key, value) in entries(script, &"limits", t)? {
        let Some(key) = key else {
            return Err(LoadError::invalid(script, "limits", format!("unexpected list entry; expected {LIMIT_KEYS}")));
        };
        let path = format!("limits.{key}");
        let number = match value {
            mlua::Value::Integer(i) if i > 0 => i as f64,
            mlua::Value::Number(n) if n > 0.0 && n.is_finite() => n,
            mlua::Value::Integer(i) => {
                return Err(LoadError::invalid(script, &path, format!("expected a positive number, got {i}")));
            }
            mlua::Value::Number(n) => {
                return Err(LoadError::invalid(script, &path, format!("expected a positive number, got {n:?}")));
            }
            other => {
                return Err(LoadError::invalid(
                    script,
                    &path,
                    format!("expected a positive number, got {}", kind_of(&other)),
                ));
            }
        };
        match key.as_str() {
            "instructions" => limits.instructions = Some(whole_u64(number)),
            "memory_mb" => {
                limits.memory_bytes = Some(usize::try_from(whole_u64(number * 1024.0 * 1024.0)).unwrap_or(usize::MAX))
            }
            "timeout_ms" => limits.timeout = millis(number),
            _ => return Err(LoadError::invalid(script, &path, format!("unknown key (expected one of {LIMIT_KEYS})"))),
        }
    }
    Ok(limits)
}

/// A positive finite number rounded up to a whole count, saturating at `u64::MAX`.
fn whole_u64(number: f64) -> u64 {
    let up = number.ceil();
    // `u64::MAX as f64` rounds up to 2^64: anything at or above it is "as many as there are".
    if up >= u64::MAX as f64 { u64::MAX } else { up as u64 }
}

/// A positive finite number of milliseconds as a time cap; `None` (no cap of
/// the script's own: the host's applies) when it is too large for a `Duration`.
fn millis(number: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(number / 1000.0).ok()
}

/// The label of the Lua middleware at `index` (1-based) of `script`: its
/// place in the list and, when known, the line it is defined on.
fn lua_middleware_label(script: &str, index: usize, f: &Function) -> String {
    let line = f.info().line_defined.map(|l| format!(" ({script}:{l})")).unwrap_or_default();
    format!("{}{line}", Entry("middleware", index))
}

fn middleware(
    script: &str,
    index: usize,
    value: mlua::Value,
    budget: Budget<'_>,
) -> Result<(MiddlewareSpec, Option<Function>), LoadError> {
    let path = Entry("middleware", index);
    match value {
        mlua::Value::String(_) => {
            Ok((MiddlewareSpec::Named { name: string(script, &path, &value)?, config: Value::Nil }, None))
        }
        mlua::Value::Function(f) => {
            Ok((MiddlewareSpec::Lua { label: lua_middleware_label(script, index, &f) }, Some(f)))
        }
        mlua::Value::Table(t) => {
            let mut name = None;
            let mut config = Map::default();
            for (key, value) in entries(script, &path, &t)? {
                match key {
                    None => {
                        if name.is_some() || !matches!(t.raw_get::<mlua::Value>(1), Ok(mlua::Value::String(_))) {
                            return Err(LoadError::invalid(
                                script,
                                path.to_string(),
                                "expected { \"name\", key = value, ... }: the name first, then string keys",
                            ));
                        }
                        name = Some(string(script, &format_args!("{path}[1]"), &value)?);
                    }
                    Some(key) => {
                        let v = budget.convert(script, &format!("{path}.{key}"), &value)?;
                        config.insert(key, v);
                    }
                }
            }
            let name =
                name.ok_or_else(|| LoadError::invalid(script, path.to_string(), "missing the middleware name at [1]"))?;
            let config = if config.is_empty() { Value::Nil } else { Value::Map(config) };
            Ok((MiddlewareSpec::Named { name, config }, None))
        }
        other => Err(LoadError::invalid(
            script,
            path.to_string(),
            format!("expected a name, a {{ name, key = value }} table or a function, got {}", kind_of(&other)),
        )),
    }
}

fn event(
    script: &str,
    index: usize,
    value: mlua::Value,
    budget: Budget<'_>,
) -> Result<(EventSpec, Option<Function>), LoadError> {
    let path = Entry("events", index);
    let mlua::Value::Table(t) = value else {
        return Err(LoadError::invalid(script, path.to_string(), format!("expected a table, got {}", kind_of(&value))));
    };
    let mut name = None;
    let mut handler = None;
    let mut rust = None;
    let mut extra = Vec::new();
    for (key, value) in entries(script, &path, &t)? {
        let Some(key) = key else {
            return Err(LoadError::invalid(
                script,
                path.to_string(),
                "unexpected list entry; expected name = ..., handler = ... or rust = ...",
            ));
        };
        match key.as_str() {
            "name" => name = Some(string(script, &format_args!("{path}.name"), &value)?),
            "rust" => rust = Some(string(script, &format_args!("{path}.rust"), &value)?),
            "handler" => match value {
                mlua::Value::Function(f) => handler = Some(f),
                other => {
                    return Err(LoadError::invalid(
                        script,
                        format!("{path}.handler"),
                        format!("expected a function, got {}", kind_of(&other)),
                    ));
                }
            },
            _ => extra.push((key, value)),
        }
    }
    let name = match name {
        Some(n) if !n.is_empty() => n,
        Some(_) => return Err(LoadError::invalid(script, format!("{path}.name"), "must not be empty")),
        None => return Err(LoadError::invalid(script, path.to_string(), "missing `name`")),
    };
    match (handler, rust) {
        (Some(_), Some(_)) => Err(LoadError::invalid(
            script,
            path.to_string(),
            "has both `handler` and `rust`; an event is one or the other",
        )),
        (None, None) => Err(LoadError::invalid(script, path.to_string(), "missing `handler` or `rust`")),
        (Some(f), None) => match extra.first() {
            Some((key, _)) => Err(LoadError::invalid(
                script,
                format!("{path}.{key}"),
                "unknown key (a Lua event takes `name` and `handler`)",
            )),
            None => Ok((EventSpec::Lua { name }, Some(f))),
        },
        (None, Some(rust)) => {
            let mut config = Map::default();
            for (key, value) in extra {
                let v = budget.convert(script, &format!("{path}.{key}"), &value)?;
                config.insert(key, v);
            }
            let config = if config.is_empty() { Value::Nil } else { Value::Map(config) };
            Ok((EventSpec::Rust { name, rust, config }, None))
        }
    }
}

/// "a string", "nil", ... for messages.
fn kind_of(value: &mlua::Value) -> &'static str {
    match value {
        mlua::Value::Nil => "nil",
        mlua::Value::Boolean(_) => "a boolean",
        mlua::Value::Integer(_) | mlua::Value::Number(_) => "a number",
        mlua::Value::String(_) => "a string",
        mlua::Value::Table(_) => "a table",
        mlua::Value::Function(_) => "a function",
        _ => "a value of another type",
    }
}
