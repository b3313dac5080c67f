//! `eventchains schema` and `eventchains types`: what script authors and
//! their editors learn about this host, generated from its registries.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use eventchains_core::closest_name;

use crate::{CliError, builder};

/// Prints the JSON Schema of the whole script format, or of the config of the
/// named middleware or event `name` (middleware first if both have it).
pub fn schema(name: Option<&str>) -> Result<ExitCode, CliError> {
    let builder = builder();
    let json = match name {
        None => builder.script_schema(),
        Some(name) => {
            let (middleware, events) = builder.registries();
            match middleware.schema(name).or_else(|| events.schema(name)) {
                Some(schema) => schema.json().clone(),
                None => {
                    let names: Vec<&str> = middleware.names().chain(events.names()).collect();
                    let hint = closest_name(name, names.iter().copied())
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    return Err(CliError::Args(format!(
                        "no middleware or event named `{name}`{hint}; registered: {}",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &json).map_err(std::io::Error::other)?;
    writeln!(stdout)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the editor definitions, or writes them into `out` and prints the file's path.
pub fn types(out: Option<&Path>) -> Result<ExitCode, CliError> {
    let definitions = builder().lua_definitions();
    let mut stdout = std::io::stdout().lock();
    match out {
        None => stdout.write_all(definitions.text().as_bytes())?,
        Some(dir) => {
            let path = definitions
                .write_to(dir)
                .map_err(|e| CliError::Args(format!("cannot write the definitions into {}: {e}", dir.display())))?;
            writeln!(stdout, "{}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
