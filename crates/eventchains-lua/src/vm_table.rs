//! One VM per script per thread: the thread-local table of VMs.
//!
//! mlua's `Lua` is not `Send`, while a chain is executed through `&self` from
//! any thread. Each thread therefore keeps its own VM per script, built on
//! first use from the script's bytecode. Lookups touch only thread-local data
//! (no lock). Entries hold the script weakly; when any script is dropped, a
//! global counter changes and each thread purges its dead entries on its next
//! lookup, so a long-running process does not keep VMs of dropped scripts.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use eventchains_core::MapHasher;

use crate::error::LoadError;
use crate::script::{DROPPED, Script};
use crate::vm::Vm;

struct Entry {
    script: Weak<Script>,
    vm: Rc<Vm>,
}

#[derive(Default)]
struct VmTable {
    seen_drops: u64,
    /// By script id: a thread may hold thousands of VMs (a pool of VMs of
    /// one script, one per execution in flight), and every async execution
    /// looks its VM up here.
    entries: HashMap<u64, Entry, MapHasher>,
}

impl VmTable {
    /// Removes the entries of dropped scripts (if any script was dropped since the last look).
    fn purge(&mut self) -> Vec<Entry> {
        let drops = DROPPED.load(Ordering::Acquire);
        if drops == self.seen_drops {
            return Vec::new();
        }
        self.seen_drops = drops;
        let dead: Vec<u64> =
            self.entries.iter().filter(|(_, e)| e.script.strong_count() == 0).map(|(id, _)| *id).collect();
        dead.iter().filter_map(|id| self.entries.remove(id)).collect()
    }
}

impl Drop for VmTable {
    fn drop(&mut self) {
        // The VMs go away with the table: the cached pointer must not outlive them.
        let _ = LAST.try_with(|last| last.set(NO_LAST));
    }
}

/// No cached VM (script ids start at 1).
const NO_LAST: (u64, u64, *const Vm) = (0, 0, std::ptr::null());

thread_local! {
    static VMS: RefCell<VmTable> = RefCell::new(VmTable::default());
    /// The last VM looked up: `(script id, drop count seen by the table, VM)`. The VM is owned by its entry
    /// in `VMS`, which is only removed once its script is dropped (or when
    /// the table itself is destroyed, which resets this cache).
    static LAST: Cell<(u64, u64, *const Vm)> = const { Cell::new(NO_LAST) };
}

/// Runs `f` on the calling thread's VM for `script` (built on first use).
///
/// The common case (the same script as the last lookup on this thread, and no
/// script dropped since) costs a thread-local read and an atomic load: no
/// table borrow, no search, no `Rc` clone. A dropped script sends the next
/// lookup through the table, which purges dead VMs as before.
pub(crate) fn with_vm<R>(script: &Arc<Script>, f: impl FnOnce(&Vm) -> R) -> Result<R, LoadError> {
    let (id, drops, ptr) = LAST.try_with(Cell::get).unwrap_or(NO_LAST);
    if id == script.id && drops == DROPPED.load(Ordering::Acquire) && !ptr.is_null() {
        // SAFETY: `ptr` was taken from the `Rc<Vm>` of the entry of script
        // `id` in this thread's table. Entries are removed only by `purge`,
        // which keeps the entries of live scripts (and `script`, an `Arc`
        // borrowed for this whole call, is alive), or when the table is
        // destroyed, which resets `LAST`. So the VM outlives `f`. Script ids
        // are never reused.
        return Ok(f(unsafe { &*ptr }));
    }
    // `vm_for` sets `LAST` once the VM is in the table.
    let vm = vm_for(script)?;
    Ok(f(&vm))
}

/// The calling thread's VM for `script`, built on first use, to hold across
/// awaits (async executions; [`with_vm`] is the synchronous fast path).
pub(crate) fn vm_rc(script: &Arc<Script>) -> Result<Rc<Vm>, LoadError> {
    vm_for(script)
}

/// The calling thread's VM for `script`, built on first use.
fn vm_for(script: &Arc<Script>) -> Result<Rc<Vm>, LoadError> {
    let mut dead = Vec::new();
    let found = VMS
        .try_with(|table| {
            let mut table = table.try_borrow_mut().ok()?;
            dead = table.purge();
            let vm = table.entries.get(&script.id).map(|e| e.vm.clone())?;
            remember(script.id, table.seen_drops, &vm);
            Some(vm)
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

/// Caches `vm`, which is in the table, as the last VM looked up (see [`with_vm`]).
fn remember(id: u64, drops: u64, vm: &Rc<Vm>) {
    let _ = LAST.try_with(|last| last.set((id, drops, Rc::as_ptr(vm))));
}

/// Registers `vm` as the calling thread's VM for `script` (the VM it was loaded in).
pub(crate) fn insert(script: &Arc<Script>, vm: Rc<Vm>) {
    let mut dead = Vec::new();
    let _ = VMS.try_with(|table| {
        if let Ok(mut table) = table.try_borrow_mut() {
            dead = table.purge();
            remember(script.id, table.seen_drops, &vm);
            if let Some(replaced) = table.entries.insert(script.id, Entry { script: Arc::downgrade(script), vm }) {
                dead.push(replaced);
            }
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
