//! [`ChainWatcher`] (feature `watch`): reloads a [`ReloadableChain`] when its file changes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::bytecode_cache::content_hash;
use crate::error::LoadError;
use crate::reload::{ChainVersion, ReloadableChain};

/// What a reload triggered by the watcher produced: the new version, or the
/// error that rejected it (the previous version keeps serving).
pub type ReloadOutcome = Result<Arc<ChainVersion>, LoadError>;

/// Watches a script file and reloads a [`ReloadableChain`] when it changes
/// (feature `watch`, built on the `notify` crate).
///
/// The watcher observes the file's **directory** (editors often save by
/// writing a new file and renaming it over the old one) and keeps the events
/// about the file. A burst of events is coalesced: the reload happens once no
/// event arrived for the `debounce` period. A change that leaves the content
/// equal to the last one seen (same [`content_hash`](crate::content_hash)) is
/// ignored; a file that is briefly missing during a save is waited for.
/// Every reload (successful or rejected) is logged with `tracing` and passed
/// to the callback, on the watcher's own thread.
///
/// Dropping the watcher stops it and joins its thread.
///
/// ```
/// use std::sync::{Arc, mpsc};
/// use std::time::Duration;
/// use eventchains_lua::{ChainWatcher, LuaChainBuilder, ReloadableChain};
///
/// let path = std::env::temp_dir().join(format!("eventchains-doc-watch-{}.lua", std::process::id()));
/// std::fs::write(&path, "return { events = {} }").unwrap();
/// let chain = Arc::new(ReloadableChain::load_file(LuaChainBuilder::new(), &path).unwrap());
/// let (tx, rx) = mpsc::channel();
/// let watcher = ChainWatcher::new(chain.clone(), &path, Duration::from_millis(50), move |outcome| {
///     let _ = tx.send(outcome.map(|v| v.number()).map_err(|e| e.to_string()));
/// })
/// .unwrap();
/// std::fs::write(&path, "return { events = { { name = 'e', handler = function(ctx) end } } }").unwrap();
/// assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), Ok(2));
/// assert_eq!(chain.current().event_names(), ["e"]);
/// drop(watcher);
/// std::fs::remove_file(&path).unwrap();
/// ```
pub struct ChainWatcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl ChainWatcher {
    /// Starts watching `path` for `chain`; `on_reload` gets the outcome of every reload.
    ///
    /// Fails when the file's directory cannot be watched.
    pub fn new(
        chain: Arc<ReloadableChain>,
        path: impl AsRef<Path>,
        debounce: Duration,
        on_reload: impl FnMut(ReloadOutcome) + Send + 'static,
    ) -> notify::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file_name = path.file_name().map(ToOwned::to_owned).ok_or_else(|| {
            notify::Error::generic(&format!("{} does not name a file", path.display())).add_path(path.clone())
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, rx) = mpsc::channel::<notify::Result<Event>>();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let state = Coalescer {
            chain,
            path: path.clone(),
            last_hash: None,
            debounce,
            is_ours: Box::new(move |p: &Path| p.file_name() == Some(file_name.as_os_str())),
        };
        let thread = std::thread::Builder::new()
            .name("eventchains-watch".to_owned())
            .spawn(move || state.run(&rx, on_reload))
            .map_err(notify::Error::io)?;
        tracing::info!(path = %path.display(), "watching the script for changes");
        Ok(ChainWatcher { watcher: Some(watcher), thread: Some(thread), path })
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ChainWatcher {
    fn drop(&mut self) {
        // Dropping the notify watcher drops the sender: the thread's receive
        // loop ends (after a reload it may be running), then we join it.
        drop(self.watcher.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for ChainWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainWatcher").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The watcher thread's state: waits for a burst of events, then reloads once.
struct Coalescer {
    chain: Arc<ReloadableChain>,
    path: PathBuf,
    /// The hash of the content last reloaded (or rejected), to skip no-op saves.
    last_hash: Option<u64>,
    debounce: Duration,
    is_ours: Box<dyn Fn(&Path) -> bool + Send>,
}

impl Coalescer {
    fn run(mut self, rx: &Receiver<notify::Result<Event>>, mut on_reload: impl FnMut(ReloadOutcome)) {
        self.last_hash = Some(self.chain.content_hash());
        while let Ok(event) = rx.recv() {
            if !self.concerns_us(event) {
                continue;
            }
            // Coalesce: wait until the file has been quiet for `debounce`.
            loop {
                match rx.recv_timeout(self.debounce) {
                    Ok(_) => continue,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            if let Some(outcome) = self.reload() {
                on_reload(outcome);
            }
        }
    }

    fn concerns_us(&self, event: notify::Result<Event>) -> bool {
        match event {
            Ok(event) => {
                let relevant_kind = match event.kind {
                    // Reads (ours included) are not changes; a close after writing is.
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                    EventKind::Access(_) => false,
                    _ => true,
                };
                relevant_kind && event.paths.iter().any(|p| (self.is_ours)(p))
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "file watch error");
                false
            }
        }
    }

    /// Reloads if the content changed; `None` when there was nothing to do.
    fn reload(&mut self) -> Option<ReloadOutcome> {
        let source = match std::fs::read_to_string(&self.path) {
            Ok(source) => source,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!(path = %self.path.display(), "script file missing for now; waiting for it");
                return None;
            }
            Err(source) => {
                let error = LoadError::Io { path: self.path.clone(), source };
                tracing::warn!(error = %error, "reload rejected; the current version keeps serving");
                return Some(Err(error));
            }
        };
        let hash = content_hash(&source);
        if self.last_hash == Some(hash) {
            tracing::debug!(path = %self.path.display(), "content unchanged; not reloading");
            return None;
        }
        self.last_hash = Some(hash);
        Some(self.chain.reload_str(&source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LuaChainBuilder;

    fn script(v: i64) -> String {
        format!("return {{ events = {{ {{ name = 'e', handler = function(ctx) ctx.v = {v} end }} }} }}")
    }

    #[test]
    fn unchanged_content_and_a_missing_file_do_not_reload() {
        let dir = std::env::temp_dir().join(format!("eventchains-coalescer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("c.lua");
        std::fs::write(&path, script(1)).expect("write");
        let chain = Arc::new(ReloadableChain::load_file(LuaChainBuilder::new(), &path).expect("loads"));
        let mut state = Coalescer {
            chain: chain.clone(),
            path: path.clone(),
            last_hash: Some(chain.content_hash()),
            debounce: Duration::ZERO,
            is_ours: Box::new(|_| true),
        };
        assert!(state.reload().is_none(), "same content as version 1");
        std::fs::write(&path, script(2)).expect("write");
        assert_eq!(state.reload().and_then(Result::ok).map(|v| v.number()), Some(2));
        assert!(state.reload().is_none(), "saved again unchanged");
        std::fs::write(&path, "return {").expect("write");
        assert!(matches!(state.reload(), Some(Err(LoadError::Syntax { .. }))));
        assert!(state.reload().is_none(), "the same broken content is reported once");
        std::fs::remove_file(&path).expect("remove");
        assert!(state.reload().is_none(), "a file missing during a save is waited for");
        assert_eq!(chain.version(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reads_are_not_changes() {
        let chain = Arc::new(ReloadableChain::load_str(LuaChainBuilder::new(), "r.lua", &script(1)).expect("loads"));
        let state = Coalescer {
            chain,
            path: PathBuf::from("r.lua"),
            last_hash: None,
            debounce: Duration::ZERO,
            is_ours: Box::new(|p: &Path| p.ends_with("r.lua")),
        };
        let event = |kind| Ok(Event::new(kind).add_path(PathBuf::from("/d/r.lua")));
        assert!(!state.concerns_us(event(EventKind::Access(AccessKind::Open(notify::event::AccessMode::Any)))));
        assert!(state.concerns_us(event(EventKind::Access(AccessKind::Close(AccessMode::Write)))));
        assert!(state.concerns_us(event(EventKind::Modify(notify::event::ModifyKind::Any))));
        let other =
            Ok(Event::new(EventKind::Modify(notify::event::ModifyKind::Any)).add_path(PathBuf::from("/d/x.lua")));
        assert!(!state.concerns_us(other));
    }
}
