//! [`Prelude`]: one of the crate's own Lua chunks (the sandbox and limit
//! preludes), compiled once per process and loaded as bytecode in every VM.
//!
//! Compiling the preludes was about half the cost of a new VM; loading their
//! debug information was a third of what remained (see [`compile`]). Only these
//! trusted, compile-time constant chunks are ever loaded in binary mode;
//! script text never is (scripts go through [`crate::vm`], and `load` in the
//! sandbox refuses binary chunks).

use std::sync::OnceLock;

use mlua::Lua;
#[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
use mlua::chunk::Chunk;
use mlua::chunk::ChunkMode;

/// A constant Lua chunk of this crate and its bytecode, made on first use.
pub(crate) struct Prelude {
    name: &'static str,
    source: &'static str,
    /// `None` when compiling failed: the text is loaded then (and reports the error).
    bytecode: OnceLock<Option<Vec<u8>>>,
}

impl Prelude {
    /// The chunk `source`, named `name` (e.g. `"=sandbox"`).
    pub(crate) const fn new(name: &'static str, source: &'static str) -> Self {
        Prelude { name, source, bytecode: OnceLock::new() }
    }

    /// The chunk's code and whether it is bytecode (else its text, when it
    /// does not compile), for loading through the C API.
    #[cfg(any(feature = "lua54", feature = "lua55"))]
    pub(crate) fn code(&'static self) -> (&'static [u8], bool) {
        match self.bytecode.get_or_init(|| compile(self.name, self.source)) {
            Some(bytecode) => (bytecode.as_slice(), true),
            None => (self.source.as_bytes(), false),
        }
    }

    /// The chunk, ready to call in `lua`: its bytecode, or its text if it does not compile.
    #[cfg(any(test, not(any(feature = "lua54", feature = "lua55"))))]
    pub(crate) fn load<'a>(&'static self, lua: &'a Lua) -> Chunk<'a> {
        match self.bytecode.get_or_init(|| compile(self.name, self.source)) {
            Some(bytecode) => lua.load(bytecode.as_slice()).set_name(self.name).set_mode(ChunkMode::Binary),
            None => lua.load(self.source).set_name(self.name).set_mode(ChunkMode::Text),
        }
    }
}

/// Bytecode, without debug information on Lua 5.4 and 5.5: loading a dump
/// interns every name of its debug information (locals, upvalues) in each new
/// VM, about a third of the cost of loading it. The preludes call the C
/// functions that a script's arguments reach as table fields, so an error
/// still names the function (`bad argument #1 to 'pcall'`); errors the
/// preludes raise themselves point at the script's line (`error(msg, 2)`).
/// LuaJIT keeps its debug information (it names functions from it).
#[cfg(not(feature = "luau"))]
fn compile(name: &str, source: &str) -> Option<Vec<u8>> {
    let lua = Lua::new_with(mlua::StdLib::NONE, mlua::LuaOptions::default()).ok()?;
    let function = lua.load(source).set_name(name).set_mode(ChunkMode::Text).into_function().ok()?;
    Some(function.dump(STRIP))
}

/// Whether the preludes' bytecode drops its debug information (see [`compile`]).
#[cfg(not(feature = "luau"))]
const STRIP: bool = cfg!(any(feature = "lua54", feature = "lua55"));

/// Luau cannot dump a loaded function: its compiler makes the bytecode.
#[cfg(feature = "luau")]
fn compile(_name: &str, source: &str) -> Option<Vec<u8>> {
    mlua::chunk::Compiler::new().compile(source).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    static DOUBLE: Prelude = Prelude::new("=double", "local x = ... return x * 2");
    static BROKEN: Prelude = Prelude::new("=broken", "return (");

    #[test]
    fn a_prelude_runs_from_its_bytecode_in_many_vms() {
        for _ in 0..2 {
            let lua = Lua::new();
            assert_eq!(DOUBLE.load(&lua).call::<i64>(21).expect("runs"), 42);
        }
        assert!(DOUBLE.bytecode.get().is_some_and(Option::is_some), "compiled once, kept");
    }

    #[test]
    fn a_prelude_that_does_not_compile_reports_its_syntax_error() {
        let lua = Lua::new();
        let error = BROKEN.load(&lua).call::<()>(()).expect_err("syntax error");
        assert!(matches!(error, mlua::Error::SyntaxError { .. }), "{error:?}");
    }
}
