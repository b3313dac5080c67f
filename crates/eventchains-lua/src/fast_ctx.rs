//! The root `ctx`: a light userdata with raw C `__index` / `__newindex`.
//!
//! The root `ctx` is a *light* userdata (the VM's bridge pointer): passing it
//! to a handler and getting it back (`return ctx`) then needs no mlua
//! reference (a full userdata result costs ~70 ns more per call). Light
//! userdata share one metatable per VM; scripts cannot create light userdata,
//! so the ones they see are `ctx` and its nested views, which are light
//! userdata too (see [`crate::view_handle`]): the functions below serve the
//! root themselves and hand a view to the slow path. `__metatable` hides the
//! metatable.
//!
//! A call into Rust through mlua's userdata machinery costs ~100+ ns (argument
//! references, userdata borrow, protected call); the experiment's handlers do
//! four context accesses per execution, so that alone would exceed the speed
//! targets. The root `ctx` therefore uses plain C functions (with the VM's
//! [`Bridge`] as a light-userdata upvalue) for the common case: a string key
//! whose value is nil, a boolean, a number or a string. Everything else (nested
//! tables, non-string keys, conversions that fail, a missing frame) calls the
//! full mlua implementation of [`CtxProxy`] kept as the second upvalue, which
//! also raises the errors.
//!
//! No Rust value with a destructor is alive when Lua may raise an error (which
//! unwinds with `longjmp`), and nothing here can panic.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use eventchains_core::Value;
use mlua::{LightUserData, Lua, ffi};

use crate::bridge::Bridge;
use crate::context_proxy::CtxProxy;
use crate::key_cache::{KeyCache, KeyLookup};
use crate::value_size::{reuse_buffer, stored_size, string_size};
use crate::{view_fast, view_handle};

/// What the fast path's C functions reach through their first upvalue (kept
/// alive by the VM's app data as long as the Lua state).
struct FastPath {
    bridge: Rc<Bridge>,
    keys: KeyCache,
}

/// Creates the root `ctx` of `lua` (whose app data holds the bridge) and
/// installs its metatable.
pub(crate) fn install_root(lua: &Lua) -> mlua::Result<LightUserData> {
    let (bridge, root) = bridge_and_slow_path(lua)?;
    let shared = lua.app_data_ref::<Rc<Bridge>>().map(|b| (*b).clone());
    let shared = shared.ok_or_else(|| mlua::Error::runtime("the ctx bridge is not installed in this VM"))?;
    let fast = Rc::new(FastPath { bridge: shared, keys: KeyCache::default() });
    let fast_ptr = Rc::as_ptr(&fast) as *mut c_void;
    lua.set_app_data(fast);
    // The fallbacks of `__index` and `__newindex` (the complete
    // implementation, which raises the errors) and the other metamethods.
    // Nested views share this metatable (see `crate::view_handle`): each
    // function finds the proxy its first argument stands for.
    let r = root.clone_root();
    let index =
        lua.create_function(move |lua, (ud, key): (mlua::Value, mlua::Value)| r.proxy_arg(&ud)?.index(lua, key))?;
    let r = root.clone_root();
    let newindex = lua.create_function(move |_, (ud, key, value): (mlua::Value, mlua::Value, mlua::Value)| {
        r.proxy_arg(&ud)?.new_index(key, value)
    })?;
    let r = root.clone_root();
    let len = lua.create_function(move |_, (ud, _): ProxyArgs| r.proxy_arg(&ud)?.len())?;
    let r = root.clone_root();
    let tostring = lua.create_function(move |_, (ud, _): ProxyArgs| r.proxy_arg(&ud)?.to_json())?;
    let pairs = lua.create_function(move |lua, (ud, _): ProxyArgs| root.proxy_arg(&ud)?.pairs(lua))?;
    let ctx = LightUserData(bridge);
    // SAFETY: the closure gets `[ctx, index, newindex, len, tostring,
    // pairs]`, builds the metatable at 7 (the two fast C closures over
    // `fast_ptr`, which the app data keeps alive as long as the Lua state,
    // and their fallbacks), sets it as the metatable of light userdata and
    // leaves nothing on the stack. It raises only memory errors, inside the
    // protected call of `exec_raw`; nothing here has a destructor.
    unsafe {
        lua.exec_raw::<()>((ctx, index, newindex, len, tostring, pairs), |state| {
            ffi::lua_createtable(state, 0, 8);
            let set = |field: &std::ffi::CStr| ffi::lua_setfield(state, 7, field.as_ptr());
            ffi::lua_pushlightuserdata(state, fast_ptr);
            ffi::lua_pushvalue(state, 2);
            ffi::lua_pushcclosure(state, fast_index, 2);
            set(c"__index");
            ffi::lua_pushlightuserdata(state, fast_ptr);
            ffi::lua_pushvalue(state, 3);
            ffi::lua_pushcclosure(state, fast_newindex, 2);
            set(c"__newindex");
            ffi::lua_pushvalue(state, 4);
            set(c"__len");
            ffi::lua_pushvalue(state, 5);
            set(c"__tostring");
            ffi::lua_pushvalue(state, 6);
            set(c"__pairs");
            // Luau's generalized iteration (`for k, v in ctx do`); unused elsewhere.
            ffi::lua_pushvalue(state, 6);
            set(c"__iter");
            ffi::lua_pushstring(state, c"ctx".as_ptr());
            set(c"__metatable");
            ffi::lua_setmetatable(state, 1);
            ffi::lua_settop(state, 0);
            publish(state, fast_ptr);
        })?;
    }
    Ok(ctx)
}

