//! The test file format: a Lua file (`NAME.test.lua`) returning
//! `{ script = "NAME.lua", cases = { ... } }` (see docs/script-testing.md).

use std::path::{Path, PathBuf};

use eventchains_core::{Map, Value};
use mlua::Lua;

use super::lua_value::to_value;

/// A loaded test file.
#[derive(Debug)]
pub struct TestFile {
    /// The test file.
    pub path: PathBuf,
    /// The chain script under test.
    pub script: PathBuf,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// The input context (merged over the script's `context`, like `--context`).
    pub context: Map,
    /// Replaced host functions, by name.
    pub functions: Vec<(String, FunctionMock)>,
    /// Replaced named Rust events, by registry name.
    pub events: Vec<(String, EventMock)>,
    /// What the run must give.
    pub expect: Expect,
}

/// What a replaced host function does on each call.
#[derive(Clone, Debug)]
pub enum FunctionMock {
    /// Returns these values on every call.
    Returns(Vec<Value>),
    /// Returns the n-th list on the n-th call (the last one after that).
    Sequence(Vec<Vec<Value>>),
    /// Raises this error.
    Error(String),
}

/// What a replaced named Rust event does.
#[derive(Clone, Debug)]
pub struct EventMock {
    /// Values it writes into the context.
    pub set: Map,
    /// The failure message it returns, if any (after writing `set`).
    pub fail: Option<String>,
}

/// The expectations of a case (each optional).
#[derive(Debug, Default)]
pub struct Expect {
    /// `completed`, `completed_with_warnings` or `failed`.
    pub status: Option<String>,
    /// The failures, in order; `message` is a Lua pattern.
    pub failures: Option<Vec<ExpectedFailure>>,
    /// A subset of the final context.
    pub context: Option<Value>,
    /// Calls of replaced parts: a list of argument lists, or a count.
    pub calls: Vec<(String, Value)>,
}

/// One expected failure.
#[derive(Debug)]
pub struct ExpectedFailure {
    /// The event's name.
    pub event: Option<String>,
    /// The kind (`event`, `timeout`, `limit_exceeded`...).
    pub kind: Option<String>,
    /// A Lua pattern the message must match (`string.find`).
    pub message: Option<String>,
}

/// Why a test file is invalid (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TestFileError {
    /// The test file.
    pub path: String,
    /// What is wrong, with the key path.
    pub message: String,
}

const STATUSES: [&str; 3] = ["completed", "completed_with_warnings", "failed"];

/// Loads and validates a test file in `lua` (the runner's VM, no host access).
pub fn load(lua: &Lua, path: &Path) -> Result<TestFile, TestFileError> {
    let err = |message: String| TestFileError { path: path.display().to_string(), message };
    let source = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let chunk_name = format!("@{}", path.display());
    let value: mlua::Value = lua.load(&source).set_name(chunk_name).eval().map_err(|e| err(e.to_string()))?;
    let root = to_value(&value).map_err(|e| err(format!("the file must return plain data: {e}")))?;
    let root = root.as_map().ok_or_else(|| err("the file must return a table".to_owned()))?;
    check_keys(root, "", &["script", "cases"]).map_err(err)?;
    let script_name = match root.get("script") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(err(format!("script: expected a string, got {}", other.type_name()))),
        None => default_script(path)
            .ok_or_else(|| err("no `script`, and the file is not named NAME.test.lua".to_owned()))?,
    };
    let script = path.parent().unwrap_or(Path::new(".")).join(script_name);
    let cases = match root.get("cases") {
        Some(Value::Array(cases)) => cases,
        Some(Value::Map(m)) if m.is_empty() => return Err(err("cases: the list is empty".to_owned())),
        _ => return Err(err("cases: expected a list of cases".to_owned())),
    };
    let cases = cases.iter().enumerate().map(|(i, c)| case(c, &format!("cases[{}]", i + 1))).collect::<Result<_, _>>();
    Ok(TestFile { path: path.to_path_buf(), script, cases: cases.map_err(err)? })
}

fn default_script(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".test.lua").map(|stem| format!("{stem}.lua"))
}

fn check_keys(map: &Map, at: &str, allowed: &[&str]) -> Result<(), String> {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = eventchains_core::closest_name(key, allowed.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err(format!("{at}{key}: unknown key{hint}; expected one of {}", allowed.join(", ")));
        }
    }
    Ok(())
}

