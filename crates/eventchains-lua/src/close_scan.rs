//! Finding to-be-closed variables (`local x <close>`) in compiled Lua 5.4 code.
//!
//! After an error (also a limit error raised by the hook), Lua runs pending
//! `__close` metamethods where no limit could stop them, so the sandbox
//! refuses scripts whose code marks a variable to be closed. The check reads
//! the compiled function, not the text: a comment inside the attribute
//! (`<close --[[c]]>`) or odd spacing cannot hide it, and text that merely
//! looks like one (`a < close > b`, strings, comments) is not refused. The
//! function is dumped (with line information) and every prototype's code is
//! scanned for the `OP_TBC` instruction, the only way a variable becomes
//! to-be-closed.
//!
//! Only Lua 5.4 has the attribute among the engines whose dump format this
//! reads; LuaJIT and Luau do not have it at all (their parsers reject it). On
//! Lua 5.5 the compiled code is read with the 5.5 dump layout.

/// `OP_TBC`: the 56th opcode of Lua 5.4 and 5.5 (`lopcodes.h`).
const OP_TBC: u32 = 55;
/// The opcode is the low 7 bits of an instruction.
const OPCODE_MASK: u32 = 0x7f;
/// `ABSLINEINFO` in `lineinfo`: the line is in the absolute line table.
const ABS_LINE_INFO: i8 = -0x80;

/// Why a dump could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpError(&'static str);

impl DumpError {
    /// What is wrong with the dump (the message without its prefix).
    pub(crate) fn reason(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for DumpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable bytecode: {}", self.0)
    }
}

/// The line of the first to-be-closed variable in `dump` (a `string.dump` /
/// `Function::dump` of a function, with debug information), searching nested
/// functions too: `Ok(Some(line))` (0 when the dump has no line information),
/// `Ok(None)` when there is none.
pub(crate) fn first_to_be_closed(dump: &[u8]) -> Result<Option<u32>, DumpError> {
    let mut reader = Reader { bytes: dump, pos: 0 };
    let header = reader.header()?;
    reader.byte()?; // number of upvalues of the main function
    reader.function(&header)
}

struct Header {
    instruction: usize,
    integer: usize,
    number: usize,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DumpError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or(DumpError("truncated"))?;
        let bytes: &'a [u8] = self.bytes;
        let slice = &bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, DumpError> {
        Ok(self.take(1)?[0])
    }

    /// `dumpSize` (5.4): 7 bits per byte, most significant first, the last byte has 0x80 set.
    #[cfg(not(feature = "lua55"))]
    fn size(&mut self) -> Result<usize, DumpError> {
        let mut x: usize = 0;
        loop {
            let b = self.byte()?;
            x = x.checked_mul(128).and_then(|x| x.checked_add(usize::from(b & 0x7f))).ok_or(DumpError("size"))?;
            if b & 0x80 != 0 {
                return Ok(x);
            }
        }
    }

    /// `dumpVarint` (5.5): 7 bits per byte, most significant first, every byte
    /// but the last has 0x80 set.
    #[cfg(feature = "lua55")]
    fn size(&mut self) -> Result<usize, DumpError> {
        let mut x: usize = 0;
        loop {
            let b = self.byte()?;
            x = x.checked_mul(128).and_then(|x| x.checked_add(usize::from(b & 0x7f))).ok_or(DumpError("size"))?;
            if b & 0x80 == 0 {
                return Ok(x);
            }
        }
    }

    /// An integer constant: `lua_Integer` bytes (5.4), a varint of its zigzag coding (5.5).
    fn integer(&mut self, header: &Header) -> Result<(), DumpError> {
        #[cfg(not(feature = "lua55"))]
        self.take(header.integer)?;
        // Skipped byte by byte: a 64-bit value takes up to 10 bytes (more than a `usize` holds).
        #[cfg(feature = "lua55")]
        {
            let _ = header.integer;
            while self.byte()? & 0x80 != 0 {}
        }
        Ok(())
    }

    fn count(&mut self, each: usize) -> Result<usize, DumpError> {
        let n = self.size()?;
        // Every item takes at least `each` bytes: a count beyond the rest is corrupt.
        if n.saturating_mul(each.max(1)) > self.bytes.len() - self.pos {
            return Err(DumpError("count beyond the end"));
        }
        Ok(n)
    }

