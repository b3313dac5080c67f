//! `string.gsub` on the Rust matcher: the whole loop in one C closure.
//!
//! `gsub_at(s, p, repl, max_n)` (upvalues: see [`super::bridged`]) works as
//! the engine's C `gsub` does: the result grows in a `luaL_Buffer` (Lua's
//! memory, so the memory cap sees it, and nothing to free when Lua raises an
//! error), a replacement string is expanded from the subject's bytes as it
//! is read, a table is indexed with `lua_gettable` and a function called with
//! `lua_call` in this frame (so an error in an `__index` or in the function
//! reaches the script as the value it raised). Results and messages are
//! those of the C `gsub`: 5.4's rule for empty matches (5.1's on LuaJIT and
//! Luau), LuaJIT's copying of `%x` in replacement strings. A malformed
//! pattern or replacement is answered `false, message` (the caller raises it
//! with its caller's position); a limit is raised through the bridge.

use std::ffi::c_int;
use std::mem::MaybeUninit;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use std::rc::Rc;

use mlua::ffi;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use mlua::{Function, Lua};

use super::bridged::{UNFINISHED_CAPTURE, push_capture, raise_limit};
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use super::bridged::{bridge_at, bridged_function};
use super::{Capture, MatchError, Searcher, invalid_capture_index};
use crate::bridge::Bridge;
use crate::fast_ctx::string_at;

/// Empty matches follow 5.4's rule (never right after the previous match).
const V54: bool = !cfg!(any(feature = "luajit", feature = "luau"));
/// A `%` before anything but a digit or `%` copies that character (5.1, LuaJIT).
const COPY_ESCAPED: bool = cfg!(feature = "luajit");

/// Stack slots of `gsub_at`'s arguments.
const REPL: c_int = 3;

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
/// `gsub_at(s, p, repl, max_n)` charging its steps to `bridge`; `raise`
/// raises the limit error the bridge records.
pub(crate) fn gsub_function(lua: &Lua, bridge: &Rc<Bridge>, raise: Function) -> mlua::Result<Function> {
    bridged_function(lua, bridge, raise, gsub_at)
}

