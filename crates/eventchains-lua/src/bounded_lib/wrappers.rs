//! The bounded library's plain wrappers as C closures (Lua 5.4 and 5.5):
//! `string.rep`, `table.insert`, `table.remove`, `table.sort`,
//! `table.concat` and `table.unpack` (and `table.move`, in [`super::table_move`]).
//!
//! Each charges the work its call will do when that is large (see the table
//! in [`super`]), then runs the engine's C function in its own frame, on the
//! caller's arguments as given: the C function's errors name it and the
//! script's line (`s.lua:3: bad argument #1 to 'insert'`), as an unwrapped
//! call's would. Built in Lua, each wrapper was one more function to load in
//! every new VM (about 2,500 instructions each, a few hundred for a C
//! closure). The checks are the Lua wrappers', operation for operation: `#t`
//! through `lua_len` (a `__len` metamethod runs once, as before), the
//! arithmetic and the comparison with 4,096 through `lua_arith` and
//! `lua_compare` (the same coercions and metamethods as the Lua operators).
//! Metamethods called from here cannot yield (nor could they inside the C
//! function called next); an attempt is the usual "attempt to yield across a
//! C-call boundary" error.
//!
//! Upvalues of every wrapper: 1 the engine's function, 2 `checkpoint(work)`
//! (charges `work` instructions and checks the caps; may raise), 3 whether
//! the engine's function is a C function without upvalues (then called in
//! this frame; otherwise through `lua_call`).
//!
//! No Rust value with a destructor is alive when Lua may raise an error (a
//! `longjmp` or an unwind through these frames).

use std::ffi::c_int;

use mlua::ffi;

/// The size above which a call's work is charged (as the Lua wrappers' `BIG`).
const BIG: ffi::lua_Integer = 4096;

/// Which wrapper a library function gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wrapper {
    /// `string.rep(s, n, sep)`.
    Rep,
    /// `table.insert(t, [pos,] v)`.
    Insert,
    /// `table.remove(t, [pos])`.
    Remove,
    /// `table.sort(t, [comp])`.
    Sort,
    /// `table.concat(t, sep, i, j)`.
    Concat,
    /// `table.unpack(t, i, j)`.
    Unpack,
    /// `table.move(a1, f, e, t, a2)` ([`super::table_move`]).
    Move,
}

impl Wrapper {
    /// Every wrapper, with the library and field it replaces.
    pub(super) const ALL: [(&'static str, &'static str, Wrapper); 7] = [
        ("string", "rep", Wrapper::Rep),
        ("table", "insert", Wrapper::Insert),
        ("table", "remove", Wrapper::Remove),
        ("table", "sort", Wrapper::Sort),
        ("table", "concat", Wrapper::Concat),
        ("table", "unpack", Wrapper::Unpack),
        ("table", "move", Wrapper::Move),
    ];

    fn function(self) -> ffi::lua_CFunction {
        match self {
            Wrapper::Rep => rep,
            Wrapper::Insert => insert,
            Wrapper::Remove => remove,
            Wrapper::Sort => sort,
            Wrapper::Concat => concat,
            Wrapper::Unpack => unpack,
            Wrapper::Move => super::table_move::table_move,
        }
    }
}

/// Replaces each function of [`Wrapper::ALL`] in the library tables of the
/// globals at stack slot 1 by its C closure over it and the `checkpoint`
/// function at slot 2; a library or function that is absent (or not a
/// table, a function) is left as it is.
///
/// # Safety
/// Inside a protected raw call (`Lua::exec_raw`) whose stack holds the
/// globals at 1 and `checkpoint` at 2, with room for six more values; the
/// stack is left at those two. Raises only memory errors.
pub(super) unsafe fn install(state: *mut ffi::lua_State) {
    // SAFETY: the caller's contract; every step below leaves the stack at
    // those two (`lua_getupvalue` pushes a value only when it returns a name).
    unsafe {
        for (lib, name, wrapper) in Wrapper::ALL {
            ffi::lua_pushlstring(state, lib.as_ptr().cast(), lib.len());
            if ffi::lua_rawget(state, 1) == ffi::LUA_TTABLE {
                ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len()); // 4: the key
                ffi::lua_pushvalue(state, 4);
                if ffi::lua_rawget(state, 3) == ffi::LUA_TFUNCTION {
                    // 5: the engine's function
                    let plain = ffi::lua_tocfunction(state, 5).is_some() && ffi::lua_getupvalue(state, 5, 1).is_null();
                    ffi::lua_settop(state, 5);
                    ffi::lua_pushvalue(state, 2);
                    ffi::lua_pushboolean(state, c_int::from(plain));
                    ffi::lua_pushcclosure(state, wrapper.function(), 3);
                    ffi::lua_rawset(state, 3);
                }
            }
            ffi::lua_settop(state, 2);
        }
    }
}

