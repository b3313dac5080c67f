//! [`Options`]: the command line of the `http-service` binary.

use std::path::PathBuf;
use std::str::FromStr;

/// How the binary serves the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving {
    /// `axum::serve` on a multi-thread runtime; each Lua execution is handed
    /// to one of `--workers` Lua worker threads ([`LuaWorkers`](crate::LuaWorkers)).
    Axum,
    /// [`serve_on_lua_threads`](crate::serve_on_lua_threads) with `--workers`
    /// Lua threads, each serving whole connections and running their Lua
    /// executions itself (no hand-off per request; the faster serving in
    /// `cargo xtask bench --filter async`).
    LuaThreads,
}

impl FromStr for Serving {
    type Err = OptionsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "axum" => Ok(Serving::Axum),
            "lua-threads" => Ok(Serving::LuaThreads),
            other => Err(OptionsError::Serving(other.to_owned())),
        }
    }
}

/// What the binary was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `--addr HOST:PORT` (default `127.0.0.1:8080`; port 0: any free port).
    pub addr: String,
    /// `--script PATH` (default: the crate's `scripts/orders.lua`).
    pub script: PathBuf,
    /// `--workers N` (default 2): Lua worker threads with `--serve axum`,
    /// Lua serving threads with `--serve lua-threads`.
    pub workers: usize,
    /// `--serve axum|lua-threads` (default `axum`).
    pub serving: Serving,
}

/// A command line the binary cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    /// An option without its value.
    #[error("`{0}` needs a value")]
    MissingValue(String),
    /// An argument that is no option.
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
    /// `--workers` that is not a count.
    #[error("--workers {0}: not a number of threads")]
    Workers(String),
    /// `--serve` that is neither `axum` nor `lua-threads`.
    #[error("--serve {0}: expected `axum` or `lua-threads`")]
    Serving(String),
}

impl Options {
    /// The usage line.
    pub const USAGE: &'static str =
        "usage: http-service [--addr HOST:PORT] [--script PATH] [--workers N] [--serve axum|lua-threads]";

    /// Reads the options from `args` (without the program name).
    ///
    /// ```
    /// use http_service::{Options, Serving};
    ///
    /// let args = ["--serve", "lua-threads", "--workers", "4"].map(String::from);
    /// let options = Options::parse(args).expect("valid");
    /// assert_eq!((options.serving, options.workers), (Serving::LuaThreads, 4));
    /// ```
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, OptionsError> {
        let mut options = Options {
            addr: "127.0.0.1:8080".to_owned(),
            script: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/orders.lua")),
            workers: 2,
            serving: Serving::Axum,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !matches!(arg.as_str(), "--addr" | "--script" | "--workers" | "--serve") {
                return Err(OptionsError::Unexpected(arg));
            }
            let value = args.next().ok_or_else(|| OptionsError::MissingValue(arg.clone()))?;
            match arg.as_str() {
                "--addr" => options.addr = value,
                "--script" => options.script = PathBuf::from(value),
                "--workers" => options.workers = value.parse().map_err(|_| OptionsError::Workers(value))?,
                _ => options.serving = value.parse()?,
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, OptionsError> {
        Options::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults_and_every_option() {
        let defaults = parse(&[]).expect("no arguments");
        assert_eq!((defaults.addr.as_str(), defaults.workers, defaults.serving), ("127.0.0.1:8080", 2, Serving::Axum));
        let all = parse(&["--addr", "0.0.0.0:1", "--script", "a.lua", "--workers", "3", "--serve", "lua-threads"])
            .expect("valid");
        assert_eq!(
            all,
            Options { addr: "0.0.0.0:1".into(), script: "a.lua".into(), workers: 3, serving: Serving::LuaThreads }
        );
        assert_eq!(parse(&["--serve", "axum"]).expect("valid").serving, Serving::Axum);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(parse(&["--serve", "nginx"]), Err(OptionsError::Serving("nginx".into())));
        assert_eq!(parse(&["--workers", "many"]), Err(OptionsError::Workers("many".into())));
        assert_eq!(parse(&["--serve"]), Err(OptionsError::MissingValue("--serve".into())));
        assert_eq!(parse(&["serve"]), Err(OptionsError::Unexpected("serve".into())));
    }
}
