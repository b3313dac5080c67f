//! The fast path of reads that lead to or through nested views:
//! `ctx.order` (a table in the root map), `order.items`, `items[1]`,
//! `item.qty`.
//!
//! Such a read used to leave the root `ctx`'s C `__index` for the complete
//! implementation ([`CtxProxy::index`](crate::context_proxy::CtxProxy)),
//! through an mlua callback (argument references, key conversion, a
//! protected call): about 1,500 instructions a read, a fifth of the order
//! chain of examples/http-service (callgrind, docs/architecture.md). Since
//! nested views are light userdata (see [`crate::view_handle`]), the common
//! cases are served here, in the same C function: a string key of a map or
//! an integer key of an array whose value is nil, a boolean, a number, a
//! string (pushed as the root's fast path does) or a table (its view's light
//! userdata). Anything else (another key type, a stale or foreign view, a
//! view outside its call, a key that is not UTF-8, a view that needs a full
//! userdata) returns `None` and the caller takes the slow path, which also
//! raises the errors.

use std::ffi::{c_int, c_void};

use eventchains_core::Value;
use mlua::ffi;

use crate::bridge::{Binding, Bridge};
use crate::fast_ctx::{string_at, utf8};
use crate::views::{ElemId, ROOT, Seg, Target};

/// What a read found, to push once no reference into the context is held.
enum Peek {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string of the context (valid until the context changes; nothing
    /// changes it before the push).
    Str(*const u8, usize),
    /// A nested table's view.
    View(*mut c_void),
}

/// A key as the fast path understands it.
#[derive(Clone, Copy)]
enum FastKey<'a> {
    Str(&'a str),
    /// 1-based, as written in Lua.
    Int(i64),
}

/// Serves `__index` of `ctx` or a view, arguments `(self, key)` at stack
/// indexes 1 and 2: `view` is the view decoded from argument 1 (`None`: the
/// root `ctx`). Returns 1 (the value pushed) or `None` (nothing pushed: take
/// the slow path).
///
/// # Safety
/// Called from a Lua C function with `(self, key)` on its stack, with no
/// Rust value with a destructor alive in the caller that Lua errors (which
/// unwind with `longjmp`) could skip.
pub(crate) unsafe fn index(state: *mut ffi::lua_State, bridge: &Bridge, view: Option<(u64, ElemId)>) -> Option<c_int> {
    // SAFETY: the caller's contract: index 2 exists.
    let key = unsafe {
        match ffi::lua_type(state, 2) {
            ffi::LUA_TSTRING => FastKey::Str(utf8(string_at(state, 2)?)?),
            ffi::LUA_TNUMBER if ffi::lua_isinteger(state, 2) != 0 => FastKey::Int(ffi::lua_tointeger(state, 2)),
            _ => return None,
        }
    };
    let peek = peek(bridge, view, key)?;
    // SAFETY: pushing one value onto a C function's stack (it has room for
    // LUA_MINSTACK values); the string's bytes are the context's, unchanged
    // since the read, and `busy` keeps finalizers off the context while the
    // copy may run the collector (as the root's fast path does).
    unsafe {
        match peek {
            Peek::Nil => ffi::lua_pushnil(state),
            Peek::Bool(b) => ffi::lua_pushboolean(state, c_int::from(b)),
            Peek::Int(i) => ffi::lua_pushinteger(state, i),
            Peek::Float(f) => ffi::lua_pushnumber(state, f),
            Peek::Str(ptr, len) => {
                bridge.set_busy(true);
                ffi::lua_pushlstring(state, ptr.cast(), len);
                bridge.set_busy(false);
            }
            Peek::View(handle) => ffi::lua_pushlightuserdata(state, handle),
        }
    }
    Some(1)
}

/// Reads `key` of the table `view` stands for (`None`: the root map) in the
/// running call; `None` when the slow path must handle it.
fn peek(bridge: &Bridge, view: Option<(u64, ElemId)>, key: FastKey<'_>) -> Option<Peek> {
    let frame = bridge.current_frame()?;
    let (binding, elem) = match view {
        None => (Binding::Current, ROOT),
        // Another call's view: the slow path raises the error.
        Some((f, _)) if f != frame => return None,
        Some((f, elem)) => (Binding::Frame(f), elem),
    };
    let read = bridge.with_views(binding, |ctx, views| {
        if views.is_stale(elem) {
            return None;
        }
        let (value, seg) = match (views.target(ctx.values_mut(), elem)?, key) {
            (Target::Root(map) | Target::Nested(Value::Map(map)), FastKey::Str(k)) => (map.get(k), Seg::Key(k)),
            (Target::Nested(Value::Array(items)), FastKey::Int(i)) => {
                let i = usize::try_from(i).ok()?.checked_sub(1)?;
                (items.get(i), Seg::Index(i))
            }
            // A key that names nothing in this kind of table: nil, as the slow path says.
            (Target::Root(_) | Target::Nested(Value::Map(_) | Value::Array(_)), _) => (None, Seg::Index(0)),
            (Target::Nested(_), _) => return None,
        };
        Some(match value {
            None | Some(Value::Nil) => Peek::Nil,
            Some(Value::Bool(b)) => Peek::Bool(*b),
            Some(Value::Int(i)) => Peek::Int(*i),
            Some(Value::Float(f)) => Peek::Float(*f),
            Some(Value::String(s)) => Peek::Str(s.as_ptr(), s.len()),
            Some(Value::Array(_) | Value::Map(_)) => {
                let child = views.child(elem, seg);
                Peek::View(bridge.light_view(frame, child)?)
            }
        })
    });
    read.ok().flatten()
}
