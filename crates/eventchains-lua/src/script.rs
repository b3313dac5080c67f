//! [`Script`]: a loaded, validated script as every thread shares it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bytecode_cache::Compiled;
use crate::error::LoadError;
use crate::host_fn::HostFn;
use crate::limits::Limits;
use crate::sandbox::Sandbox;
use crate::spec::{self, Spec};
use crate::vm::{Code, Ran, Vm, VmConfig};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Counts dropped scripts, so each thread knows when to purge its VMs.
pub(crate) static DROPPED: AtomicU64 = AtomicU64::new(0);

/// A script compiled once: source, bytecode, spec and the settings a VM is
/// built with. Threads build their own [`Vm`] from it on first use.
pub(crate) struct Script {
    pub(crate) id: u64,
    /// The script's name in messages (`orders.lua`).
    pub(crate) name: String,
    pub(crate) sandbox: Sandbox,
    pub(crate) host_fns: Vec<HostFn>,
    /// The host's caps lowered by the script's `limits`.
    pub(crate) limits: Limits,
    pub(crate) source: Arc<str>,
    /// [`content_hash`](crate::content_hash) of `source`.
    pub(crate) content_hash: u64,
    /// Compiled once from `source` (with line information) and shared through
    /// the bytecode cache; loaded by every other VM. `None` when the builder's
    /// cache is off: every VM then compiles `source`.
    pub(crate) compiled: Option<Arc<Compiled>>,
    /// Whether loading found `compiled` in the cache (skipped compilation).
    pub(crate) from_cache: bool,
    pub(crate) spec: Spec,
}

impl Script {
    pub(crate) fn next_id() -> u64 {
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    }

    /// What every VM of this script is built with.
    pub(crate) fn vm_config(&self) -> VmConfig<'_> {
        VmConfig { script: &self.name, sandbox: self.sandbox, host_fns: &self.host_fns, limits: self.limits }
    }

    /// A VM for this script on the calling thread, from the bytecode.
    pub(crate) fn new_vm(&self) -> Result<Vm, LoadError> {
        let code = match &self.compiled {
            Some(c) => Code::Bytecode(&c.bytecode),
            None => Code::Source(&self.source),
        };
        let Ran { vm, returned, .. } = self.vm_config().run(code, false)?;
        let functions = spec::extract(vm.lua(), &self.name, returned, &self.spec)?;
        vm.into_vm(functions, self.spec.event_names())
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Release);
    }
}
