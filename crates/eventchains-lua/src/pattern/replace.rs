//! `string.gsub` on the Rust matcher: the whole loop in one call.
//!
//! The result is built in a Rust buffer; string replacements are expanded
//! from the subject's bytes (no Lua string per match), a table is indexed
//! with the first capture, a function is called with the captures straight
//! through the C API, so that its error value reaches the script unchanged. Results and
//! error messages are those of the engine's C `gsub` (5.4's rules for empty
//! matches; 5.1's on LuaJIT and Luau, and LuaJIT's copying of `%x` in
//! replacement strings).

use std::ffi::c_int;
use std::io::Write;

use mlua::{Function, Lua, LuaString, MultiValue, Table, Value, ffi};

use super::{Capture, MatchError, Searcher};

/// Empty matches follow 5.4's rule (never right after the previous match).
const V54: bool = !cfg!(any(feature = "luajit", feature = "luau"));
/// A `%` before anything but a digit or `%` copies that character (5.1, LuaJIT).
const COPY_ESCAPED: bool = cfg!(feature = "luajit");
/// The result buffer moves into a Lua string (where the memory cap sees it)
/// each time it reaches this size.
const FLUSH_AT: usize = 1 << 20;

/// A replacement string, parsed once per call.
enum Piece {
    /// Bytes `start..end` of the replacement.
    Text(usize, usize),
    /// A single byte (`%%`, and LuaJIT's `%x`).
    Byte(u8),
    /// `%0`..`%9`.
    Capture(u8),
    /// `%` followed by anything else (an error when used).
    Invalid,
}

fn pieces(repl: &[u8]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < repl.len() {
        let Some(j) = repl[i..].iter().position(|&c| c == b'%').map(|j| i + j) else {
            out.push(Piece::Text(i, repl.len()));
            break;
        };
        if j > i {
            out.push(Piece::Text(i, j));
        }
        out.push(match repl.get(j + 1) {
            Some(b'%') => Piece::Byte(b'%'),
            Some(&c @ b'0'..=b'9') => Piece::Capture(c - b'0'),
            Some(&c) if COPY_ESCAPED => Piece::Byte(c),
            None if COPY_ESCAPED => Piece::Byte(0), // LuaJIT copies the terminator
            _ => Piece::Invalid,
        });
        i = j + 2;
    }
    out
}

enum Repl {
    Pieces(LuaString, Vec<Piece>),
    Table(Table),
    Function(Function),
}

/// The result under construction.
struct Output<'l> {
    lua: &'l Lua,
    buf: Vec<u8>,
    /// Earlier parts, already Lua strings.
    parts: Vec<LuaString>,
}

impl Output<'_> {
    fn push(&mut self, bytes: &[u8]) -> mlua::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= FLUSH_AT {
            // Lua's allocator (and so the memory cap) sees every full part.
            self.parts.push(self.lua.create_string(&self.buf)?);
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> mlua::Result<LuaString> {
        if self.parts.is_empty() {
            return self.lua.create_string(&self.buf);
        }
        let mut all = Vec::with_capacity(self.parts.len() * FLUSH_AT + self.buf.len());
        for part in &self.parts {
            all.extend_from_slice(&part.as_bytes());
        }
        all.append(&mut self.buf);
        self.parts.clear();
        self.lua.create_string(&all)
    }
}

