//! [`DeadlineSignal`]: the host's opt-in to a zero-cost wall-clock deadline.
//!
//! On Lua 5.4 and 5.5 any count hook makes the interpreter trap every VM
//! instruction (`luaG_traceexec`), so a VM whose time cap is enforced by its
//! count hook pays for it on every instruction, time up or not. With a
//! deadline signal installed, a VM built afterwards whose only CPU cap is its
//! time cap (no instruction cap), and a call that only runs under a context
//! deadline, run with the count hook **off**. When the watchdog finds a call's
//! time up it sends the signal to the OS thread running the call; the handler,
//! on that thread, sets the count hook on the Lua thread running there (as
//! `lua.c` stops a script on Ctrl-C: `lua_sethook` may be called from a signal
//! handler), and the hook raises the usual `timeout` error at the next
//! instruction. See docs/architecture.md, "Limits".
//!
//! A library must not take a signal silently, so nothing happens until the
//! host calls [`DeadlineSignal::install`].

use std::ffi::c_int;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal installed (0: none).
static INSTALLED: AtomicI32 = AtomicI32::new(0);

/// Serializes [`DeadlineSignal::install`] calls.
static INSTALLING: Mutex<()> = Mutex::new(());

/// The process-wide preemption signal of Lua deadlines (Lua 5.4 and 5.5 on unix).
///
/// Install it once, at startup, before building chains: VMs built afterwards
/// whose only CPU cap is a time cap ([`Limits::timeout`](crate::Limits) without
/// [`Limits::instructions`](crate::Limits)) run with no count hook at all, and
/// so do calls of any VM built afterwards that only run under a context
/// deadline; their time is enforced by this signal. VMs built before keep the
/// count hook as without it. Without an install nothing changes.
///
/// What it costs and cannot do:
/// - The signal is the process's: pick one nothing else uses (for example
///   `SIGURG` when no Go runtime shares the process, or a real-time signal)
///   and do not block it on threads that run Lua.
/// - It is delivered only when a call's time is up (and again every
///   watchdog period, about 1 ms, while that call still runs). A host
///   function running on that thread at that moment may see a system call
///   fail with `EINTR` where `SA_RESTART` does not restart it (e.g. `poll`,
///   `epoll_wait`, `nanosleep`, socket calls with a timeout): host functions
///   that block should retry on `EINTR` (Rust's `std` does for most calls).
/// - Lua 5.4 and 5.5 on unix only. LuaJIT (its compiled traces ignore
///   hooks), Luau (no hooks) and other platforms get
///   [`DeadlineSignalError::Unsupported`] and keep the count hook.
/// - The handler reads a thread-local and calls `lua_sethook`: it allocates
///   nothing and takes no lock. The thread-local is a static TLS slot in an
///   executable; in a shared library loaded with `dlopen` its first access on
///   a thread may allocate, which a signal handler must not do.
///
/// ```
/// use eventchains_lua::{DeadlineSignal, DeadlineSignalError};
/// # #[cfg(unix)]
/// match DeadlineSignal::install(libc::SIGURG) {
///     Ok(()) => assert_eq!(DeadlineSignal::installed(), Some(libc::SIGURG)),
///     // LuaJIT, Luau: the count hook stays.
///     Err(DeadlineSignalError::Unsupported) => {}
///     Err(e) => panic!("{e}"),
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DeadlineSignal;

/// Why [`DeadlineSignal::install`] refused a signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineSignalError {
    /// This engine or platform cannot be preempted this way (LuaJIT, Luau, non-unix).
    #[error("a deadline signal needs Lua 5.4 or 5.5 on unix (this build keeps the count hook)")]
    Unsupported,
    /// Another deadline signal is installed already.
    #[error("deadline signal {installed} is installed already (refused {requested})")]
    OtherInstalled {
        /// The signal installed.
        installed: c_int,
        /// The signal refused.
        requested: c_int,
    },
    /// The signal has a handler (or is ignored) already: it belongs to someone else.
    #[error("signal {0} already has a handler or is ignored")]
    InUse(c_int),
    /// Not a signal that can carry deadlines (not a signal number, cannot be
    /// caught, or is raised by faults, child processes or job control).
    #[error("signal {0} cannot be used as the deadline signal")]
    Unusable(c_int),
    /// The system refused to install the handler.
    #[error("installing the handler of signal {signal} failed (errno {errno})")]
    System {
        /// The signal.
        signal: c_int,
        /// The `errno` of `sigaction`.
        errno: c_int,
    },
}