/// The arguments of a metamethod: the light userdata (`ctx` or a view), the rest.
type ProxyArgs = (mlua::Value, mlua::MultiValue);

/// Puts the VM's [`FastPath`] into its main thread's extra space (Lua 5.4
/// and 5.5: `LUA_EXTRASPACE`, a pointer's worth of bytes before every
/// `lua_State`, which the engine copies from the main thread into every
/// thread created later; neither mlua nor this crate uses it otherwise), so
/// that the fast path finds it with one load instead of a `lua_touserdata` of
/// its upvalue (callgrind: ~25 instructions per context access). Threads
/// made before (mlua's own) keep a null there and use the upvalue. Done once,
/// when the VM is built, before any script runs; the pointer stays valid as
/// long as the Lua state (the app data keeps the `FastPath`).
///
/// # Safety
/// `state` is a live thread of the VM whose app data holds the `FastPath` at
/// `fast`, on the calling thread, with one free stack slot; no script has run.
#[cfg(any(feature = "lua54", feature = "lua55"))]
unsafe fn publish(state: *mut ffi::lua_State, fast: *mut c_void) {
    // SAFETY: the caller's contract; the registry's main-thread slot always
    // holds the main thread, and the extra space is this embedding's.
    unsafe {
        ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
        let main = ffi::lua_tothread(state, -1);
        ffi::lua_pop(state, 1);
        if !main.is_null() {
            *ffi::lua_getextraspace(main).cast::<*mut c_void>() = fast;
        }
    }
}

/// Sets the extra space of every thread of a VM just opened (its main
/// thread and mlua's reference thread, both held by the registry) to null:
/// the engine leaves the main thread's uninitialised and copies it into every
/// new thread, so without this a thread made before [`publish`] (one mlua
/// recycles later, say) would hold garbage that [`fast_path`] took for a
/// pointer. Called by [`crate::sandbox::Sandbox::open`] right after the
/// state is made, when no other thread exists.
#[cfg(any(feature = "lua54", feature = "lua55"))]
pub(crate) fn clear_extra_space(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: a traversal of the registry with nothing changed in it but the
    // extra space of its threads (this embedding's bytes); `lua_next` on a
    // table not modified during the traversal raises nothing. Stack: the key
    // and the value (two slots; `exec_raw` checks the stack).
    unsafe {
        lua.exec_raw::<()>((), |state| {
            *ffi::lua_getextraspace(state).cast::<*mut c_void>() = std::ptr::null_mut();
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, ffi::LUA_REGISTRYINDEX) != 0 {
                if ffi::lua_type(state, -1) == ffi::LUA_TTHREAD {
                    let thread = ffi::lua_tothread(state, -1);
                    *ffi::lua_getextraspace(thread).cast::<*mut c_void>() = std::ptr::null_mut();
                }
                ffi::lua_pop(state, 1);
            }
        })
    }
}

