//! Where and how a report was measured: machine, Lua engine, commit, profile.

use std::process::Command;

use serde::{Deserialize, Serialize};

/// The machine a report was measured on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name (from `/proc/cpuinfo` where available).
    pub cpu: String,
    /// Logical cores available to this process.
    pub cores: usize,
    /// Operating system and kernel.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
}

impl Machine {
    /// Detects the current machine; unknown parts read `"unknown"`.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name") || l.starts_with("Model") || l.starts_with("Hardware"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let pretty = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let os = if kernel.trim().is_empty() { pretty } else { format!("{pretty} (kernel {})", kernel.trim()) };
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            os,
            arch: std::env::consts::ARCH.to_owned(),
        }
    }
}

/// The Lua engine the build uses, as the VM reports it, with the binding.
pub fn engine() -> String {
    let lua = mlua::Lua::new();
    let version: String = lua.globals().get("_VERSION").unwrap_or_else(|_| "Lua (unknown version)".to_owned());
    format!("{version} (mlua 0.12, vendored)")
}

/// The 1-minute load average (from `/proc/loadavg`), where available.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The build profile of the running binary.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) { "debug" } else { "release" }
}

/// The git commit of the working directory, with `-dirty` when tracked files changed.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{hash}-dirty") } else { hash }
        }
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_something_for_every_field() {
        let m = Machine::detect();
        assert!(m.cores >= 1);
        assert!(!m.cpu.is_empty() && !m.os.is_empty() && !m.arch.is_empty());
        if crate::engines::current() == "lua54" {
            assert!(engine().starts_with("Lua 5.4"), "{}", engine());
        }
        assert!(["debug", "release"].contains(&profile()));
        assert!(!commit().is_empty());
    }
}