impl DeadlineSignal {
    /// Installs the handler of `signal` (`SA_RESTART | SA_ONSTACK`) for the
    /// whole process and makes VMs built afterwards use it (see
    /// [`DeadlineSignal`]). Installing the same signal again is a no-op; a
    /// second, different signal is refused, and so is a signal that already
    /// has a handler or is ignored, or one that faults, child processes or
    /// job control raise.
    pub fn install(signal: c_int) -> Result<(), DeadlineSignalError> {
        let _installing = INSTALLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let installed = INSTALLED.load(Ordering::Acquire);
        if installed == signal {
            return Ok(());
        }
        imp::check(signal)?;
        if installed != 0 {
            return Err(DeadlineSignalError::OtherInstalled { installed, requested: signal });
        }
        imp::install(signal)?;
        INSTALLED.store(signal, Ordering::Release);
        Ok(())
    }

    /// The signal installed, if any.
    pub fn installed() -> Option<c_int> {
        match INSTALLED.load(Ordering::Acquire) {
            0 => None,
            signal => Some(signal),
        }
    }
}

/// The installed signal, for the watchdog (one relaxed load).
#[inline]
pub(crate) fn installed_signal() -> Option<c_int> {
    match INSTALLED.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

/// Whether a VM configured now uses the deadline signal: it is installed
/// (in the library's unit tests, also on a thread that asked to act as if).
#[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
#[inline]
pub(crate) fn used_by_new_vms() -> bool {
    #[cfg(test)]
    if ACT_AS_INSTALLED.with(std::cell::Cell::get) {
        return true;
    }
    installed_signal().is_some()
}

#[cfg(all(test, unix, any(feature = "lua54", feature = "lua55")))]
thread_local! {
    static ACT_AS_INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// VMs configured on this thread from now on behave as if the signal were
/// installed (their time caps leave the count hook off, their calls name
/// their Lua thread), without a process-wide install: unit tests play the
/// handler's part by calling [`crate::running_lua::arm_hook`].
#[cfg(all(test, unix, any(feature = "lua54", feature = "lua55")))]
pub(crate) fn act_as_installed_on_this_thread() {
    ACT_AS_INSTALLED.with(|a| a.set(true));
}

#[cfg(all(unix, any(feature = "lua54", feature = "lua55")))]
mod imp {
    use std::ffi::c_int;

    use super::DeadlineSignalError;

    /// Signals the kernel raises for faults, child processes and job
    /// control: a deadline handler there would take them from the process.
    const RESERVED: [c_int; 14] = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGSYS,
        libc::SIGABRT,
        libc::SIGCHLD,
        libc::SIGCONT,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
    ];

    /// The handler: arms the count hook of the Lua thread running on this OS thread.
    extern "C" fn on_signal(_signal: c_int) {
        crate::running_lua::arm_hook();
    }

    /// Refuses a signal that cannot carry deadlines or that someone else handles.
    pub(super) fn check(signal: c_int) -> Result<(), DeadlineSignalError> {
        if signal <= 0 || RESERVED.contains(&signal) {
            return Err(DeadlineSignalError::Unusable(signal));
        }
        // SAFETY: `sigaction` is plain old data: all zeroes is a valid value.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `sigaction` with a valid out pointer and no new action only
        // reads the signal's disposition; EINVAL means not a catchable signal.
        if unsafe { libc::sigaction(signal, std::ptr::null(), &raw mut old) } != 0 {
            return Err(DeadlineSignalError::Unusable(signal));
        }
        if old.sa_sigaction != libc::SIG_DFL {
            return Err(DeadlineSignalError::InUse(signal));
        }
        Ok(())
    }

    /// Installs the handler of `signal` (checked).
    pub(super) fn install(signal: c_int) -> Result<(), DeadlineSignalError> {
        // SAFETY: a zeroed `sigaction` with an empty mask, our handler (which
        // is async-signal-safe: see `crate::running_lua::arm_hook`) and flags.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&raw mut action.sa_mask);
            if libc::sigaction(signal, &raw const action, std::ptr::null_mut()) != 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or_default();
                return Err(DeadlineSignalError::System { signal, errno });
            }
        }
        Ok(())
    }
}

#[cfg(not(all(unix, any(feature = "lua54", feature = "lua55"))))]
mod imp {
    use std::ffi::c_int;

    use super::DeadlineSignalError;

    pub(super) fn check(_signal: c_int) -> Result<(), DeadlineSignalError> {
        Err(DeadlineSignalError::Unsupported)
    }

    pub(super) fn install(_signal: c_int) -> Result<(), DeadlineSignalError> {
        Err(DeadlineSignalError::Unsupported)
    }
}