/// Runs the engine's function on this frame's arguments and returns its results.
///
/// # Safety
///
/// Called from a wrapper's frame (its upvalues exist), the stack holding the
/// call's arguments only.
pub(super) unsafe fn call_original(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the caller's contract; a C function without upvalues reads
    // only its arguments, so it can work in this frame.
    unsafe {
        if ffi::lua_toboolean(state, ffi::lua_upvalueindex(3)) != 0
            && let Some(original) = ffi::lua_tocfunction(state, ffi::lua_upvalueindex(1))
        {
            return original(state);
        }
        let nargs = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}

/// `checkpoint(value at idx)`.
///
/// # Safety
///
/// A wrapper's frame; `idx` a valid absolute index; room for two values.
pub(super) unsafe fn charge_value(state: *mut ffi::lua_State, idx: c_int) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        ffi::lua_pushvalue(state, idx);
        ffi::lua_call(state, 1, 0);
    }
}

/// `checkpoint(work)`.
///
/// # Safety
///
/// As [`charge_value`].
unsafe fn charge(state: *mut ffi::lua_State, work: ffi::lua_Number) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushnumber(state, work);
        charge_value(state, ffi::lua_gettop(state));
        ffi::lua_settop(state, -2);
    }
}

/// `checkpoint(0)`: only the caps checked.
///
/// # Safety
///
/// As [`charge_value`].
unsafe fn check_caps(state: *mut ffi::lua_State) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushinteger(state, 0);
        charge_value(state, ffi::lua_gettop(state));
        ffi::lua_settop(state, -2);
    }
}

/// `BIG < top`, as Lua's `n > BIG` (metamethods and errors included).
///
/// # Safety
///
/// A value on the stack; room for one more.
unsafe fn above_big(state: *mut ffi::lua_State) -> bool {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushinteger(state, BIG);
        let above = ffi::lua_compare(state, -1, -2, ffi::LUA_OPLT) != 0;
        ffi::lua_settop(state, -2);
        above
    }
}

/// `a - b` for the two values on top (as Lua's `-`: metamethods and errors
/// included), charged when over 4,096; the difference is left on top.
///
/// # Safety
///
/// A wrapper's frame with two values on top; room for two more.
unsafe fn charge_difference(state: *mut ffi::lua_State) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_arith(state, ffi::LUA_OPSUB);
        if above_big(state) {
            charge_value(state, ffi::lua_gettop(state));
        }
    }
}

/// `type(v) == "table" or type(v) == "userdata"`.
unsafe fn sized(state: *mut ffi::lua_State, idx: c_int) -> bool {
    // SAFETY: any index is valid for `lua_type`.
    matches!(unsafe { ffi::lua_type(state, idx) }, ffi::LUA_TTABLE | ffi::LUA_TUSERDATA | ffi::LUA_TLIGHTUSERDATA)
}

pub(super) fn is_number(state: *mut ffi::lua_State, idx: c_int) -> bool {
    // SAFETY: any index is valid for `lua_type`.
    unsafe { ffi::lua_type(state, idx) == ffi::LUA_TNUMBER }
}

/// The string length at `idx`, if it holds a string (no conversion).
unsafe fn string_len(state: *mut ffi::lua_State, idx: c_int) -> Option<usize> {
    // SAFETY: a string is read without conversion.
    unsafe { crate::fast_ctx::string_at(state, idx).map(<[u8]>::len) }
}