/// LuaJIT and Luau have no extra space: the fast path reads its upvalue.
///
/// # Safety
/// None needed; `unsafe` to match the Lua 5.4 / 5.5 version.
#[cfg(not(any(feature = "lua54", feature = "lua55")))]
unsafe fn publish(_state: *mut ffi::lua_State, _fast: *mut c_void) {}

/// The VM's [`FastPath`], for a C function of this module running on `state`:
/// from the thread's extra space where [`publish`] put it, else (threads
/// made before it, LuaJIT, Luau) from upvalue 1.
///
/// # Safety
/// `state` is running a C closure made by [`install_root`] (upvalue 1 is the
/// VM's `FastPath`); the reference does not outlive the VM.
#[inline(always)]
unsafe fn fast_path<'a>(state: *mut ffi::lua_State) -> &'a FastPath {
    // SAFETY: the caller's contract; a non-null extra space holds what
    // `publish` wrote (the VM's `FastPath`), copied by the engine from the
    // main thread when this thread was made.
    unsafe {
        #[cfg(any(feature = "lua54", feature = "lua55"))]
        {
            let published = *ffi::lua_getextraspace(state).cast::<*const FastPath>();
            if !published.is_null() {
                return &*published;
            }
        }
        &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const FastPath)
    }
}

fn bridge_and_slow_path(lua: &Lua) -> mlua::Result<(*mut c_void, CtxProxy)> {
    let bridge = lua
        .app_data_ref::<Rc<Bridge>>()
        .ok_or_else(|| mlua::Error::runtime("the ctx bridge is not installed in this VM"))?;
    // The `Rc` in the app data lives as long as the Lua state, and with it this closure.
    Ok((Rc::as_ptr(&bridge) as *mut c_void, CtxProxy::root((*bridge).clone())))
}

/// Calls the fallback (upvalue 2) with the `nargs` arguments of this call;
/// it raises the Lua errors of the complete implementation.
///
/// # Safety
/// Called from a C function of this module (two upvalues, at least `nargs`
/// arguments), with no Rust value with a destructor alive in the caller: the
/// fallback may raise a Lua error, which unwinds with `longjmp`.
unsafe fn slow_path(state: *mut ffi::lua_State, nargs: c_int, nresults: c_int) -> c_int {
    // SAFETY: the caller's contract; `lua_call` runs the fallback unprotected,
    // as a Lua error raised here must reach the script.
    unsafe {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        for i in 1..=nargs {
            ffi::lua_pushvalue(state, i);
        }
        ffi::lua_call(state, nargs, nresults);
    }
    nresults
}

/// The bytes of the string at `idx`, if it is a string (not a number).
///
/// # Safety
/// `idx` is a valid index of `state`'s stack, and the bytes are used only
/// while the string stays there (the returned lifetime is the caller's choice).
pub(crate) unsafe fn string_at<'a>(state: *mut ffi::lua_State, idx: c_int) -> Option<&'a [u8]> {
    // SAFETY: the caller's contract; a string is read without conversion.
    unsafe {
        if ffi::lua_type(state, idx) != ffi::LUA_TSTRING {
            return None;
        }
        let mut len = 0usize;
        let ptr = ffi::lua_tolstring(state, idx, &mut len);
        Some(std::slice::from_raw_parts(ptr.cast::<u8>(), len))
    }
}

