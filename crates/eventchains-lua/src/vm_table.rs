//! One VM per script per thread: the thread-local table of VMs.
//!
//! mlua's `Lua` is not `Send`, while a chain is executed through `&self` from
//! any thread. Each thread therefore keeps its own VM per script, built on
//! first use from the script's bytecode. Lookups touch only thread-local data
//! (no lock). Entries hold the script weakly; when any script is dropped, a
//! global counter changes and each thread purges its dead entries on its next
//! lookup, so a long-running process does not keep VMs of dropped scripts.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::error::LoadError;
use crate::script::{DROPPED, Script};
use crate::vm::Vm;

struct Entry {
    id: u64,
    script: Weak<Script>,
    vm: Rc<Vm>,
}

#[derive(Default)]
struct VmTable {
    seen_drops: u64,
    entries: Vec<Entry>,
}

impl VmTable {
    /// Removes the entries of dropped scripts (if any script was dropped since the last look).
    fn purge(&mut self) -> Vec<Entry> {
        let drops = DROPPED.load(Ordering::Acquire);
        if drops == self.seen_drops {
            return Vec::new();
        }
        self.seen_drops = drops;
        let (live, gone) = std::mem::take(&mut self.entries).into_iter().partition(|e| e.script.strong_count() > 0);
        self.entries = live;
        gone
    }
}

thread_local! {
    static VMS: RefCell<VmTable> = RefCell::new(VmTable::default());
}

/// The calling thread's VM for `script`, built on first use.
pub(crate) fn vm_for(script: &Arc<Script>) -> Result<Rc<Vm>, LoadError> {
    let mut dead = Vec::new();
    let found = VMS
        .try_with(|table| {
            let mut table = table.try_borrow_mut().ok()?;
            dead = table.purge();
            table.entries.iter().find(|e| e.id == script.id).map(|e| e.vm.clone())
        })
        .ok()
        .flatten();
    // Dead VMs are dropped outside the borrow (finalizers may run Lua code).
    drop(dead);
    if let Some(vm) = found {
        return Ok(vm);
    }
    let vm = Rc::new(script.new_vm()?);
    tracing::debug!(script = %script.name, "built a Lua VM for this thread");
    insert(script, vm.clone());
    Ok(vm)
}

/// Registers `vm` as the calling thread's VM for `script` (the VM it was loaded in).
pub(crate) fn insert(script: &Arc<Script>, vm: Rc<Vm>) {
    let mut dead = Vec::new();
    let _ = VMS.try_with(|table| {
        if let Ok(mut table) = table.try_borrow_mut() {
            dead = table.purge();
            table.entries.push(Entry { id: script.id, script: Arc::downgrade(script), vm });
        }
    });
    drop(dead);
}

/// How many Lua VMs the calling thread holds, after dropping those of
/// scripts that no longer exist (for tests and diagnostics).
///
/// ```
/// use eventchains_lua::{LuaChainBuilder, thread_vm_count};
/// let before = thread_vm_count();
/// let chain = LuaChainBuilder::new().load_str("a.lua", "return { events = {} }").unwrap();
/// assert_eq!(thread_vm_count(), before + 1); // the VM it was loaded in
/// drop(chain);
/// assert_eq!(thread_vm_count(), before);
/// ```
pub fn thread_vm_count() -> usize {
    let mut dead = Vec::new();
    let count = VMS
        .try_with(|t| {
            t.try_borrow_mut()
                .map(|mut t| {
                    dead = t.purge();
                    t.entries.len()
                })
                .unwrap_or(0)
        })
        .unwrap_or(0);
    drop(dead);
    count
}
