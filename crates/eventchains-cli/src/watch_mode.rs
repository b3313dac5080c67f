//! `eventchains run --watch`: run, then re-run after every change of the script.

use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use eventchains_core::Map;
use eventchains_lua::{ChainWatcher, ReloadableChain};

use crate::cli::RunArgs;
use crate::{CliError, builder, run_and_print};

/// How long the file must be quiet before a reload (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Loads the script (an invalid first version is an error, exit 2), runs it,
/// then reloads and runs it again after each change until the process is
/// interrupted. A version that does not load is reported on stderr and the
/// last good one is kept (not re-run). Progress lines go to stderr, so stdout
/// holds only the reports (one JSON line per run with `--format json`).
///
/// Ctrl-C ends the process with the default signal behaviour: nothing needs
/// cleaning up (the watch and the VMs live in the process, the output is
/// written line by line).
pub fn run_watch(args: &RunArgs, caller: &Map) -> Result<ExitCode, CliError> {
    let chain = Arc::new(ReloadableChain::load_file(builder(), &args.script)?);
    let script = args.script.display().to_string();
    let (tx, outcomes) = mpsc::channel();
    let _watcher = ChainWatcher::new(chain.clone(), &args.script, DEBOUNCE, move |outcome| {
        let _ = tx.send(outcome);
    })
    .map_err(|e| CliError::Args(format!("cannot watch {script}: {e}")))?;
    let first = chain.current();
    eprintln!("[watch] {script}: version 1 loaded; watching for changes (Ctrl-C to stop)");
    run_and_print(&first, caller.clone(), first.loaded_in(), args)?;
    drop(first);
    for outcome in outcomes {
        match outcome {
            Ok(version) => {
                eprintln!("[watch] {script}: version {} loaded", version.number());
                run_and_print(&version, caller.clone(), version.loaded_in(), args)?;
            }
            Err(e) => {
                eprintln!("error: {e}");
                eprintln!("[watch] {script}: keeping version {}", chain.version());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
