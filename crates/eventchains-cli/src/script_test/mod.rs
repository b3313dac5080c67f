//! `eventchains test`: runs Lua test files (`NAME.test.lua`) against chain
//! scripts with replaced host functions and named Rust events, and reports
//! like `cargo test` (or JUnit XML). See docs/script-testing.md.

mod compare;
mod lua_value;
mod report;
mod test_file;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventchains_core::{EventError, FnEvent, Value};
use mlua::Lua;

use crate::CliError;
use crate::cli::TestArgs;
use crate::host::{builder_with, host_registries};
use lua_value::{Data, to_value};
pub use report::{CaseOutcome, Report};
use test_file::{Case, EventMock, FunctionMock, TestFile};

/// Runs the test files under `args.paths` (once, or again on every change with `--watch`).
pub fn run(args: &TestArgs) -> Result<ExitCode, CliError> {
    if !args.watch {
        return run_once(args);
    }
    let mut last = None;
    loop {
        let files = test_files(&args.paths)?;
        let stamp = stamps(&files);
        if last.as_ref() != Some(&stamp) {
            if last.is_some() {
                eprintln!("[watch] change detected; running the tests again");
            }
            if let Err(e) = run_once(args) {
                eprintln!("error: {e}");
            }
            eprintln!("[watch] waiting for changes (Ctrl-C to stop)");
            last = Some(stamp);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What `--watch` compares between two polls: the contents (hashed) of the
/// test files and their scripts, so a change is seen whatever the file
/// system's time resolution.
fn stamps(files: &[PathBuf]) -> Vec<Option<u64>> {
    let digest = |p: &Path| {
        std::fs::read(p).ok().map(|bytes| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&bytes, &mut hasher);
            std::hash::Hasher::finish(&hasher)
        })
    };
    let mut out = Vec::new();
    for f in files {
        out.push(digest(f));
        if let Some(stem) = f.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".test.lua")) {
            out.push(digest(&f.with_file_name(format!("{stem}.lua"))));
        }
    }
    out
}

fn run_once(args: &TestArgs) -> Result<ExitCode, CliError> {
    let files = test_files(&args.paths)?;
    if files.is_empty() {
        return Err(CliError::Args("no test files (*.test.lua) found".to_owned()));
    }
    let lua = Lua::new();
    let mut report = Report::default();
    for path in &files {
        let file = test_file::load(&lua, path).map_err(|e| CliError::Args(e.to_string()))?;
        for case in &file.cases {
            if args.filter.as_ref().is_some_and(|f| !case.name.contains(f.as_str())) {
                continue;
            }
            report.push(run_case(&lua, &file, case));
        }
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        crate::cli::TestFormat::Text => report.write_text(&mut stdout)?,
        crate::cli::TestFormat::Junit => report.write_junit(&mut stdout)?,
    }
    Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The test files named by `paths`: files as given, directories searched for `*.test.lua`.
fn test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    let default = [PathBuf::from(".")];
    for path in if paths.is_empty() { &default[..] } else { paths } {
        if path.is_dir() {
            collect(path, &mut out).map_err(|e| CliError::Args(format!("{}: {e}", path.display())))?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(CliError::Args(format!("{}: no such file or directory", path.display())));
        }
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() && !name.starts_with('.') && name != "target" {
            collect(&path, out)?;
        } else if name.ends_with(".test.lua") {
            out.push(path);
        }
    }
    Ok(())
}

/// The calls of the replaced parts: per name, a list of argument lists.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

fn record(calls: &Calls, name: &str, args: Value) {
    let mut calls = calls.lock().unwrap_or_else(|p| p.into_inner());
    match calls.iter_mut().find(|(n, _)| n == name) {
        Some((_, Value::Array(list))) => list.push(args),
        _ => calls.push((name.to_owned(), Value::Array(vec![args]))),
    }
}

fn run_case(lua: &Lua, file: &TestFile, case: &Case) -> CaseOutcome {
    let started = Instant::now();
    let calls: Calls = Arc::default();
    let (middleware, mut events) = host_registries();
    for (name, mock) in &case.events {
        install_event_mock(&mut events, name, mock.clone(), calls.clone());
    }
    let mut builder = builder_with(middleware, events);
    for (name, mock) in &case.functions {
        builder = install_function_mock(builder, name, mock.clone(), calls.clone());
    }
    let outcome = |differences: Vec<String>| CaseOutcome {
        file: file.path.display().to_string(),
        name: case.name.clone(),
        differences,
        duration: started.elapsed(),
    };
    let chain = match builder.load_file(&file.script) {
        Ok(chain) => chain,
        Err(e) => return outcome(vec![format!("the script did not load: {e}")]),
    };
    let mut ctx = chain.context_with(case.context.clone());
    let result = chain.execute(&mut ctx);
    let context = Value::from_json(ctx.to_json());
    let calls = calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let matches = |message: &str, pattern: &str| {
        lua.globals()
            .get::<mlua::Table>("string")
            .and_then(|s| s.get::<mlua::Function>("find"))
            .and_then(|find| find.call::<Option<i64>>((message, pattern)))
            .ok()
            .flatten()
            .is_some()
    };
    let mut differences = compare::differences(&case.expect, &result, &context, &calls, &matches);
    if !differences.is_empty() {
        // The whole outcome helps to read the differences.
        differences.push(format!("(the run: status {:?}", result.status().as_str()));
        for f in result.failures() {
            differences.push(format!("  failure of `{}` ({}): {}", f.event(), f.kind().as_str(), f.message()));
        }
        differences.push(format!("  context {})", ctx.to_json()));
    }
    outcome(differences)
}

fn install_event_mock(events: &mut eventchains_core::EventRegistry, name: &str, mock: EventMock, calls: Calls) {
    let event_name = name.to_owned();
    events.register_raw(name, move |_config| {
        let (mock, calls, name) = (mock.clone(), calls.clone(), event_name.clone());
        Ok(Arc::new(FnEvent::new(name.clone(), move |ctx| {
            record(&calls, &name, Value::Array(Vec::new()));
            for (k, v) in &mock.set {
                ctx.set(k.as_str(), v.clone());
            }
            match &mock.fail {
                Some(message) => Err(EventError::new(message.clone())),
                None => Ok(()),
            }
        })))
    });
}

fn install_function_mock(
    builder: eventchains_lua::LuaChainBuilder,
    name: &str,
    mock: FunctionMock,
    calls: Calls,
) -> eventchains_lua::LuaChainBuilder {
    let fn_name = name.to_owned();
    builder.register_fallible_fn(name, move |args: mlua::MultiValue| -> Result<mlua::Variadic<Data>, String> {
        let args: Vec<Value> =
            args.iter().map(|a| to_value(a).unwrap_or_else(|e| Value::String(format!("<{e}>")))).collect();
        let call = {
            let calls = calls.lock().unwrap_or_else(|p| p.into_inner());
            calls.iter().find(|(n, _)| *n == fn_name).and_then(|(_, v)| v.as_array().map(Vec::len)).unwrap_or(0)
        };
        record(&calls, &fn_name, Value::Array(args));
        let values = match &mock {
            FunctionMock::Returns(values) => values.clone(),
            FunctionMock::Sequence(lists) => lists.get(call).or(lists.last()).cloned().unwrap_or_default(),
            FunctionMock::Error(message) => return Err(message.clone()),
        };
        Ok(values.into_iter().map(Data).collect())
    })
}