/// `string.rep(s, n, sep)`: an empty result (empty `s` and `sep`) with
/// `n > 4096` repeats once instead of `n` times; a result over 4,096 bytes
/// checks the caps first.
unsafe extern "C-unwind" fn rep(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrapper made by `install`; see the module docs.
    unsafe {
        if is_number(state, 2) {
            let s_len = string_len(state, 1);
            let integer = ffi::lua_isinteger(state, 2) != 0;
            let n_int = ffi::lua_tointeger(state, 2);
            let n_num = ffi::lua_tonumber(state, 2);
            let n_above = if integer { n_int > BIG } else { n_num > BIG as ffi::lua_Number };
            if n_above {
                let sep_empty = ffi::lua_type(state, 3) <= ffi::LUA_TNIL || string_len(state, 3) == Some(0);
                if s_len == Some(0) && sep_empty {
                    // The C function would loop `n` times for nothing.
                    ffi::lua_pushinteger(state, 1);
                    ffi::lua_replace(state, 2);
                } else {
                    check_caps(state);
                }
            } else if let Some(len) = s_len {
                // `#s * n`, integer (wrapping) or float as Lua computes it.
                let len = len as ffi::lua_Integer;
                let product_above = if integer {
                    len.wrapping_mul(n_int) > BIG
                } else {
                    len as ffi::lua_Number * n_num > BIG as ffi::lua_Number
                };
                if product_above {
                    check_caps(state);
                }
            }
        }
        call_original(state)
    }
}

/// `#t - pos` elements shifted: charged when over 4,096.
unsafe fn shift(state: *mut ffi::lua_State) {
    // SAFETY: a wrapper's frame with at least two arguments.
    unsafe {
        if sized(state, 1) && is_number(state, 2) {
            let top = ffi::lua_gettop(state);
            ffi::lua_len(state, 1);
            ffi::lua_pushvalue(state, 2);
            charge_difference(state);
            ffi::lua_settop(state, top);
        }
    }
}

/// `table.insert(t, pos, v)`: the shift charged (not `insert(t, v)`).
unsafe extern "C-unwind" fn insert(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrapper made by `install`.
    unsafe {
        if ffi::lua_gettop(state) == 3 {
            shift(state);
        }
        call_original(state)
    }
}

/// `table.remove(t, pos)`: the shift charged.
unsafe extern "C-unwind" fn remove(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrapper made by `install`.
    unsafe {
        if ffi::lua_gettop(state) >= 2 {
            shift(state);
        }
        call_original(state)
    }
}

/// `table.sort(t)` without comparator: `n log2 n` comparisons charged for
/// `n = #t` over 4,096.
unsafe extern "C-unwind" fn sort(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrapper made by `install`.
    unsafe {
        if ffi::lua_type(state, 2) <= ffi::LUA_TNIL && sized(state, 1) {
            let top = ffi::lua_gettop(state);
            ffi::lua_len(state, 1);
            if above_big(state) {
                let mut is_num = 0;
                let n = ffi::lua_tonumberx(state, -1, &mut is_num);
                // Anything else is no length the C function accepts: it raises.
                if is_num != 0 {
                    charge(state, n * (n.ln() / 2.0_f64.ln()));
                }
            }
            ffi::lua_settop(state, top);
        }
        call_original(state)
    }
}

/// Elements `first..last` read (defaults 1 and `#t`): charged when over 4,096.
unsafe fn range(state: *mut ffi::lua_State, first: c_int, last: c_int) {
    // SAFETY: a wrapper's frame; `first` and `last` absolute (maybe empty) indexes.
    unsafe {
        if sized(state, 1) && (is_number(state, first) || is_number(state, last)) {
            let top = ffi::lua_gettop(state);
            if is_number(state, last) {
                ffi::lua_pushvalue(state, last);
            } else {
                ffi::lua_len(state, 1);
            }
            if is_number(state, first) {
                ffi::lua_pushvalue(state, first);
            } else {
                ffi::lua_pushinteger(state, 1);
            }
            charge_difference(state);
            ffi::lua_settop(state, top);
        }
    }
}

