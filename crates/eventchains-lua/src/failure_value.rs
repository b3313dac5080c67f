//! [`Failure`]: what a handler or Lua middleware returns beside `nil` or
//! `false` to fail: a message (`return nil, "busy"`) or a failure table with
//! a retry hint (`return nil, { message = "busy", retry_after_ms = 250 }`),
//! which the retry middleware honours like a Rust event's
//! [`EventError::with_retry_after`].

use std::time::Duration;

use eventchains_core::EventError;

/// The keys a failure table may hold.
const KEYS: &str = "`message`, `retry_after_ms`";

/// A failure returned by a Lua function, before it becomes an [`EventError`].
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Failure {
    /// The message, if one was given.
    pub(crate) message: Option<String>,
    /// "Retry in this long", from `retry_after_ms`.
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    /// A failure with only a message (the common case, read off the stack).
    pub(crate) fn message(message: Option<String>) -> Self {
        Failure { message, retry_after: None }
    }

    /// Reads the value returned after `nil`/`false`: nothing, a message, or a
    /// failure table (a table without a metatable; another value, such as an
    /// object with `__tostring`, is the message as `tostring` gives it). A
    /// failure table with another key, or a `retry_after_ms` that is not a
    /// number of milliseconds, is an error naming what is wrong.
    pub(crate) fn from_value(value: mlua::Value) -> mlua::Result<Self> {
        Ok(match value {
            mlua::Value::Nil => Failure::message(None),
            mlua::Value::String(s) => Failure::message(Some(s.to_string_lossy())),
            // A table with a metatable is an object with its own `__tostring`, as before.
            mlua::Value::Table(table) if table.metatable().is_none() => Self::from_table(&table)?,
            other => Failure::message(Some(other.to_string().unwrap_or_else(|_| other.type_name().to_owned()))),
        })
    }

    fn from_table(table: &mlua::Table) -> mlua::Result<Self> {
        let mut failure = Failure::default();
        for pair in table.pairs::<mlua::Value, mlua::Value>() {
            let (key, value) = pair?;
            let name = match &key {
                mlua::Value::String(s) => s.to_string_lossy(),
                other => return Err(table_error(format!("a {} key; the keys are {KEYS}", other.type_name()))),
            };
            match name.as_str() {
                "message" => {
                    failure.message = Some(match value {
                        mlua::Value::String(s) => s.to_string_lossy(),
                        mlua::Value::Integer(_) | mlua::Value::Number(_) => value.to_string()?,
                        other => {
                            return Err(table_error(format!(
                                "`message` is a {}, expected a string",
                                other.type_name()
                            )));
                        }
                    });
                }
                "retry_after_ms" => failure.retry_after = Some(retry_after(&value)?),
                other => return Err(table_error(format!("unknown key `{other}`; the keys are {KEYS}"))),
            }
        }
        Ok(failure)
    }

    /// The [`EventError`] made by `make` from the message (or `fallback`),
    /// with the retry hint.
    pub(crate) fn into_error(self, fallback: impl FnOnce() -> String, make: fn(String) -> EventError) -> EventError {
        let error = make(self.message.unwrap_or_else(fallback));
        match self.retry_after {
            Some(after) => error.with_retry_after(after),
            None => error,
        }
    }
}

/// `retry_after_ms` as a duration: a finite number of milliseconds, at least 0.
fn retry_after(value: &mlua::Value) -> mlua::Result<Duration> {
    let ms = match value {
        mlua::Value::Integer(n) => *n as f64,
        mlua::Value::Number(n) => *n,
        other => {
            return Err(table_error(format!(
                "`retry_after_ms` is a {}, expected a number of milliseconds",
                other.type_name()
            )));
        }
    };
    if !ms.is_finite() || ms < 0.0 {
        return Err(table_error(format!("`retry_after_ms` is {ms}, expected a number of milliseconds >= 0")));
    }
    // Past what the hint holds (u32 milliseconds, ~49 days), it saturates there.
    Ok(Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX))
}

fn table_error(what: String) -> mlua::Error {
    mlua::Error::runtime(format!("returned a failure table with {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lua: &mlua::Lua, source: &str) -> mlua::Result<Failure> {
        Failure::from_value(lua.load(source).eval()?)
    }

    #[test]
    fn reads_messages_and_failure_tables() {
        let lua = mlua::Lua::new();
        assert_eq!(read(&lua, "nil").ok(), Some(Failure::message(None)));
        assert_eq!(read(&lua, "'busy'").ok(), Some(Failure::message(Some("busy".into()))));
        assert_eq!(read(&lua, "42").ok(), Some(Failure::message(Some("42".into()))));
        assert_eq!(
            read(&lua, "{ message = 'busy', retry_after_ms = 250 }").ok(),
            Some(Failure { message: Some("busy".into()), retry_after: Some(Duration::from_millis(250)) })
        );
        assert_eq!(
            read(&lua, "{ retry_after_ms = 1.5 }").ok(),
            Some(Failure { message: None, retry_after: Some(Duration::from_micros(1500)) })
        );
        assert_eq!(read(&lua, "{}").ok(), Some(Failure::default()));
        let object = "setmetatable({}, { __tostring = function() return 'out of stock' end })";
        assert_eq!(read(&lua, object).ok(), Some(Failure::message(Some("out of stock".into()))));
        assert_eq!(read(&lua, "{ retry_after_ms = 1e300 }").ok().and_then(|f| f.retry_after), Some(Duration::MAX));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_hints_by_name() {
        let lua = mlua::Lua::new();
        for (source, says) in [
            ("{ retry_after = 5 }", "unknown key `retry_after`; the keys are `message`, `retry_after_ms`"),
            ("{ 'busy' }", "a integer key"),
            ("{ retry_after_ms = -1 }", "`retry_after_ms` is -1, expected a number of milliseconds >= 0"),
            ("{ retry_after_ms = 0/0 }", "`retry_after_ms` is NaN"),
            ("{ retry_after_ms = '5' }", "`retry_after_ms` is a string"),
            ("{ message = {} }", "`message` is a table, expected a string"),
        ] {
            let error = read(&lua, source).expect_err(source).to_string();
            assert!(error.contains("returned a failure table with") && error.contains(says), "{source}: {error}");
        }
    }

    #[test]
    fn into_error_keeps_the_hint_and_the_fallback_message() {
        let failure = Failure { message: None, retry_after: Some(Duration::from_millis(20)) };
        let error = failure.into_error(|| "handler returned false".into(), EventError::new);
        assert_eq!(error.message(), "handler returned false");
        assert_eq!(error.retry_after(), Some(Duration::from_millis(20)));
        let error = Failure::message(Some("no".into())).into_error(String::new, EventError::middleware);
        assert_eq!((error.message(), error.retry_after()), ("no", None));
        assert_eq!(error.kind(), eventchains_core::ErrorKind::Middleware);
    }
}