    fn header(&mut self) -> Result<Header, DumpError> {
        if self.take(4)? != b"\x1bLua" {
            return Err(DumpError("signature"));
        }
        let version = self.byte()?;
        if version != LUAC_VERSION {
            return Err(DumpError("version"));
        }
        self.byte()?; // format
        if self.take(6)? != b"\x19\x93\r\n\x1a\n" {
            return Err(DumpError("LUAC_DATA"));
        }
        self.sizes()
    }

    #[cfg(not(feature = "lua55"))]
    fn sizes(&mut self) -> Result<Header, DumpError> {
        let instruction = usize::from(self.byte()?);
        let integer = usize::from(self.byte()?);
        let number = usize::from(self.byte()?);
        self.take(integer)?; // LUAC_INT
        self.take(number)?; // LUAC_NUM
        if instruction != 4 {
            return Err(DumpError("instruction size"));
        }
        Ok(Header { instruction, integer, number })
    }

    /// 5.5: for int, Instruction, lua_Integer and lua_Number: a size byte and a sample value.
    #[cfg(feature = "lua55")]
    fn sizes(&mut self) -> Result<Header, DumpError> {
        let int = usize::from(self.byte()?);
        self.take(int)?;
        let instruction = usize::from(self.byte()?);
        self.take(instruction)?;
        let integer = usize::from(self.byte()?);
        self.take(integer)?;
        let number = usize::from(self.byte()?);
        self.take(number)?;
        if instruction != 4 {
            return Err(DumpError("instruction size"));
        }
        Ok(Header { instruction, integer, number })
    }

    /// `dumpString` (5.4): 0 for none, else size + 1 and the bytes.
    #[cfg(not(feature = "lua55"))]
    fn string(&mut self) -> Result<(), DumpError> {
        let size = self.size()?;
        if size > 0 {
            self.take(size - 1)?;
        }
        Ok(())
    }

    /// `dumpString` (5.5): 0 and an index for a string saved before, else size + 1 and the bytes with their `\0`.
    #[cfg(feature = "lua55")]
    fn string(&mut self) -> Result<(), DumpError> {
        let size = self.size()?;
        if size == 0 {
            self.size()?;
        } else {
            self.take(size)?;
        }
        Ok(())
    }

    /// 5.5 aligns the code and the absolute line table to their element size.
    #[cfg(feature = "lua55")]
    fn align(&mut self, to: usize) -> Result<(), DumpError> {
        let padding = (to - self.pos % to) % to;
        self.take(padding).map(|_| ())
    }

    /// One function and its nested functions; returns the first to-be-closed line.
    fn function(&mut self, header: &Header) -> Result<Option<u32>, DumpError> {
        #[cfg(not(feature = "lua55"))]
        self.string()?; // source
        let line_defined = self.size()?;
        self.size()?; // last line defined
        self.take(3)?; // numparams, is_vararg (5.5: flag), maxstacksize
        let code_len = self.count(header.instruction)?;
        #[cfg(feature = "lua55")]
        self.align(header.instruction)?;
        let code = self.take(code_len * header.instruction)?;
        let tbc_pc =
            code.chunks_exact(4).position(|i| u32::from_ne_bytes([i[0], i[1], i[2], i[3]]) & OPCODE_MASK == OP_TBC);
        for _ in 0..self.count(1)? {
            match self.byte()? {
                // LUA_VNUMFLT, LUA_VNUMINT
                0x13 => drop(self.take(header.number)?),
                0x03 => self.integer(header)?,
                // LUA_VSHRSTR, LUA_VLNGSTR
                0x04 | 0x14 => self.string()?,
                // nil, false, true
                0x00 | 0x01 | 0x11 => {}
                _ => return Err(DumpError("constant type")),
            }
        }
        let upvalues = self.count(3)?;
        self.take(upvalues * 3)?;
        let mut nested = None;
        for _ in 0..self.count(1)? {
            let found = self.function(header)?;
            nested = nested.or(found);
        }
        #[cfg(feature = "lua55")]
        self.string()?; // source
        let line = self.debug(line_defined, tbc_pc)?;
        Ok(tbc_pc.map(|_| line).or(nested))
    }

