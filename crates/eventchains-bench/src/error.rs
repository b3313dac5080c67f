//! [`BenchError`]: what can go wrong while measuring or writing the report.

/// An error of the measurement suite.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A Lua VM call failed (a bug in a subject, not a measurement). Kept as
    /// text so that the error is `Send + Sync` (mlua's error is not, without
    /// its `error-send` feature).
    #[error("lua: {0}")]
    Lua(String),
    /// A subject did not do the seed chain's work correctly.
    #[error("{subject} computed the wrong result: {detail}")]
    WrongResult {
        /// The subject that was checked.
        subject: String,
        /// What it produced instead.
        detail: String,
    },
    /// Building a subject failed.
    #[error("building {subject}: {message}")]
    Build {
        /// The subject being built.
        subject: String,
        /// Why it failed.
        message: String,
    },
    /// Reading or writing a report file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A report file is not valid JSON.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Drawing the chart failed.
    #[error("chart: {0}")]
    Chart(String),
    /// The http load could not connect, send or read (not a slow answer: a broken one).
    #[error("http load: {0}")]
    Http(String),
    /// A helper process of the suite (e.g. `eventchains-bench-inflight`) failed or could not start.
    #[error("{program}: {message}")]
    Helper {
        /// The program.
        program: String,
        /// What went wrong (its stderr when it ran).
        message: String,
    },
    /// `--filter` named no scenario.
    #[error("no scenario named `{0}`; known: {1}")]
    UnknownScenario(String, String),
}

impl From<mlua::Error> for BenchError {
    fn from(e: mlua::Error) -> Self {
        BenchError::Lua(e.to_string())
    }
}
