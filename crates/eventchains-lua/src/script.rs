//! [`Script`]: a loaded, validated script as every thread shares it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::LoadError;
use crate::host_fn::HostFn;
use crate::limits::Limits;
use crate::sandbox::Sandbox;
use crate::spec::{self, Spec};
use crate::vm::{Code, Vm, VmBase};

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
    /// Compiled once from `source` (with line information); loaded by every other VM.
    pub(crate) bytecode: Vec<u8>,
    pub(crate) spec: Spec,
}

impl Script {
    pub(crate) fn next_id() -> u64 {
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    }

    /// A VM for this script on the calling thread, from the bytecode.
    pub(crate) fn new_vm(&self) -> Result<Vm, LoadError> {
        let base = VmBase::new(&self.name, &self.sandbox, &self.host_fns, self.limits)?;
        let (value, _) = base.run_chunk(Code::Bytecode(&self.bytecode))?;
        let functions = spec::extract(&self.name, value, &self.spec)?;
        Vm::new(base, functions).map_err(|e| LoadError::Vm { script: self.name.clone(), message: e.to_string() })
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Release);
    }
}