/// `table.concat(t, sep, i, j)`: the range charged.
unsafe extern "C-unwind" fn concat(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrapper made by `install`.
    unsafe {
        range(state, 3, 4);
        call_original(state)
    }
}

/// `table.unpack(t, i, j)`: the range charged.
unsafe extern "C-unwind" fn unpack(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a wrapper made by `install`.
    unsafe {
        range(state, 2, 3);
        call_original(state)
    }
}

#[cfg(test)]
mod tests {
    use mlua::{Function, Lua};

    /// A VM whose `checkpoint` logs the work it is charged and refuses more
    /// than 10^7 (so that no call does that much uncharged), wrapped by the
    /// C closures (`c`) or by the Lua wrappers of the other engines.
    fn vm(c: bool) -> Lua {
        let lua = Lua::new();
        // Some calls ask for results of 2^62 bytes: Lua 5.4 refuses them
        // ("resulting string too large"), 5.5 tries to allocate them, which
        // a cap turns into "not enough memory" (without one, mlua's
        // allocator aborts the process when the system refuses).
        lua.set_memory_limit(64 << 20).expect("cap");
        let checkpoint: Function = lua
            .load(
                "charged = {} return function(work)
                   charged[#charged + 1] = tostring(work)
                   if type(work) == 'number' and work > 1e7 then error('too much work: ' .. tostring(work), 0) end
                 end",
            )
            .eval()
            .expect("checkpoint");
        if c {
            super::super::install_c_wrappers(&lua, &checkpoint).expect("installs");
        } else {
            // As the other engines load them: stripped of debug information.
            let bytecode = super::super::compile_stripped(super::super::LUA_WRAPPERS_SOURCE).expect("compiles");
            lua.load(bytecode).set_mode(mlua::chunk::ChunkMode::Binary).call::<()>(&checkpoint).expect("installs");
        }
        lua
    }

    /// Hostile calls of every wrapped function: wrong types, missing
    /// arguments, huge, negative and non-finite numbers, metatables whose
    /// `__len`, `__lt` and `__sub` return odd values or raise.
    const CALLS: &str = r#"
        local function len(n) return setmetatable({}, { __len = function() return n end, __index = function() return 1 end, __newindex = function() end }) end
        local odd = setmetatable({}, { __lt = function() return true end, __sub = function() return 5000 end })
        local args = {
          {}, { 1 }, { nil, n = 1 }, { "x" }, { "", 5000 }, { "", 5000, "" }, { "", 5000, "-" }, { "ab", 3000 }, { "ab", 3000.5 },
          { "a", 2^62 }, { "ab", 2^62 // 1 }, { "ab", math.maxinteger }, { "ab", math.mininteger }, { "a", -1 }, { "a", 0/0 },
          { "a", math.huge }, { "a", -math.huge }, { "", math.huge, "" }, { "", 1e300, nil, n = 3 }, { 12, 5000 }, { "a", "5000" },
          { "a", 4097, "" }, { "", 4097, "x" }, { "a", odd }, { {}, 1 }, { true }, { print },
          { len(10), 1, "v" }, { len(10000), 1, "v" }, { len(10000), 1 }, { len(10000), 9999 }, { len(10000), 1.5, "v" },
          { len(2^40), 2^40, "v" }, { len("10000"), 1, "v" }, { len("x"), 1, "v" }, { len({}), 1, "v" }, { len(odd), 1, "v" },
          { len(nil), 1 }, { len(1e300), 1 }, { len(-5), 1 }, { len(0/0), 1 }, { len(10000) }, { len(10000), nil, n = 2 },
          { len(10000), "1" }, { {}, 1, 2, 3 }, { { 1, 2, 3 }, 2 }, { { 1, 2, 3 }, 1, "x" }, { { 3, 1, 2 } },
          { { 3, 1, 2 }, function(a, b) return a > b end }, { { 3, 1, 2 }, 42 }, { len(10000), nil, 1, n = 3 },
          { { "a", "b" }, ",", 1, 2 }, { { "a", "b" }, ",", 1, 9000 }, { { "a", "b" }, ",", -9000 }, { { "a", "b" }, ",", "1", "2" },
          { { "a", "b" }, ",", 1.5 }, { len(9000), "," }, { len(9000), ",", 1 }, { len(9000), 1 }, { { 1, 2 }, 1, 2^31 },
          { { 1, 2 }, math.mininteger, math.maxinteger }, { { 1, 2 }, 0/0 }, { { 1, 2 }, 1, odd }, { len(odd), 2 },
          { setmetatable({}, { __len = function() error("len raised") end }), 1, 2 }, { 1, 2, 3 }, { "abc", 2, 3 },
        }
        local function show(...)
          local t = table.pack(...)
          for i = 1, t.n do
            local v = t[i]
            -- Positions and names differ: the Lua wrappers' errors come from
            -- their own chunk and name the C function by its field (`'rep'`);
            -- the C closures' from the caller (here `pcall`, so Lua names the
            -- function by its library: `'string.rep'`); a missing argument is
            -- "no value" to the C closures, nil to the Lua wrappers.
            if type(v) == "string" then
              v = v:gsub("^%?:[%-%?%d]+: ", ""):gsub("^[^\n]-:%d+:%d*:? ?", ""):gsub("'string%.", "'"):gsub("'table%.", "'"):gsub("got no value", "got nil")
            end
            t[i] = type(t[i]) .. ":" .. (type(t[i]) == "table" and "table" or tostring(v))
          end
          return table.concat(t, ",")
        end
        local out = {}
        for _, f in ipairs({ "string.rep", "table.insert", "table.remove", "table.sort", "table.concat", "table.unpack" }) do
          local lib, name = f:match("(%a+)%.(%a+)")
          for i, a in ipairs(args) do
            charged = {}
            local result = show(pcall(_G[lib][name], table.unpack(a, 1, a.n or #a)))
            out[#out + 1] = f .. " #" .. i .. " " .. (#result > 200 and (#result .. " chars") or result)
              .. " charged " .. table.concat(charged, " ")
          end
        end
        return table.concat(out, "\n")
    "#;

    #[test]
    fn the_c_closures_do_what_the_lua_wrappers_do() {
        let c: String = vm(true).load(CALLS).eval().expect("runs");
        let lua: String = vm(false).load(CALLS).eval().expect("runs");
        let differ: Vec<_> = c.lines().zip(lua.lines()).filter(|(a, b)| a != b).collect();
        assert!(differ.is_empty(), "C closures vs Lua wrappers:\n{differ:#?}");
        assert_eq!(c.lines().count(), 6 * 67, "every call ran");
        // The cases that must be charged are.
        for (call, work) in
            [("string.rep #5 ", "charged \n"), ("string.rep #7 ", "charged 0"), ("table.insert #29 ", "charged 9999")]
        {
            let line = c.lines().find(|l| l.starts_with(call)).expect("ran");
            assert!(format!("{line}\n").contains(work), "{line}");
        }
    }

    /// A metamethod that yields inside a wrapper (from `__len`, as the C
    /// function itself would call it) gets the usual error, and the VM
    /// goes on working.
    #[test]
    fn a_yield_across_a_wrapper_is_an_error() {
        let lua = vm(true);
        let (ok, message): (bool, String) = lua
            .load(
                r#"
                local t = setmetatable({}, { __len = function() coroutine.yield() return 5000 end })
                local co = coroutine.create(function() return table.insert(t, 1, "v") end)
                local ok, message = coroutine.resume(co)
                return ok, tostring(message)
                "#,
            )
            .eval()
            .expect("runs");
        assert!(!ok && message.contains("attempt to yield across a C-call boundary"), "{message}");
        let sorted: String =
            lua.load("local t = { 3, 1, 2 } table.sort(t) return table.concat(t)").eval().expect("runs");
        assert_eq!(sorted, "123");
    }
}
