//! [`LoadError`]: why a script could not be loaded, validated or built.

use std::path::PathBuf;

use eventchains_core::RegistryError;

/// Why a chain script could not be loaded, validated or built into a chain.
///
/// Every message names the script (its file name or the name given to
/// [`load_str`](crate::LuaChainBuilder::load_str)) and, where it applies, the
/// line or the key path inside the returned table:
///
/// ```
/// use eventchains_lua::LuaChainBuilder;
/// let err = LuaChainBuilder::new()
///     .load_str("orders.lua", "return { events = { { name = 'a' }, { name = 'b' } } }")
///     .unwrap_err();
/// assert_eq!(err.to_string(), "orders.lua: events[1]: missing `handler` or `rust`");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The script file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that was read.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The script is not valid Lua.
    #[error("{script}:{line}: syntax error: {message}")]
    Syntax {
        /// The script's name.
        script: String,
        /// The line of the error (0 when Lua did not say).
        line: u32,
        /// Lua's message, without the position prefix.
        message: String,
    },
    /// The script's top-level code raised an error while building its table.
    #[error("{script}: error while running the script: {message}")]
    Runtime {
        /// The script's name.
        script: String,
        /// Lua's message (with `script:line:` when Lua gave a position).
        message: String,
    },
    /// The script's top-level code hit a limit (instructions, time, memory).
    #[error("{script}: {message} while running the script")]
    Limit {
        /// The script's name.
        script: String,
        /// Which limit, e.g. "instruction limit of 1000 exceeded".
        message: String,
    },
    /// The returned table does not follow the script format.
    #[error("{script}: {}{message}", path_prefix(path))]
    Invalid {
        /// The script's name.
        script: String,
        /// The key path inside the returned table, e.g. `events[2].handler` (empty for the table itself).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A named Rust middleware or event is unknown or rejected its config.
    #[error("{script}: {path}: {source}")]
    Registry {
        /// The script's name.
        script: String,
        /// The key path of the entry, e.g. `middleware[1]`.
        path: String,
        /// The registry's error.
        source: RegistryError,
    },
    /// The Lua VM could not be set up (out of memory, engine error).
    #[error("{script}: could not set up the Lua VM: {message}")]
    Vm {
        /// The script's name.
        script: String,
        /// The engine's message.
        message: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() { String::new() } else { format!("{path}: ") }
}

impl LoadError {
    /// The script's name (or the file path for [`LoadError::Io`]).
    pub fn script(&self) -> String {
        match self {
            LoadError::Io { path, .. } => path.display().to_string(),
            LoadError::Syntax { script, .. }
            | LoadError::Runtime { script, .. }
            | LoadError::Limit { script, .. }
            | LoadError::Invalid { script, .. }
            | LoadError::Registry { script, .. }
            | LoadError::Vm { script, .. } => script.clone(),
        }
    }

    /// The line of a syntax error, if this is one and Lua gave it.
    pub fn line(&self) -> Option<u32> {
        match self {
            LoadError::Syntax { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }

    pub(crate) fn invalid(script: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        LoadError::Invalid { script: script.to_owned(), path: path.into(), message: message.into() }
    }

    /// Turns a syntax error message `name:LINE: text` into its parts.
    pub(crate) fn syntax(script: &str, raw: &str) -> Self {
        let prefix = format!("{script}:");
        let (line, message) = raw
            .strip_prefix(&prefix)
            .and_then(|rest| {
                let (num, text) = rest.split_once(':')?;
                Some((num.trim().parse::<u32>().ok()?, text.trim_start().to_owned()))
            })
            .unwrap_or((0, raw.to_owned()));
        LoadError::Syntax { script: script.to_owned(), line, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_messages_are_split_into_line_and_text() {
        let e = LoadError::syntax("orders.lua", "orders.lua:12: unexpected symbol near 'x'");
        assert_eq!(e.line(), Some(12));
        assert_eq!(e.to_string(), "orders.lua:12: syntax error: unexpected symbol near 'x'");
        let odd = LoadError::syntax("a.lua", "something else");
        assert_eq!(odd.line(), None);
        assert_eq!(odd.to_string(), "a.lua:0: syntax error: something else");
    }

    #[test]
    fn invalid_without_path_has_no_empty_segment() {
        assert_eq!(LoadError::invalid("s.lua", "", "must return a table").to_string(), "s.lua: must return a table");
        assert_eq!(
            LoadError::invalid("s.lua", "events", "expected a list").to_string(),
            "s.lua: events: expected a list"
        );
    }
}
