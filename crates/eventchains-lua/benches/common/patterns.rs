//! The pattern workloads shared by `benches/patterns.rs` (criterion) and
//! `examples/pattern_cost.rs` (instruction counts under callgrind).

use eventchains_lua::{Limits, LuaChain, LuaChainBuilder};

/// A workload: name, subject, calls per iteration, Lua body using `s` and
/// the locals `find`, `match`, `gmatch`, `gsub`.
pub struct Workload {
    pub name: &'static str,
    pub subject: fn() -> String,
    calls: u32,
    body: &'static str,
}

fn text(bytes: usize) -> String {
    let line = "the quick  brown fox jumps over   the lazy dog, key = value; n=42\n";
    let mut s = line.repeat(bytes / line.len() + 1);
    s.truncate(bytes);
    s
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "short_find_kv (C)",
        subject: || "key = value".to_owned(),
        calls: 100,
        body: "local a, b, k, v = find(s, '(%w+)%s*=%s*(%w+)')",
    },
    Workload {
        name: "short_match_trim (C)",
        subject: || "   padded text   ".to_owned(),
        calls: 100,
        body: "local t = match(s, '^%s*(.-)%s*$')",
    },
    Workload {
        name: "short_gsub_words (C)",
        subject: || "hello world from lua".to_owned(),
        calls: 100,
        body: "local r = gsub(s, '(%w+)', '<%1>')",
    },
    Workload {
        name: "short_gmatch_words (C)",
        subject: || "one two three four five".to_owned(),
        calls: 100,
        body: "for w in gmatch(s, '%a+') do end",
    },
    Workload {
        name: "short_gmatch_kv_80B (Rust)",
        subject: || "alpha = 1, beta = 22, gamma = 333, delta = 4444, epsilon = 55555, zeta = 6".to_owned(),
        calls: 100,
        body: "for k, v in gmatch(s, '(%w+)%s*=%s*(%w+)') do end",
    },
    Workload {
        name: "short_gsub_kv_80B (Rust)",
        subject: || "alpha = 1, beta = 22, gamma = 333, delta = 4444, epsilon = 55555, zeta = 6".to_owned(),
        calls: 100,
        body: "local r = gsub(s, '(%w+)%s*=%s*(%w+)', '%2=%1')",
    },
    Workload {
        name: "long_gsub_spaces_4K (C)",
        subject: || text(4096),
        calls: 10,
        body: "local r = gsub(s, '%s+', ' ')",
    },
    Workload {
        name: "long_gmatch_words_4K (C)",
        subject: || text(4096),
        calls: 10,
        body: "for w in gmatch(s, '%a+') do end",
    },
    Workload {
        name: "long_find_word_4K (C)",
        subject: || text(4096) + "zebra",
        calls: 10,
        body: "local a = find(s, '%f[%w]zebra%f[%W]')",
    },
    Workload {
        name: "long_gsub_spaces_16K (Rust)",
        subject: || text(16384),
        calls: 3,
        body: "local r = gsub(s, '%s+', ' ')",
    },
    Workload {
        name: "long_gsub_table_16K (Rust)",
        subject: || text(16384),
        calls: 3,
        body: "local r = gsub(s, '%a+', { the = 'THE', fox = 'cat' })",
    },
    Workload {
        name: "long_gsub_function_16K (Rust)",
        subject: || text(16384),
        calls: 3,
        body: "local r = gsub(s, '%a+', function(w) if #w > 4 then return w:upper() end end)",
    },
    Workload {
        name: "long_gsub_kv_4K (Rust)",
        subject: || text(4096),
        calls: 10,
        body: "local r = gsub(s, '(%w+)%s*=%s*(%w+)', '%2=%1')",
    },
    Workload {
        name: "long_gmatch_kv_4K (Rust)",
        subject: || text(4096),
        calls: 10,
        body: "for k, v in gmatch(s, '(%w+)%s*=%s*(%w+)') do end",
    },
    Workload {
        name: "long_gmatch_words_16K (Rust)",
        subject: || text(16384),
        calls: 3,
        body: "for w in gmatch(s, '%a+') do end",
    },
    Workload {
        name: "long_find_kv_4K (Rust)",
        subject: || text(4096) + " last = one",
        calls: 10,
        body: "local a = find(s, '(%w+)%s*=%s*one')",
    },
];

fn script(subject: &str, calls: u32, body: &str, prefix: &str) -> String {
    format!(
        "local s = {subject:?}
        local find, match, gmatch, gsub = string.{prefix}find, string.{prefix}match, string.{prefix}gmatch, string.{prefix}gsub
        return {{ events = {{ {{ name = 'p', handler = function(ctx) for i = 1, {calls} do {body} end end }} }} }}"
    )
}

/// The workload's chain under `limits`: `side` is `"c"` (the engine's C
/// functions, as `string.c_find` & co.) or `"bounded"` (what every script gets).
pub fn chain(w: &Workload, side: &str, limits: Limits) -> LuaChain {
    let prefix = if side == "c" { "c_" } else { "" };
    LuaChainBuilder::new()
        .limits(limits)
        .load_str("patterns.lua", &script(&(w.subject)(), w.calls, w.body, prefix))
        .expect("loads")
}