/// Why the loop stopped early.
#[derive(Clone, Copy)]
enum Stop {
    /// A malformed pattern or replacement: the message, pushed by `gsub_at`.
    Malformed(&'static str),
    /// A replacement value of the wrong type (the value is on the stack).
    InvalidValue,
    /// A step check failed (the bridge holds the limit).
    Limit,
}

#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
/// `(s, p, repl, max_n)`: two strings, a string, table or function and a
/// number (the bounded path converted and checked them). Returns the result
/// and the count, or `false` and a message to raise.
unsafe extern "C-unwind" fn gsub_at(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure of `gsub_function` (upvalues 1 and 2 as
    // `bridge_at`/`raise_limit` require), called with the arguments above.
    unsafe { gsub_in_frame(state, bridge_at(state, 1), 2) }
}

/// `gsub_at`'s work in the running C function's frame, whose slots 1 to 4
/// hold `(s, p, repl, max_n)` as [`gsub_at`] gets them: the result and the
/// count pushed (2), or `false` and a message to raise (2). A limit is
/// raised through the `raise` function in upvalue `raise_up`.
///
/// # Safety
/// A C function's frame with the arguments above; upvalue `raise_up` is a
/// `raise` function of [`bridged_function`] (or the `checkpoint` it is made
/// from) and `bridge` the VM's bridge it charges. Nothing with a destructor
/// alive in the caller's frames up to the Lua call (Lua may raise).
pub(super) unsafe fn gsub_in_frame(state: *mut ffi::lua_State, bridge: &Bridge, raise_up: c_int) -> c_int {
    // SAFETY: the caller's contract; `s` and `p` stay on the stack (slots
    // 1, 2) while their bytes are read.
    // Nothing alive in this frame has a destructor while Lua may raise (the
    // searcher and the check closure hold references and plain values, the
    // buffer is Lua's), so an error in the replacement or a memory error
    // leaves nothing to free; the buffer is not moved after `luaL_buffinit`.
    unsafe {
        let (Some(s), Some(p)) = (string_at(state, 1), string_at(state, 2)) else {
            return 0;
        };
        let max_n = ffi::lua_tonumber(state, 4) as i64; // saturating; the caller clamped it
        ffi::lua_settop(state, REPL);
        let repl = match ffi::lua_type(state, REPL) {
            ffi::LUA_TSTRING => string_at(state, REPL),
            _ => None,
        };
        let mut check = |steps: u64| bridge.charge(steps).map_err(drop);
        let mut searcher = Searcher::new(s, p, true, &mut check);
        let anchored = searcher.anchored();
        let mut buffer = MaybeUninit::<ffi::luaL_Buffer>::uninit();
        let b = buffer.as_mut_ptr();
        ffi::luaL_buffinit(state, b);
        let (mut src, mut last, mut n) = (0usize, None, 0i64);
        let stopped = loop {
            if n >= max_n || src > s.len() {
                break None;
            }
            let (start, end) = match searcher.find(src, last) {
                Ok(Some(span)) => span,
                Ok(None) => break None,
                Err(MatchError::Pattern(message)) => break Some(Stop::Malformed(message)),
                Err(MatchError::Stopped(())) => break Some(Stop::Limit),
            };
            add(b, &s[src..start]);
            n += 1;
            let added = match repl {
                Some(text) => expand(state, b, text, s, start, end, &searcher),
                None => replace(state, b, s, start, end, &searcher),
            };
            if let Err(stop) = added {
                break Some(stop);
            }
            if V54 {
                (src, last) = (end, Some(end));
            } else if end == start {
                // 5.1: an empty match copies the next character.
                if start < s.len() {
                    add(b, &s[start..=start]);
                }
                src = start + 1;
            } else {
                src = end;
            }
            if anchored {
                break None;
            }
        };
        let stopped = match (stopped, searcher.flush()) {
            (None, Err(())) => Some(Stop::Limit),
            (stopped, _) => stopped,
        };
        match stopped {
            None => {
                if src < s.len() {
                    add(b, &s[src..]);
                }
                ffi::luaL_pushresult(b);
                ffi::lua_pushinteger(state, n as ffi::lua_Integer);
                2
            }
            Some(Stop::Limit) => raise_limit(state, raise_up),
            Some(Stop::Malformed(message)) => {
                ffi::lua_pushboolean(state, 0);
                ffi::lua_pushlstring(state, message.as_ptr().cast(), message.len());
                2
            }
            Some(Stop::InvalidValue) => {
                let name = ffi::luaL_typename(state, -1);
                ffi::lua_pushboolean(state, 0);
                ffi::lua_pushstring(state, c"invalid replacement value (a ".as_ptr());
                ffi::lua_pushstring(state, name);
                ffi::lua_pushstring(state, c")".as_ptr());
                ffi::lua_concat(state, 3);
                2
            }
        }
    }
}

/// Appends `bytes` to the buffer.
///
/// # Safety
/// `b` is an initialized buffer whose slot is at the top of the stack.
#[inline]
unsafe fn add(b: *mut ffi::luaL_Buffer, bytes: &[u8]) {
    // SAFETY: the caller's contract; the bytes are copied.
    unsafe {
        if !bytes.is_empty() {
            ffi::luaL_addlstring(b, bytes.as_ptr().cast(), bytes.len());
        }
    }
}

/// Expands the replacement string `text` for the match `start..end`
/// (`add_s` of the C `gsub`).
///
/// # Safety
/// As [`add`]; `state` is the buffer's.
unsafe fn expand<E>(
    state: *mut ffi::lua_State,
    b: *mut ffi::luaL_Buffer,
    text: &[u8],
    s: &[u8],
    start: usize,
    end: usize,
    searcher: &Searcher<'_, '_, E>,
) -> Result<(), Stop> {
    // SAFETY: the caller's contract; a value pushed here is added (popped) at once.
    unsafe {
        let whole = &s[start..end];
        let mut i = 0;
        while i < text.len() {
            let Some(j) = text[i..].iter().position(|&c| c == b'%').map(|j| i + j) else {
                add(b, &text[i..]);
                break;
            };
            add(b, &text[i..j]);
            i = j + 2;
            match text.get(j + 1) {
                Some(b'%') => add(b, b"%"),
                Some(b'0') => add(b, whole),
                Some(&c @ b'1'..=b'9') => {
                    let k = usize::from(c - b'0');
                    if k > searcher.level() {
                        if k != 1 {
                            return Err(Stop::Malformed(invalid_capture_index(k)));
                        }
                        add(b, whole);
                        continue;
                    }
                    match searcher.capture(k - 1) {
                        Capture::Span(a, e) => add(b, &s[a..e]),
                        Capture::Position(at) => {
                            ffi::lua_pushinteger(state, at as ffi::lua_Integer + 1);
                            ffi::luaL_addvalue(b);
                        }
                        Capture::Unfinished => return Err(Stop::Malformed(UNFINISHED_CAPTURE)),
                    }
                }
                Some(c) if COPY_ESCAPED => add(b, std::slice::from_ref(c)),
                None if COPY_ESCAPED => add(b, &[0]), // LuaJIT copies the terminator
                _ => return Err(Stop::Malformed("invalid use of '%' in replacement string")),
            }
        }
        Ok(())
    }
}

/// Indexes the table at [`REPL`] with the first capture of the match (the
/// whole match when there are none), or calls the function there with all
/// captures, and adds the result (`nil` or `false` keep the match; a string
/// or number is added; any other value stays on the stack for the message).
///
/// # Safety
/// As [`add`]; `state` is the buffer's and holds the table or function at
/// [`REPL`]. Lua may raise here (an `__index` or the function raising, the
/// stack check, a memory error), so the callers keep nothing with a
/// destructor alive.
unsafe fn replace<E>(
    state: *mut ffi::lua_State,
    b: *mut ffi::luaL_Buffer,
    s: &[u8],
    start: usize,
    end: usize,
    searcher: &Searcher<'_, '_, E>,
) -> Result<(), Stop> {
    // SAFETY: the caller's contract; everything pushed is popped or added
    // before an `Ok` (on an error the caller abandons the buffer).
    unsafe {
        let whole = &s[start..end];
        let is_table = ffi::lua_type(state, REPL) == ffi::LUA_TTABLE;
        let count = if is_table { searcher.level().min(1) } else { searcher.level() };
        ffi::luaL_checkstack(state, count as c_int + 2, c"too many captures".as_ptr());
        if !is_table {
            ffi::lua_pushvalue(state, REPL);
        }
        if count == 0 {
            ffi::lua_pushlstring(state, whole.as_ptr().cast(), whole.len());
        }
        for i in 0..count {
            // What was pushed stays on an error: the caller abandons the buffer.
            push_capture(state, s, searcher.capture(i)).map_err(Stop::Malformed)?;
        }
        if is_table {
            ffi::lua_gettable(state, REPL);
        } else {
            ffi::lua_call(state, count.max(1) as c_int, 1);
        }
        if ffi::lua_toboolean(state, -1) == 0 {
            ffi::lua_settop(state, -2);
            add(b, whole);
        } else if ffi::lua_isstring(state, -1) == 0 {
            return Err(Stop::InvalidValue);
        } else {
            ffi::luaL_addvalue(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    /// `gsub_at(s, p, repl, max_n)` in a fresh VM: `Ok((result, n))` or the message.
    fn run(s: &str, p: &str, repl: &str, max_n: i64) -> Result<(String, i64), String> {
        let lua = Lua::new();
        let bridge = Rc::new(Bridge::new(Limits::UNLIMITED));
        let raise = lua.create_function(|_, ()| Ok(())).unwrap();
        let gsub = gsub_function(&lua, &bridge, raise).unwrap();
        let (first, second): (mlua::Value, mlua::Value) = gsub.call((s, p, repl, max_n)).expect("no error");
        match (first, second) {
            (mlua::Value::String(r), mlua::Value::Integer(n)) => Ok((r.to_string_lossy(), n)),
            (mlua::Value::Boolean(false), mlua::Value::String(m)) => Err(m.to_string_lossy()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn string_replacements_expand_captures_and_keep_the_rest() {
        assert_eq!(run("hello world", "(o)", "[%1]", 100), Ok(("hell[o] w[o]rld".to_owned(), 2)));
        assert_eq!(run("hello world", "o", "%0%%", 1), Ok(("hello% world".to_owned(), 1)));
        assert_eq!(run("abc", "()b", "%1", 100), Ok(("a2c".to_owned(), 1)));
        assert_eq!(run("abc", "^a", "x", 100), Ok(("xbc".to_owned(), 1)));
        assert_eq!(run("abc", "^b", "x", 100), Ok(("abc".to_owned(), 0)));
        assert_eq!(run("abc", "b", "%2", 100), Err("invalid capture index %2".to_owned()));
        assert_eq!(run("abc", "z", "%2", 100), Ok(("abc".to_owned(), 0)), "errors only when a match uses them");
    }

    #[test]
    fn empty_matches_follow_the_engines_rule() {
        assert_eq!(run("abc", "x*", "-", 100), Ok(("-a-b-c-".to_owned(), 4)));
        // 5.4: no empty match right after a match; 5.1: one after every match.
        let expected = if V54 { ("-", 1) } else { ("--", 2) };
        assert_eq!(run("abc", "%w*", "-", 100), Ok((expected.0.to_owned(), expected.1)));
    }

    #[test]
    fn a_large_result_grows_in_lua_memory() {
        let s = "x".repeat(300_000);
        let (r, n) = run(&s, "x", "yyyy", i64::MAX).expect("replaces");
        assert_eq!((r.len(), n), (s.len() * 4, s.len() as i64));
        assert!(r.bytes().all(|c| c == b'y'));
    }
}
