//! `eventchains check`: load and build a script without running it, and list
//! what it is made of (each named middleware with its effective config).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use eventchains_core::Value;

use crate::{CliError, builder};

/// Loads `script`, prints its events, its middleware (named ones with the
/// config they run with, defaults filled in from their schema) and its limits.
pub fn check(script: &Path) -> Result<ExitCode, CliError> {
    let builder = builder();
    let chain = builder.load_file(script)?;
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
    Ok(ExitCode::SUCCESS)
}

/// A config as one line of JSON (`{}` for none).
fn compact(config: &Value) -> String {
    match config {
        Value::Nil => "{}".to_owned(),
        other => other.to_json().to_string(),
    }
}
