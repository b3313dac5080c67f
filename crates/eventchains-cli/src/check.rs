//! `eventchains check`: load and build a script without running it, list
//! what it is made of (each named middleware with its effective config), and
//! warn about `ctx` keys that are read but that nothing sets.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use eventchains_core::{RegistryError, Value, closest_name};
use eventchains_lua::LoadError;

use crate::{CliError, builder, ctx_scan};

/// Loads `script`, prints its events, its middleware (named ones with the
/// config they run with, defaults filled in from their schema) and its
/// limits, then its warnings (stderr). Exit 0, or 1 with `deny_warnings` when
/// there are warnings; a script that does not load is exit 2 with the line
/// and column of a syntax error or the closest registered name of an unknown part.
pub fn check(script: &Path, deny_warnings: bool) -> Result<ExitCode, CliError> {
    let builder = builder();
    let chain = match builder.load_file(script) {
        Ok(chain) => chain,
        Err(e) => return Err(CliError::Check(explain(&e, script))),
    };
    let (registry, _) = builder.registries();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}: ok ({}, fault tolerance {})", chain.script_name(), chain.name(), chain.mode())?;
    writeln!(stdout, "events (in execution order):")?;
    for (i, name) in chain.event_names().iter().enumerate() {
        writeln!(stdout, "  {}. {name}", i + 1)?;
    }
    writeln!(stdout, "middleware (outermost first):")?;
    for (i, (name, named)) in chain.middleware_names().iter().zip(chain.middleware_configs()).enumerate() {
        match named {
            Some((registered, config)) => {
                let effective = registry.schema(registered).map_or_else(|| config.clone(), |s| s.with_defaults(config));
                writeln!(stdout, "  {}. {name} {}", i + 1, compact(&effective))?;
            }
            None => writeln!(stdout, "  {}. {name}", i + 1)?,
        }
    }
    let limits = chain.limits();
    writeln!(
        stdout,
        "limits: instructions {}, memory {}, timeout {}",
        limits.instructions.map_or("none".to_owned(), |n| n.to_string()),
        limits.memory_bytes.map_or("none".to_owned(), |b| format!("{} bytes", b)),
        limits.timeout.map_or("none".to_owned(), |t| format!("{} ms", t.as_millis())),
    )?;
    let keys = ctx_scan::scan(chain.source());
    let initial = chain.initial_context();
    let mut warnings = 0;
    for (key, line) in &keys.reads {
        if !initial.contains_key(key) && !keys.writes.contains(key) && !keys.declared.contains(key) {
            warnings += 1;
            eprintln!(
                "warning: {}:{line}: `ctx.{key}` is read, but the script's context does not have it and no Lua \
                 event writes it (if the caller or a Rust event sets it, declare it: `--! ctx: {key}`)",
                chain.script_name()
            );
        }
    }
    if warnings > 0 {
        writeln!(stdout, "{warnings} warning{}", if warnings == 1 { "" } else { "s" })?;
    }
    Ok(if warnings > 0 && deny_warnings { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A load error with what helps to fix it: the column of a syntax error (of
/// the token Lua names, found on the error's line) and the registered name
/// closest to an unknown one.
fn explain(error: &LoadError, script: &Path) -> String {
    match error {
        LoadError::Syntax { script: name, line, message } => {
            let source = std::fs::read_to_string(script).unwrap_or_default();
            match syntax_column(&source, *line, message) {
                Some(column) => format!("{name}:{line}:{column}: syntax error: {message}"),
                None => error.to_string(),
            }
        }
        LoadError::Registry { source: RegistryError::Unknown { name, registered, .. }, .. } => {
            match closest_name(name, registered.iter().map(String::as_str)) {
                Some(close) => format!("{error} (did you mean `{close}`?)"),
                None => error.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// The 1-based column of the token Lua's syntax error points at (`near 'x'`).
///
/// Lua gives only the line. Its parser reads left to right, so the shortest
/// prefix of the source that fails with the same message ends with that
/// token: found by bisection, compiling (never running) each prefix.
fn syntax_column(source: &str, line: u32, message: &str) -> Option<usize> {
    if message.ends_with("near <eof>") {
        let text = source.lines().nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
        return Some(text.chars().count() + 1);
    }
    let lua = mlua::Lua::new();
    let wanted = format!(":{line}: {message}");
    let same = |end: usize| match lua.load(&source[..end]).set_name("=s").into_function() {
        Err(mlua::Error::SyntaxError { message: m, .. }) => m.ends_with(&wanted),
        _ => false,
    };
    if !same(source.len()) {
        return None;
    }
    let (mut lo, mut hi) = (0, source.len());
    while lo < hi {
        let mut mid = lo + (hi - lo) / 2;
        while !source.is_char_boundary(mid) {
            mid += 1;
        }
        if mid >= hi {
            break;
        }
        if same(mid) { hi = mid } else { lo = mid + 1 }
    }
    // The lexer may have read a character past the token: take the token's
    // last occurrence in the prefix.
    let token = message.rsplit_once("near '").and_then(|(_, t)| t.strip_suffix('\''));
    let start = token.and_then(|t| source[..hi].rfind(t)).unwrap_or(hi);
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    Some(source[line_start..start].chars().count() + 1)
}

/// A config as one line of JSON (`{}` for none).
fn compact(config: &Value) -> String {
    match config {
        Value::Nil => "{}".to_owned(),
        other => other.to_json().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_get_the_column_of_their_token() {
        let src = "return {\n  events = {\n    { name = \"a\", handler = function(ctx) ctx.x = = 1 end },\n  },\n}\n";
        let message = "unexpected symbol near '='";
        assert_eq!(syntax_column(src, 3, message), Some(51));
        assert_eq!(&src.lines().nth(2).unwrap_or_default()[48..51], "= =");
        assert_eq!(syntax_column("return {\n  x = 1", 2, "'}' expected (to close '{' at line 1) near <eof>"), Some(8));
        assert_eq!(syntax_column("return 1", 1, "not this error"), None);
    }
}