fn map_at<'a>(value: Option<&'a Value>, at: &str) -> Result<Option<&'a Map>, String> {
    match value {
        None => Ok(None),
        Some(Value::Map(m)) => Ok(Some(m)),
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        Some(other) => Err(format!("{at}: expected a table, got {}", other.type_name())),
    }
}

fn string_at(value: Option<&Value>, at: &str) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{at}: expected a string, got {}", other.type_name())),
    }
}

fn case(value: &Value, at: &str) -> Result<Case, String> {
    let map = value.as_map().ok_or_else(|| format!("{at}: expected a table"))?;
    check_keys(map, &format!("{at}."), &["name", "context", "mocks", "expect"])?;
    let name = string_at(map.get("name"), &format!("{at}.name"))?.ok_or_else(|| format!("{at}: missing `name`"))?;
    let at = format!("{at} ({name})");
    let context = map_at(map.get("context"), &format!("{at}.context"))?.cloned().unwrap_or_default();
    let mut functions = Vec::new();
    let mut events = Vec::new();
    if let Some(mocks) = map_at(map.get("mocks"), &format!("{at}.mocks"))? {
        check_keys(mocks, &format!("{at}.mocks."), &["functions", "events"])?;
        for (fname, spec) in map_at(mocks.get("functions"), &format!("{at}.mocks.functions"))?.into_iter().flatten() {
            functions.push((fname.clone(), function_mock(spec, &format!("{at}.mocks.functions.{fname}"))?));
        }
        for (ename, spec) in map_at(mocks.get("events"), &format!("{at}.mocks.events"))?.into_iter().flatten() {
            let p = format!("{at}.mocks.events.{ename}");
            let spec = map_at(Some(spec), &p)?.cloned().unwrap_or_default();
            check_keys(&spec, &format!("{p}."), &["set", "fail"])?;
            let set = map_at(spec.get("set"), &format!("{p}.set"))?.cloned().unwrap_or_default();
            events.push((ename.clone(), EventMock { set, fail: string_at(spec.get("fail"), &format!("{p}.fail"))? }));
        }
    }
    let expect = match map_at(map.get("expect"), &format!("{at}.expect"))? {
        Some(e) => expect(e, &format!("{at}.expect"))?,
        None => Expect::default(),
    };
    Ok(Case { name, context, functions, events, expect })
}

fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Map(m) if m.is_empty() => Vec::new(),
        other => vec![other.clone()],
    }
}

fn function_mock(spec: &Value, at: &str) -> Result<FunctionMock, String> {
    let spec = spec
        .as_map()
        .ok_or_else(|| format!("{at}: expected {{ returns = ... }}, {{ sequence = ... }} or {{ error = ... }}"))?;
    check_keys(spec, &format!("{at}."), &["returns", "sequence", "error"])?;
    match (spec.get("returns"), spec.get("sequence"), spec.get("error")) {
        (Some(r), None, None) => Ok(FunctionMock::Returns(list(r))),
        (None, Some(Value::Array(calls)), None) if !calls.is_empty() => {
            Ok(FunctionMock::Sequence(calls.iter().map(list).collect()))
        }
        (None, None, Some(Value::String(e))) => Ok(FunctionMock::Error(e.clone())),
        (None, None, None) => Ok(FunctionMock::Returns(Vec::new())),
        _ => Err(format!(
            "{at}: give one of `returns` (values), `sequence` (a non-empty list of value lists) or `error` (a string)"
        )),
    }
}

fn expect(map: &Map, at: &str) -> Result<Expect, String> {
    check_keys(map, &format!("{at}."), &["status", "failures", "context", "calls"])?;
    let status = string_at(map.get("status"), &format!("{at}.status"))?;
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(format!("{at}.status: expected one of {}, got {s:?}", STATUSES.join(", ")));
    }
    let failures = match map.get("failures") {
        None => None,
        Some(v) => Some(
            list(v)
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let p = format!("{at}.failures[{}]", i + 1);
                    let f = f
                        .as_map()
                        .ok_or_else(|| format!("{p}: expected {{ event = ..., kind = ..., message = ... }}"))?;
                    check_keys(f, &format!("{p}."), &["event", "kind", "message"])?;
                    Ok(ExpectedFailure {
                        event: string_at(f.get("event"), &format!("{p}.event"))?,
                        kind: string_at(f.get("kind"), &format!("{p}.kind"))?,
                        message: string_at(f.get("message"), &format!("{p}.message"))?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
    };
    let context = map.get("context").cloned();
    let calls = map_at(map.get("calls"), &format!("{at}.calls"))?
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Expect { status, failures, context, calls })
}