/// `bytes` as text if they are valid UTF-8. Short ASCII strings (most context
/// values a script writes) skip the general validation: `is_ascii` reads a
/// word at a time (the seed chain's message: ~45 instructions less, callgrind).
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    if is_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// `bytes.is_ascii()`, inline for up to 32 bytes (overlapping word loads;
/// the library's version is a call of ~27 instructions for the seed's message).
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = bytes.len();
    let word = |at: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    match n {
        0..8 => bytes.iter().all(u8::is_ascii),
        8..=16 => (word(0) | word(n - 8)) & HIGH == 0,
        17..=32 => (word(0) | word(8) | word(n - 16) | word(n - 8)) & HIGH == 0,
        _ => bytes.is_ascii(),
    }
}

/// Whether the first argument is the root `ctx` (the bridge's address), not
/// a nested view sharing its metatable (see [`crate::view_handle`]).
///
/// # Safety
/// `state` is running a C function of this module with at least one argument.
#[inline(always)]
unsafe fn is_root(state: *mut ffi::lua_State, fast: &FastPath) -> bool {
    // SAFETY: the caller's contract.
    unsafe { ffi::lua_touserdata(state, 1).cast_const() == Rc::as_ptr(&fast.bridge).cast::<c_void>() }
}

/// `__index` of the root `ctx`.
///
/// # Safety
/// Called by Lua only, as the C closure made by [`closure`]: upvalue 1 is the
/// VM's [`FastPath`], upvalue 2 the fallback, arguments `(ctx, key)`.
unsafe extern "C-unwind" fn fast_index(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalue 1 is the VM's `FastPath` (kept alive by the VM's app
    // data as long as the Lua state). The context pointer is the running
    // call's (`Bridge::current_ctx_ptr`: the innermost scope, not busy), valid
    // while that call runs, which it does (it called us); nothing here runs
    // Lua code except the slow path, which is entered with no borrow of the
    // context alive; the string copy may run the GC, so `busy` keeps
    // finalizers off the context meanwhile.
    unsafe {
        let fast = fast_path(state);
        let bridge = &*fast.bridge;
        if bridge.light_views() && !is_root(state, fast) {
            return index_nested(state, bridge, false);
        }
        let Some(key) = string_at(state, 2) else { return slow_path(state, 2, 1) };
        let Some(ctx) = bridge.current_ctx_ptr() else { return slow_path(state, 2, 1) };
        let map = (*ctx).values();
        let value = match fast.keys.find(map, key.as_ptr(), key) {
            KeyLookup::Found(i) => map.get_index(i).map(|(_, v)| v),
            KeyLookup::Missing => None,
            KeyLookup::NotUtf8 => return slow_path(state, 2, 1),
        };
        match value {
            None | Some(Value::Nil) => ffi::lua_pushnil(state),
            Some(Value::Bool(b)) => ffi::lua_pushboolean(state, c_int::from(*b)),
            Some(Value::Int(i)) => ffi::lua_pushinteger(state, *i),
            Some(Value::Float(f)) => ffi::lua_pushnumber(state, *f),
            Some(Value::String(s)) => {
                // Copying may run the GC (and finalizers): keep them off the context meanwhile.
                let (ptr, len) = (s.as_ptr(), s.len());
                bridge.set_busy(true);
                ffi::lua_pushlstring(state, ptr.cast(), len);
                bridge.set_busy(false);
            }
            Some(Value::Array(_) | Value::Map(_)) => return index_nested(state, bridge, true),
        }
        1
    }
}

/// `__newindex` of a nested view: the slow path (kept out of `fast_newindex`,
/// which stays as small as it was for the root's writes).
///
/// # Safety
/// As [`fast_newindex`], whose arguments `(view, key, value)` are on the stack.
#[cold]
#[inline(never)]
unsafe fn newindex_nested(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { slow_path(state, 3, 0) }
}