    /// Skips the debug information; returns the line of instruction `pc` (0 if unknown).
    fn debug(&mut self, line_defined: usize, pc: Option<usize>) -> Result<u32, DumpError> {
        let n = self.count(1)?;
        let line_info = self.take(n)?;
        let abs_count = self.count(2)?;
        let mut abs = Vec::new();
        #[cfg(not(feature = "lua55"))]
        for _ in 0..abs_count {
            abs.push((self.size()?, self.size()?));
        }
        #[cfg(feature = "lua55")]
        if abs_count > 0 {
            self.align(4)?;
            for pair in self.take(abs_count * 8)?.chunks_exact(8) {
                let pc = i32::from_ne_bytes([pair[0], pair[1], pair[2], pair[3]]);
                let line = i32::from_ne_bytes([pair[4], pair[5], pair[6], pair[7]]);
                abs.push((usize::try_from(pc).unwrap_or(0), usize::try_from(line).unwrap_or(0)));
            }
        }
        for _ in 0..self.count(3)? {
            self.string()?;
            self.size()?;
            self.size()?;
        }
        for _ in 0..self.count(1)? {
            self.string()?;
        }
        let Some(pc) = pc else { return Ok(0) };
        if pc >= line_info.len() {
            return Ok(0);
        }
        // As `luaG_getfuncline`: deltas from `linedefined`, absolute entries where marked.
        let mut line = line_defined as i64;
        for (i, delta) in line_info.iter().take(pc + 1).enumerate() {
            let delta = *delta as i8;
            if delta == ABS_LINE_INFO {
                line = abs.iter().find(|(p, _)| *p == i).map_or(line, |(_, l)| *l as i64);
            } else {
                line += i64::from(delta);
            }
        }
        Ok(u32::try_from(line).unwrap_or(0))
    }
}

#[cfg(not(feature = "lua55"))]
const LUAC_VERSION: u8 = 0x54;
#[cfg(feature = "lua55")]
const LUAC_VERSION: u8 = 0x55;

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str) -> Option<u32> {
        let lua = mlua::Lua::new();
        let f = lua.load(src).into_function().expect("compiles");
        first_to_be_closed(&f.dump(false)).expect("readable")
    }

    #[test]
    fn to_be_closed_variables_are_found_with_their_line_at_any_depth() {
        assert_eq!(scan("local x <close> = nil"), Some(1));
        assert_eq!(scan("local a = 1\n\nlocal x <--[[c]]close> = nil"), Some(3));
        assert_eq!(scan("return function()\n return function()\n local y <close --[==[\n]==]> = nil end end"), Some(4));
        let stripped = {
            let lua = mlua::Lua::new();
            lua.load("local k = 1.5 local s = 'x' local x <close> = nil").into_function().expect("compiles").dump(true)
        };
        assert_eq!(first_to_be_closed(&stripped), Ok(Some(0)));
    }

    #[test]
    fn look_alikes_are_not_refused() {
        let many_lines = "\n".repeat(300);
        assert_eq!(
            scan(&format!(
                "local close = 1 local a, b = 0, 0 local x = a < close > b -- <close>\n{many_lines}return '<close>', [[<close>]], 1.5, 2, true"
            )),
            None
        );
        assert_eq!(scan("local x <const> = 1 return function() return x end"), None);
    }

    /// Sizes and integers of every width (5.5 codes both as varints; 5.4
    /// integers are fixed-size): counts over 127, integers up to
    /// `math.maxinteger` and negative ones, long strings, lines over 127.
    #[test]
    fn wide_sizes_and_integers_are_read() {
        let items: String = (0..300).map(|i| format!("{}, ", i * 1_000_003)).collect();
        let constants = format!("local t = {{ {items} }}");
        let many = format!(
            "{constants}\nlocal big, neg, s = math.maxinteger, -9007199254740993, '{}'\n{}local x <close> = nil",
            "x".repeat(300),
            "\n".repeat(200)
        );
        assert_eq!(scan(&format!("return function() {many} end")), Some(203));
        assert_eq!(scan("return 0x7fffffffffffffff, -0x8000000000000000, -1, 1, 1.5"), None);
    }

    #[test]
    fn corrupt_dumps_are_errors_not_panics() {
        let lua = mlua::Lua::new();
        let dump = lua.load("local x <close> = nil return 1").into_function().expect("compiles").dump(false);
        for len in 0..dump.len() {
            let _ = first_to_be_closed(&dump[..len]);
        }
        assert!(first_to_be_closed(b"\x1bLuaR").is_err());
        assert!(first_to_be_closed(b"not bytecode").is_err());
    }
}
