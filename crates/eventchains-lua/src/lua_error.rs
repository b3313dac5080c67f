//! Readable messages from `mlua` errors.

/// The message of a Lua error as a script author wants to read it:
/// `script.lua:12: message`, without the stack traceback. For errors raised by
/// Rust callbacks (context proxy, host functions) the script position is taken
/// from the traceback.
pub(crate) fn lua_error_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) | mlua::Error::MemoryError(message) => strip_traceback(message),
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

/// `true` if the error is (or wraps) a Lua memory error.
pub(crate) fn is_memory_error(error: &mlua::Error) -> bool {
    match error {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

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
}
