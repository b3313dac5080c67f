//! Pattern matching through the sandbox's bounded wrappers vs the C functions.
//!
//! Run with short settings (2-core machine):
//! `cargo bench -p eventchains-lua --bench patterns -- --warm-up-time 1 --measurement-time 3`
//!
//! Each workload runs 100 times per iteration: `raw` in a plain `mlua::Lua`
//! (the C functions, no hook), `sandboxed` as the handler of a one-event
//! [`LuaChain`] with default limits (the wrappers, the count hook, the
//! call's bookkeeping). `short` subjects stay under the C matcher's budget;
//! `long` ones (a 4 KiB text) go to the Rust matcher.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use eventchains_lua::LuaChainBuilder;
use mlua::{Function, Lua};

/// Workloads: a name and a Lua body using `s` (the subject), run 100 times.
const WORKLOADS: &[(&str, &str, &str)] = &[
    ("short_find", "key = value", "local a, b, k, v = string.find(s, '(%w+)%s*=%s*(%w+)')"),
    ("short_match_trim", "   padded text   ", "local t = s:match('^%s*(.-)%s*$')"),
    ("short_gsub", "hello world from lua", "local r = s:gsub('(%w+)', '<%1>')"),
    ("short_gmatch", "one two three four five", "for w in s:gmatch('%a+') do end"),
    ("long_gsub_spaces", "LONG", "local r = s:gsub('%s+', ' ')"),
    ("long_find_word", "LONG", "local a = s:find('%f[%w]zebra%f[%W]')"),
];

fn subject(s: &str) -> String {
    if s == "LONG" { "the quick  brown fox jumps over   the lazy dog ".repeat(90) + "zebra" } else { s.to_owned() }
}

fn loop_body(body: &str) -> String {
    format!("for i = 1, 100 do {body} end")
}

fn patterns(c: &mut Criterion) {
    let mut g = c.benchmark_group("patterns");
    for (name, s, body) in WORKLOADS {
        let s = subject(s);
        let raw = Lua::new();
        let f: Function = raw
            .load(format!("local s = ... return function() {} end", loop_body(body)))
            .call(s.as_str())
            .expect("compiles");
        g.bench_function(format!("{name}/raw"), |b| b.iter(|| f.call::<()>(()).expect("runs")));
        let script = format!(
            "local s = {s:?} return {{ events = {{ {{ name = 'p', handler = function(ctx) {} end }} }} }}",
            loop_body(body)
        );
        let chain = LuaChainBuilder::new().load_str("patterns.lua", &script).expect("loads");
        let mut ctx = chain.new_context();
        g.bench_function(format!("{name}/sandboxed"), |b| {
            b.iter(|| {
                let result = chain.execute(&mut ctx);
                assert!(result.is_clean(), "{result}");
                black_box(result)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = patterns
}
criterion_main!(benches);