/// What one match adds, or why the call stops.
enum Failure {
    /// A message for the wrapper to raise (with the caller's position, as `luaL_error`).
    Raise(Value),
    /// The replacement function's error value, to raise unchanged.
    Propagate(Value),
    /// Another error (a limit), passed on as it is.
    Error(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(e: mlua::Error) -> Self {
        Failure::Error(e)
    }
}

fn message(lua: &Lua, text: &str) -> Failure {
    match lua.create_string(text) {
        Ok(s) => Failure::Raise(Value::String(s)),
        Err(e) => Failure::Error(e),
    }
}

/// `gsub(s, p, repl, max_n)` with `repl` a string, table or function
/// (numbers converted and arguments checked by the caller). Returns the result and the count of matches, or `false`
/// and a message to raise, or `false`, the replacement function's error
/// value and `true` (raise it unchanged).
pub(crate) fn gsub(
    lua: &Lua,
    s: &[u8],
    p: &[u8],
    repl: Value,
    max_n: i64,
    check: &mut dyn FnMut(u64) -> mlua::Result<()>,
) -> mlua::Result<MultiValue> {
    let repl = match repl {
        Value::String(text) => {
            let parsed = pieces(&text.as_bytes());
            Repl::Pieces(text, parsed)
        }
        Value::Table(t) => Repl::Table(t),
        Value::Function(f) => Repl::Function(f),
        other => return Err(mlua::Error::runtime(format!("gsub: unexpected replacement {}", other.type_name()))),
    };
    let mut out = Output { lua, buf: Vec::with_capacity(s.len()), parts: Vec::new() };
    let mut searcher = Searcher::new(s, p, true, check);
    let anchored = searcher.anchored();
    let (mut src, mut last, mut n) = (0usize, None, 0i64);
    let result = (|| -> Result<(), Failure> {
        while n < max_n && src <= s.len() {
            let (start, end) = match searcher.find(src, last) {
                Ok(Some(span)) => span,
                Ok(None) => break,
                Err(MatchError::Pattern(text)) => return Err(message(lua, &text)),
                Err(MatchError::Stopped(e)) => return Err(Failure::Error(e)),
            };
            out.push(&s[src..start])?;
            n += 1;
            add_value(lua, &mut out, s, start, end, &searcher, &repl)?;
            if V54 {
                (src, last) = (end, Some(end));
            } else if end == start {
                // 5.1: an empty match copies the next character.
                if start < s.len() {
                    out.push(&s[start..=start])?;
                }
                src = start + 1;
            } else {
                src = end;
            }
            if anchored {
                break;
            }
        }
        searcher.flush()?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            if src < s.len() {
                out.push(&s[src..])?;
            }
            Ok(MultiValue::from_iter([Value::String(out.finish()?), Value::Integer(n)]))
        }
        Err(Failure::Raise(value)) => Ok(MultiValue::from_iter([Value::Boolean(false), value])),
        Err(Failure::Propagate(value)) => {
            Ok(MultiValue::from_iter([Value::Boolean(false), value, Value::Boolean(true)]))
        }
        Err(Failure::Error(e)) => Err(e),
    }
}

fn add_value<E>(
    lua: &Lua,
    out: &mut Output<'_>,
    s: &[u8],
    start: usize,
    end: usize,
    searcher: &Searcher<'_, '_, E>,
    repl: &Repl,
) -> Result<(), Failure> {
    let whole = &s[start..end];
    let level = searcher.captures().len();
    match repl {
        Repl::Pieces(text, pieces) => {
            let text = text.as_bytes();
            for piece in pieces {
                match *piece {
                    Piece::Text(a, b) => out.push(&text[a..b])?,
                    Piece::Byte(c) => out.push(&[c])?,
                    Piece::Capture(0) => out.push(whole)?,
                    Piece::Capture(k) if usize::from(k) > level => {
                        if k != 1 {
                            return Err(message(lua, &format!("invalid capture index %{k}")));
                        }
                        out.push(whole)?;
                    }
                    Piece::Capture(k) => match searcher.captures().nth(usize::from(k) - 1) {
                        Some(Capture::Span(a, b)) => out.push(&s[a..b])?,
                        Some(Capture::Position(at)) => {
                            let mut digits = Vec::with_capacity(20);
                            let _ = write!(digits, "{}", at + 1);
                            out.push(&digits)?;
                        }
                        _ => return Err(message(lua, "unfinished capture")),
                    },
                    Piece::Invalid => return Err(message(lua, "invalid use of '%' in replacement string")),
                }
            }
            Ok(())
        }
        Repl::Table(table) => lookup(lua, out, s, whole, searcher, Target::Table(table)),
        Repl::Function(f) => lookup(lua, out, s, whole, searcher, Target::Function(f)),
    }
}

/// What a replacement function's result does to the output.
enum Verdict {
    /// Its text was appended.
    Copied,
    /// `nil` or `false`: the match stays.
    Whole,
    /// Another type (its name).
    Invalid(&'static str),
    /// The call raised an error (the value is the result of `exec_raw`).
    Failed,
}

/// A table or function replacement.
enum Target<'r> {
    Table(&'r Table),
    Function(&'r Function),
}

/// Indexes the table with the first capture of the last match, or calls the
/// function with all of them (the whole match when there are none), and
/// appends the result, reading it straight from the stack: no mlua value per
/// argument or result, and a function's error value stays as it was raised.
fn lookup<E>(
    lua: &Lua,
    out: &mut Output<'_>,
    s: &[u8],
    whole: &[u8],
    searcher: &Searcher<'_, '_, E>,
    target: Target<'_>,
) -> Result<(), Failure> {
    let is_table = matches!(target, Target::Table(_));
    let mut captures = [Capture::Unfinished; super::MAX_CAPTURES];
    let mut count = 0;
    for (slot, capture) in captures.iter_mut().zip(searcher.captures()) {
        if capture == Capture::Unfinished {
            return Err(message(lua, "unfinished capture"));
        }
        *slot = capture;
        count += 1;
        if is_table {
            break; // a table is indexed with the first capture only
        }
    }

    let mut verdict = Verdict::Copied;
    let buf = &mut out.buf;
    // SAFETY: the closure runs in mlua's protected call with the table or
    // function at index 1. It pushes the key or the arguments (strings copied
    // from `s`, integers), indexes the table (`lua_gettable`: an error in an
    // `__index` is raised inside the protected call) or calls the function
    // with `lua_pcall` (so an error in it returns here), reads the result (a
    // string or number through `lua_tolstring`, which converts the value in
    // place) and leaves either the error value or `nil` as its one result.
    // `luaL_checkstack` may raise, inside the protected call.
    let failure: Value = unsafe {
        let run = |state: *mut ffi::lua_State| {
            ffi::luaL_checkstack(state, count as c_int + 2, c"too many captures".as_ptr());
            if count == 0 {
                ffi::lua_pushlstring(state, whole.as_ptr().cast(), whole.len());
            }
            for capture in &captures[..count] {
                match *capture {
                    Capture::Span(a, b) => {
                        ffi::lua_pushlstring(state, s[a..b].as_ptr().cast(), b - a);
                    }
                    Capture::Position(at) => ffi::lua_pushinteger(state, at as ffi::lua_Integer + 1),
                    Capture::Unfinished => ffi::lua_pushnil(state),
                }
            }
            if is_table {
                ffi::lua_gettable(state, 1);
            } else if ffi::lua_pcall(state, count.max(1) as c_int, 1, 0) != ffi::LUA_OK {
                verdict = Verdict::Failed;
                return;
            }
            verdict = match ffi::lua_type(state, -1) {
                ffi::LUA_TNIL => Verdict::Whole,
                ffi::LUA_TBOOLEAN if ffi::lua_toboolean(state, -1) == 0 => Verdict::Whole,
                ffi::LUA_TSTRING | ffi::LUA_TNUMBER => {
                    let mut len = 0usize;
                    let ptr = ffi::lua_tolstring(state, -1, &mut len);
                    buf.extend_from_slice(std::slice::from_raw_parts(ptr.cast::<u8>(), len));
                    Verdict::Copied
                }
                ffi::LUA_TLIGHTUSERDATA => Verdict::Invalid("userdata"),
                other => Verdict::Invalid(
                    std::ffi::CStr::from_ptr(ffi::lua_typename(state, other)).to_str().unwrap_or("value"),
                ),
            };
            ffi::lua_settop(state, 0);
            ffi::lua_pushnil(state);
        };
        match target {
            Target::Table(table) => lua.exec_raw::<Value>(table, run)?,
            Target::Function(f) => lua.exec_raw::<Value>(f, run)?,
        }
    };
    match verdict {
        Verdict::Copied => out.push(&[])?,
        Verdict::Whole => out.push(whole)?,
        Verdict::Invalid(name) => return Err(message(lua, &format!("invalid replacement value (a {name})"))),
        Verdict::Failed => return Err(Failure::Propagate(failure)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str, p: &str, repl: &str, max_n: i64) -> Result<(String, i64), String> {
        let lua = Lua::new();
        let repl = Value::String(lua.create_string(repl).unwrap());
        let mut never = |_| Ok(());
        let values = gsub(&lua, s.as_bytes(), p.as_bytes(), repl, max_n, &mut never).expect("no limit");
        let values: Vec<Value> = values.into_iter().collect();
        match &values[..] {
            [Value::String(r), Value::Integer(n)] => Ok((r.to_string_lossy(), *n)),
            [Value::Boolean(false), Value::String(m)] => Err(m.to_string_lossy()),
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
    fn a_large_result_moves_into_lua_strings_on_the_way() {
        let s = "x".repeat(FLUSH_AT / 2 + 1);
        let (r, n) = run(&s, "x", "yyyy", i64::MAX).expect("replaces");
        assert_eq!((r.len(), n), (s.len() * 4, s.len() as i64));
        assert!(r.bytes().all(|c| c == b'y'));
    }
}
