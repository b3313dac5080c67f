//! A static scan of a script's text for `ctx.<key>` reads and writes, for
//! `eventchains check`'s warnings about keys that nothing sets.
//!
//! It is a text scan, not an analysis: comments and strings are skipped, and
//! only the first key after `ctx.` counts (`ctx.order.id = 1` reads `order`).
//! `ctx.key = value` is a write, every other use a read. Keys written through
//! `ctx["key"]`, returned tables merged into the context, and keys set by Rust
//! events are not seen: a script names them in a directive comment,
//! `--! ctx: total, subtotal`, as it names the keys its caller provides.

use std::collections::BTreeMap;

/// The `ctx` keys of a script: where each is first read, which are written,
/// and which the script declares (`--! ctx: a, b`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CtxKeys {
    /// Key -> line of its first read.
    pub reads: BTreeMap<String, usize>,
    /// Keys assigned with `ctx.key = ...`.
    pub writes: Vec<String>,
    /// Keys named in `--! ctx:` directives.
    pub declared: Vec<String>,
}

/// Scans `source`.
pub fn scan(source: &str) -> CtxKeys {
    let bytes = source.as_bytes();
    let mut keys = CtxKeys::default();
    let mut line = 1;
    let mut i = 0;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
            i += 1;
        } else if source[i..].starts_with("--") {
            let rest = &source[i + 2..];
            if let Some(level) = long_bracket(rest) {
                let close = format!("]{}]", "=".repeat(level));
                let end = rest.find(&close).map_or(source.len(), |e| i + 2 + e + close.len());
                line += source[i..end].matches('\n').count();
                i = end;
            } else {
                let end = rest.find('\n').map_or(source.len(), |e| i + 2 + e);
                if let Some(list) = source[i + 2..end].trim_start().strip_prefix("! ctx:") {
                    keys.declared.extend(list.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()));
                }
                i = end;
            }
        } else if b == b'"' || b == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != b && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b == b'[' && long_bracket(&source[i..]).is_some() {
            let level = long_bracket(&source[i..]).unwrap_or(0);
            let close = format!("]{}]", "=".repeat(level));
            let end = source[i..].find(&close).map_or(source.len(), |e| i + e + close.len());
            line += source[i..end].matches('\n').count();
            i = end;
        } else if source[i..].starts_with("ctx.") && (i == 0 || !ident(bytes[i - 1]) && bytes[i - 1] != b'.') {
            let start = i + 4;
            let mut end = start;
            while end < bytes.len() && ident(bytes[end]) {
                end += 1;
            }
            if end > start {
                let key = source[start..end].to_owned();
                let after = source[end..].trim_start_matches([' ', '\t']);
                if after.starts_with('=') && !after.starts_with("==") {
                    if !keys.writes.contains(&key) {
                        keys.writes.push(key);
                    }
                } else {
                    keys.reads.entry(key).or_insert(line);
                }
            }
            i = end.max(i + 4);
        } else {
            i += 1;
        }
    }
    keys
}

/// The level of a long bracket `[[` / `[==[` at the start of `text`.
fn long_bracket(text: &str) -> Option<usize> {
    let rest = text.strip_prefix('[')?;
    let level = rest.bytes().take_while(|b| *b == b'=').count();
    rest[level..].starts_with('[').then_some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_declarations() {
        let src = r#"--! ctx: total
-- ctx.in_comment is not a read
local s = "ctx.in_string"
--[[ ctx.in_long_comment ]]
return { events = { { name = "a", handler = function(ctx)
  ctx.count = (ctx.count or 0) + 1
  if ctx.order.id == ctx.total then ctx.order.ok = true end
  local x = myctx.not_ctx
end } } }
"#;
        let keys = scan(src);
        assert_eq!(keys.declared, ["total"]);
        assert_eq!(keys.writes, ["count"]);
        let reads: Vec<(&str, usize)> = keys.reads.iter().map(|(k, l)| (k.as_str(), *l)).collect();
        assert_eq!(reads, [("count", 6), ("order", 7), ("total", 7)]);
    }
}
