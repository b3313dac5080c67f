//! Runs one pattern workload of `benches/patterns.rs` N times, for
//! instruction counts that do not depend on the machine's load:
//!
//! ```text
//! cargo build --release -p eventchains-lua --features raw-pattern-bench --example pattern_cost
//! valgrind --tool=callgrind target/release/examples/pattern_cost "short_find_kv (C)" bounded 20
//! valgrind --tool=callgrind target/release/examples/pattern_cost "short_find_kv (C)" bounded 120
//! ```
//!
//! The difference of the two totals divided by 100 is the cost of one
//! execution (setup cancels out). `all` as the workload name lists them.

use std::io::Write;

use eventchains_lua::Limits;

#[path = "../benches/common/patterns.rs"]
mod workloads;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(name), Some(side), Some(n)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: pattern_cost WORKLOAD c|bounded N");
        std::process::exit(2);
    };
    if name == "all" {
        let mut out = std::io::stdout().lock();
        for w in workloads::WORKLOADS {
            writeln!(out, "{}", w.name).expect("stdout");
        }
        return;
    }
    let w = workloads::WORKLOADS.iter().find(|w| w.name == name).expect("a workload of benches/patterns.rs");
    // Default limits without the wall-clock cap: under callgrind (~50x slower)
    // the long workloads would pass 1 s. The cap costs nothing per instruction.
    let chain = workloads::chain(w, side, Limits { timeout: None, ..Limits::default() });
    let mut ctx = chain.new_context();
    for _ in 0..n.parse::<u32>().expect("a count") {
        let result = chain.execute(&mut ctx);
        assert!(result.is_clean(), "{result}");
    }
}
