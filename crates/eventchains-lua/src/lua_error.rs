//! Readable messages from `mlua` errors.

/// The message of a Lua error as a script author wants to read it:
/// `script.lua:12: message`, without the stack traceback. For errors raised by
/// Rust callbacks (context proxy, host functions) the script position is taken
/// from the traceback.
pub(crate) fn lua_error_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) => {
            let message = strip_traceback(message);
            // `error({})` reaches mlua's message handler as "table: 0x55...": say what it is.
            match address_kind(&message) {
                Some(kind) => format!("error object is a {kind} value"),
                None => message,
            }
        }
        mlua::Error::MemoryError(message) => strip_traceback(message),
        mlua::Error::SyntaxError { message, .. } => strip_traceback(message),
        mlua::Error::CallbackError { traceback, cause } => {
            let inner = lua_error_message(cause);
            match position_in(traceback) {
                Some(pos) if !inner.starts_with(&pos) => format!("{pos}: {inner}"),
                _ => inner,
            }
        }
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", lua_error_message(cause)),
        mlua::Error::ExternalError(e) => e.to_string(),
        other => strip_traceback(&other.to_string()),
    }
}

/// The message for an error object that is not a string (`error(nil)`,
/// `error({ code = 1 })`), as standalone Lua reports it: a value with
/// `__tostring` gives its text, numbers their digits, others their type.
pub(crate) fn error_object_message(value: &mlua::Value) -> String {
    match value {
        mlua::Value::Nil => "error object is a nil value".to_owned(),
        mlua::Value::Boolean(b) => format!("error object is a boolean value ({b})"),
        other => match other.to_string() {
            Ok(text) if address_kind(&text).is_none() => text,
            _ => format!("error object is a {} value", other.type_name()),
        },
    }
}

/// `Some("table")` for the default text of a value without `__tostring` (`table: 0x55d0c8`).
fn address_kind(message: &str) -> Option<&str> {
    let (kind, address) = message.split_once(": ")?;
    let digits = address.strip_prefix("0x")?;
    let known = matches!(kind, "table" | "function" | "thread" | "userdata" | "cdata");
    (known && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())).then_some(kind)
}

/// `true` if the error is (or wraps) a Lua memory error.
///
/// On LuaJIT, a memory error raised inside one of the C functions the sandbox
/// wraps to count their nesting (`string.gsub`, `string.format`,
/// `table.sort`, `tostring`, `print`; see `sandbox.rs`) passes through that
/// wrapper's protected call and is raised again as a plain error with the
/// same message: it counts as a memory error too, so the event fails with
/// `limit_exceeded` as on the other engines. (A script that raises that exact
/// message itself, with no position, only changes the kind of its own
/// failure.)
pub(crate) fn is_memory_error(error: &mlua::Error) -> bool {
    match error {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::RuntimeError(message) if crate::sandbox::BOUND_C_CALLS => {
            strip_traceback(message) == NOT_ENOUGH_MEMORY
        }
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

/// The message of Lua's memory errors.
const NOT_ENOUGH_MEMORY: &str = "not enough memory";

fn strip_traceback(message: &str) -> String {
    match message.find("\nstack traceback:") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The first `chunk:line` of Lua code in a traceback.
fn position_in(traceback: &str) -> Option<String> {
    traceback.lines().map(str::trim).filter(|l| !l.starts_with("[C]") && !l.starts_with("stack traceback")).find_map(
        |l| {
            let mut parts = l.splitn(3, ':');
            let chunk = parts.next()?;
            let line = parts.next()?;
            (line.parse::<u32>().is_ok() && !chunk.is_empty()).then(|| format!("{chunk}:{line}"))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    #[allow(clippy::arc_with_non_send_sync)] // mlua's own error type holds the Arc
    fn tracebacks_are_dropped_and_positions_kept() {
        let e = mlua::Error::RuntimeError("a.lua:3: boom\nstack traceback:\n\t[C]: in ?".into());
        assert_eq!(lua_error_message(&e), "a.lua:3: boom");
        let cb = mlua::Error::CallbackError {
            traceback: "stack traceback:\n\t[C]: in metamethod 'newindex'\n\ta.lua:7: in function <a.lua:5>".into(),
            cause: Arc::new(mlua::Error::RuntimeError("ctx.f: a function has no context value".into())),
        };
        assert_eq!(lua_error_message(&cb), "a.lua:7: ctx.f: a function has no context value");
        assert!(!is_memory_error(&cb));
        assert!(is_memory_error(&mlua::Error::MemoryError("not enough memory".into())));
    }

    #[test]
    fn a_memory_error_raised_again_by_the_luajit_wrappers_is_a_memory_error_there_only() {
        let again = mlua::Error::RuntimeError("not enough memory\nstack traceback:\n\t[C]: in ?".into());
        assert_eq!(is_memory_error(&again), crate::sandbox::BOUND_C_CALLS);
        let positioned = mlua::Error::RuntimeError("a.lua:3: not enough memory".into());
        assert!(!is_memory_error(&positioned), "a script's own error names its position");
        assert!(!is_memory_error(&mlua::Error::RuntimeError("not enough memory here".into())));
    }

    #[test]
    fn error_objects_that_are_not_strings_are_named_by_type() {
        assert_eq!(error_object_message(&mlua::Value::Nil), "error object is a nil value");
        assert_eq!(error_object_message(&mlua::Value::Boolean(false)), "error object is a boolean value (false)");
        assert_eq!(error_object_message(&mlua::Value::Integer(42)), "42");
        let table = mlua::Error::RuntimeError("table: 0x55d0c8a0\nstack traceback:\n\t[C]: in ?".into());
        assert_eq!(lua_error_message(&table), "error object is a table value");
        let text = mlua::Error::RuntimeError("a.lua:1: table: 0x55d0c8a0".into());
        assert_eq!(lua_error_message(&text), "a.lua:1: table: 0x55d0c8a0", "a message naming a table stays");
        assert_eq!(address_kind("table: 0x"), None);
        assert_eq!(address_kind("table: 0xzz"), None);
    }
}