/// `__index` of a nested view (`root` false), or of a root key holding a
/// table (`root` true): [`crate::view_fast`], else the slow path.
///
/// # Safety
/// As [`fast_index`], whose arguments `(ctx or view, key)` are on the stack.
// Kept out of `fast_index`, whose scalar reads of the root stay as small as they were.
#[inline(never)]
unsafe fn index_nested(state: *mut ffi::lua_State, bridge: &Bridge, root: bool) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        let view = match root {
            true => None,
            false => match view_handle::decode(ffi::lua_touserdata(state, 1)) {
                Some(view) => Some(view),
                None => return slow_path(state, 2, 1),
            },
        };
        match view_fast::index(state, bridge, view) {
            Some(pushed) => pushed,
            None => slow_path(state, 2, 1),
        }
    }
}

/// `__newindex` of the root `ctx`.
///
/// # Safety
/// As [`fast_index`], with arguments `(ctx, key, value)`.
unsafe extern "C-unwind" fn fast_newindex(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: as in `fast_index`. The only call back into Lua is the slow
    // path, entered before any borrow of the context is taken or after the
    // last one ends (the converted value is dropped first); allocating the
    // new key or string runs no Lua code (Rust allocations).
    unsafe {
        let fast = fast_path(state);
        let bridge = &*fast.bridge;
        if bridge.light_views() && !is_root(state, fast) {
            return newindex_nested(state);
        }
        let Some(key) = string_at(state, 2) else { return slow_path(state, 3, 0) };
        let Some(ctx) = bridge.current_ctx_ptr() else { return slow_path(state, 3, 0) };
        let map = (*ctx).values_mut();
        let found = match fast.keys.find(map, key.as_ptr(), key) {
            KeyLookup::Found(i) => Some(i),
            KeyLookup::Missing => None,
            KeyLookup::NotUtf8 => return slow_path(state, 3, 0),
        };
        // A table in the slot may be held by a view: the slow path keeps track of it.
        let slot = found.and_then(|i| map.get_index(i)).map(|(_, v)| v);
        if matches!(slot, Some(Value::Array(_) | Value::Map(_))) {
            return slow_path(state, 3, 0);
        }
        let key_size = string_size(key.len());
        let old_size = slot.map_or(0, |v| key_size + stored_size(v));
        let value = match ffi::lua_type(state, 3) {
            ffi::LUA_TNIL => {
                if let Some(i) = found {
                    bridge.record(&*ctx, old_size, 0, 0, 0);
                    (*ctx).values_mut().shift_remove_index(i);
                }
                return 0;
            }
            ffi::LUA_TBOOLEAN => Value::Bool(ffi::lua_toboolean(state, 3) != 0),
            ffi::LUA_TNUMBER if ffi::lua_isinteger(state, 3) != 0 => Value::Int(ffi::lua_tointeger(state, 3)),
            ffi::LUA_TNUMBER => {
                let f = ffi::lua_tonumber(state, 3);
                if !f.is_finite() {
                    return slow_path(state, 3, 0);
                }
                Value::Float(f)
            }
            ffi::LUA_TSTRING => {
                // The type is known: read the bytes without a second type check.
                let mut len = 0usize;
                let bytes = std::slice::from_raw_parts(ffi::lua_tolstring(state, 3, &mut len).cast::<u8>(), len);
                let Some(text) = utf8(bytes) else {
                    return slow_path(state, 3, 0);
                };
                if let Some(Value::String(old)) =
                    found.and_then(|i| (*ctx).values_mut().get_index_mut(i)).map(|(_, v)| v)
                    && reuse_buffer(old, text.len())
                {
                    // The buffer keeps its capacity, and with it its charged
                    // size: nothing to charge.
                    old.clear();
                    old.push_str(text);
                    return 0;
                }
                Value::String(text.to_owned())
            }
            _ => return slow_path(state, 3, 0),
        };
        // What Lua adds to the context counts against the memory cap; over it,
        // the slow path raises the limit error. A value of the same size as
        // the one it replaces (a number over a number) changes no account:
        // nothing to charge (callgrind: ~25 instructions per such write).
        let new_size = key_size + stored_size(&value);
        if new_size != old_size && !bridge.charge_ctx(&*ctx, old_size, new_size) {
            // Nothing with a destructor may be alive where the slow path raises.
            drop(value);
            return slow_path(state, 3, 0);
        }
        let map = (*ctx).values_mut();
        match found.and_then(|i| map.get_index_mut(i)) {
            Some((_, slot)) => *slot = value,
            None => {
                // Valid UTF-8: `KeyCache::find` said so.
                let key = std::str::from_utf8_unchecked(key);
                let (index, _) = map.insert_full(key.to_owned(), value);
                fast.keys.remember(key.as_ptr(), index);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The extra space of `state` (Lua 5.4 / 5.5).
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    fn extra_space(state: *mut ffi::lua_State) -> *const c_void {
        // SAFETY: a live state of a VM on this thread; the slot is a pointer's worth of bytes.
        unsafe { *ffi::lua_getextraspace(state).cast::<*const c_void>() }
    }

    /// The fast path is published where every later thread of the VM finds
    /// it (its main thread's extra space, copied into new threads), and
    /// `fast_path` reads it from there and from the upvalue alike.
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    #[test]
    fn the_fast_path_is_published_to_every_later_thread() {
        let lua = Lua::new();
        clear_extra_space(&lua).unwrap();
        let made_before = lua.create_thread(lua.create_function(|_, ()| Ok(())).unwrap()).unwrap();
        lua.set_app_data(Rc::new(Bridge::new(crate::Limits::UNLIMITED)));
        install_root(&lua).unwrap();
        let fast = Rc::as_ptr(&lua.app_data_ref::<Rc<FastPath>>().unwrap()).cast::<c_void>();
        // SAFETY: the main thread of `lua`, read through the registry as `publish` does.
        let main = unsafe {
            lua.exec_raw::<mlua::Thread>((), |state| {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
            })
            .unwrap()
        };
        assert_eq!(extra_space(main.state()), fast, "published on the main thread");
        let coroutine: mlua::Thread = lua.load("coroutine.create(function() end)").eval().unwrap();
        assert_eq!(extra_space(coroutine.state()), fast, "copied into a coroutine made later");
        assert!(extra_space(made_before.state()).is_null(), "a thread made before keeps null");
    }

    /// A VM as the sandbox opens it has null in the extra space of every
    /// thread (main and mlua's reference thread), not the garbage the engine
    /// leaves there.
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    #[test]
    fn an_opened_vm_has_no_garbage_in_its_threads_extra_space() {
        for _ in 0..50 {
            // Freed blocks with pointers in them, for the next VM's threads to land on.
            let junk: Vec<Box<[usize; 64]>> = (0..64).map(|i| Box::new([i + 0x1000; 64])).collect();
            drop(junk);
            let lua = crate::sandbox::Sandbox::default().open().unwrap();
            // SAFETY: a traversal of the registry that changes nothing.
            let threads = unsafe {
                lua.exec_raw::<usize>((), |state| {
                    let mut found = 0;
                    ffi::lua_pushnil(state);
                    while ffi::lua_next(state, ffi::LUA_REGISTRYINDEX) != 0 {
                        if ffi::lua_type(state, -1) == ffi::LUA_TTHREAD {
                            assert!(extra_space(ffi::lua_tothread(state, -1)).is_null());
                            found += 1;
                        }
                        ffi::lua_pop(state, 1);
                    }
                    ffi::lua_pushinteger(state, found);
                })
                .unwrap()
            };
            assert!(threads >= 2, "the main thread and mlua's reference thread");
        }
    }

    #[test]
    fn ascii_is_seen_at_every_length_and_position() {
        for n in 0..=40 {
            let text: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(is_ascii(&text));
            assert_eq!(utf8(&text), std::str::from_utf8(&text).ok());
            for i in 0..n {
                let mut high = text.clone();
                high[i] = 0xC3;
                assert!(!is_ascii(&high), "byte {i} of {n}");
                assert_eq!(utf8(&high), std::str::from_utf8(&high).ok());
            }
        }
    }
}
