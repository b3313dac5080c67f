//! The wall-clock watchdog: one thread per process that tells a running Lua
//! call when its time is up.
//!
//! Reading the clock is not free (about 25 ns with a vDSO, several hundred
//! where the clock is a system call), and a check every N instructions cannot
//! see time spent in C (a few hundred `string.rep` calls of 30 MB are a few
//! hundred instructions). So the Lua side never reads the clock: every thread
//! that runs Lua has a [`Slot`], and each call (a handler, a middleware, a
//! script's top level) publishes a frame in it when it starts — its time cap
//! and the context's deadline, a few atomic stores — and withdraws it when it
//! ends. The watchdog thread scans the slots:
//!
//! - a frame's time counts from the moment the watchdog first sees it, which is
//!   at most [`SCAN_PERIOD`] after it started (so a cap is never enforced
//!   early, and at most one period late);
//! - when a frame's deadline (its own cap, or the context's deadline) passes,
//!   the watchdog raises the slot's `fired` flag, naming the outermost frame
//!   whose time is up;
//! - the Lua side checks that flag (one atomic load) in the count hook, in the
//!   library functions that can do long work in one call
//!   ([`crate::bounded_lib`]), when a middleware's `next` returns, and when a
//!   call ends: the call stops at the next of these points with a `timeout`.
//!
//! With the deadline signal installed ([`crate::deadline_signal`]), raising
//! the flag also sends the signal to the OS thread that owns the slot (its
//! `pthread_t` is recorded once, when the slot is made), at every scan while
//! the frame runs: its handler sets the count hook of the Lua thread running
//! there, for calls that run without one.
//!
//! Frames nest (a Lua middleware's `next` runs inner calls on the same thread,
//! in the same or another VM): every frame keeps its own deadline while inner
//! frames run, so time spent inside `next` counts against every enclosing call.
//!
//! While no frame with a deadline runs, the watchdog sleeps without a timeout;
//! the first timed frame after that wakes it.
//!
//! Going idle and publishing a frame race, and the hot path takes no locked
//! instruction to settle it: the Lua side stores the frame (`Release`) and then
//! reads the idle flag (`Relaxed`); the watchdog raises the flag and then scans
//! once more. Without a full fence on both sides, both can miss the other (the
//! Lua side reads the flag as lowered, the watchdog's last scan reads the
//! frame's depth as before it), and the watchdog would sleep while a timed
//! frame runs. A backstop closes that: every check point a long call reaches —
//! the count hook's tick, the bounded library's charge points, a host
//! function's entry, a middleware's `next` (entry and return) — also wakes the
//! idle watchdog while a timed frame runs on the thread (one relaxed load while
//! it is awake). The exact consequence: in that race, a cap's clock starts at
//! the frame's first check point instead of at most [`SCAN_PERIOD`] after the
//! frame's start; a frame that reaches no check point could not be stopped
//! before one anyway (its end is also a check point).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the watchdog looks for new frames while frames with a deadline run.
/// A cap is enforced at most this much (plus scheduling delay) after it passed.
pub(crate) const SCAN_PERIOD: Duration = Duration::from_millis(1);

/// How many nested frames per thread have a deadline of their own; deeper
/// frames run under the deadlines of the frames around them.
pub(crate) const TRACKED_DEPTH: usize = 256;

/// Idle scans before the watchdog sleeps until a timed frame wakes it (1 s).
///
/// Waking it is a futex wake from the thread that starts the timed frame, and
/// on a machine with more runnable threads than cores the woken watchdog
/// preempts that thread, which then waits for its next turn (tens of ms):
/// with 50 scans (50 ms), a benchmark alternating Lua samples with others
/// under load woke it at the start of every Lua sample and read the Lua chain
/// 10-50x slower in about half of its runs (docs/benchmarks.md, "Issue 11,
/// fourth round"). A second of scans every 1 ms after the last timed frame
/// costs the watchdog's own thread little.
const IDLE_SCANS: u32 = 1000;

/// "No cap" in the nanosecond fields.
const NONE: u64 = u64::MAX;

/// One published frame.
#[derive(Default)]
struct Cell {
    /// The frame's sequence number (0: never used).
    seq: AtomicU64,
    /// Its own time cap in nanoseconds ([`NONE`]: no cap).
    timeout_ns: AtomicU64,
    /// The context's deadline, in nanoseconds since [`epoch`] ([`NONE`]: none).
    deadline_ns: AtomicU64,
}

/// Why a frame's time is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Its own time cap.
    OwnTimeout,
    /// The deadline of its context.
    ContextDeadline,
}

/// A frame whose time is up, as the Lua side learns it from [`Slot::fired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fired {
    /// The sequence number of the frame.
    pub(crate) seq: u64,
    /// Why.
    pub(crate) why: Expiry,
}

/// The frames of one thread, shared with the watchdog.
pub(crate) struct Slot {
    /// The watchdog that scans this slot.
    dog: &'static Watchdog,
    depth: AtomicUsize,
    cells: Box<[Cell]>,
    /// `seq << 1 | own-timeout bit` of the outermost frame whose time is up (0: none).
    fired: AtomicU64,
    /// Cleared when the thread ends.
    alive: AtomicBool,
    /// The last sequence number given out (only the owning thread writes it).
    last_seq: AtomicU64,
    /// How many of the running frames have a deadline (their own cap or the
    /// context's; only the owning thread uses it).
    timed: AtomicUsize,
    /// The owning OS thread, for the deadline signal ([`Slot::signal`]).
    #[cfg(unix)]
    thread: ThreadHandle,
}

/// The OS thread that owns a slot, which the watchdog may signal while it lives.
///
/// `pthread_kill` on a thread that has ended is undefined behaviour, so the
/// thread retires its handle when it ends ([`ThreadHandle::retire`], from
/// its slot's thread-local destructor) and waits out a signal being sent.
#[cfg(unix)]
struct ThreadHandle {
    id: libc::pthread_t,
    /// [`LIVE`], [`SENDING`] or [`RETIRED`].
    gate: std::sync::atomic::AtomicU8,
}

#[cfg(unix)]
const LIVE: u8 = 0;
#[cfg(unix)]
const SENDING: u8 = 1;
#[cfg(unix)]
const RETIRED: u8 = 2;

#[cfg(unix)]
impl ThreadHandle {
    /// The calling thread's handle.
    fn current() -> Self {
        // SAFETY: `pthread_self` has no preconditions.
        ThreadHandle { id: unsafe { libc::pthread_self() }, gate: std::sync::atomic::AtomicU8::new(LIVE) }
    }

    /// Sends `signal` to the thread if it has not retired.
    fn signal(&self, signal: std::ffi::c_int) {
        if self.gate.compare_exchange(LIVE, SENDING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            // SAFETY: the thread has not retired, and cannot finish retiring
            // (so cannot end) until the gate is `LIVE` again.
            unsafe { libc::pthread_kill(self.id, signal) };
            self.gate.store(LIVE, Ordering::Release);
        }
    }

    /// The thread ends: no signal is sent to it from now on.
    fn retire(&self) {
        while self.gate.compare_exchange(LIVE, RETIRED, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            if self.gate.load(Ordering::Relaxed) == RETIRED {
                return;
            }
            std::hint::spin_loop();
        }
    }
}

/// A frame published by [`Slot::push_ns`]; give it back to [`Slot::pop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) seq: u64,
    pub(crate) depth: usize,
    /// The frame has a deadline.
    timed: bool,
}

impl Slot {
    fn new(dog: &'static Watchdog) -> Self {
        Slot {
            dog,
            depth: AtomicUsize::new(0),
            cells: (0..TRACKED_DEPTH).map(|_| Cell::default()).collect(),
            fired: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            last_seq: AtomicU64::new(0),
            timed: AtomicUsize::new(0),
            #[cfg(unix)]
            thread: ThreadHandle::current(),
        }
    }

    /// Sends the deadline signal, if one is installed, to the thread that
    /// owns the slot (made on that thread): its handler sets the count hook
    /// of the Lua thread running there ([`crate::deadline_signal`]).
    fn signal(&self) {
        #[cfg(unix)]
        if let Some(signal) = crate::deadline_signal::installed_signal() {
            self.thread.signal(signal);
        }
    }

    /// [`Slot::push_ns`] with the cap as a `Duration` (tests).
    #[cfg(test)]
    pub(crate) fn push(&self, timeout: Option<Duration>, deadline: Option<Instant>) -> Ticket {
        self.push_ns(cap_ns(timeout), deadline)
    }

    /// Publishes a frame with its own cap `timeout_ns` (see [`cap_ns`]: the
    /// caller converts it once, not per call) and the context's `deadline`.
    ///
    /// Hot path: no clock read, no lock; a few uncontended atomic stores (and,
    /// for a frame with a deadline while the watchdog sleeps, a wake-up).
    #[inline]
    pub(crate) fn push_ns(&self, timeout_ns: u64, deadline: Option<Instant>) -> Ticket {
        let seq = self.last_seq.load(Ordering::Relaxed) + 1;
        self.last_seq.store(seq, Ordering::Relaxed);
        let depth = self.depth.load(Ordering::Relaxed);
        let deadline_ns = deadline.map_or(NONE, since_epoch);
        if let Some(cell) = self.cells.get(depth) {
            // A seqlock: the watchdog reads `seq` before and after the other
            // fields and skips a cell that changed meanwhile.
            cell.seq.store(0, Ordering::Relaxed);
            fence(Ordering::Release);
            cell.timeout_ns.store(timeout_ns, Ordering::Relaxed);
            cell.deadline_ns.store(deadline_ns, Ordering::Relaxed);
            cell.seq.store(seq, Ordering::Release);
        }
        // No `SeqCst` here (a locked instruction on x86): a watchdog going
        // idle at this instant may miss the frame; see the module doc for the
        // backstop ([`Slot::wake_idle_watchdog`]).
        self.depth.store(depth + 1, Ordering::Release);
        let timed = timeout_ns != NONE || deadline_ns != NONE;
        if timed {
            self.timed.store(self.timed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            self.wake_idle_watchdog();
        }
        Ticket { seq, depth, timed }
    }

    /// Withdraws the frame of `ticket` (the innermost one).
    #[inline]
    pub(crate) fn pop(&self, ticket: Ticket) {
        debug_assert_eq!(self.depth.load(Ordering::Relaxed), ticket.depth + 1, "frames are strictly nested");
        self.depth.store(ticket.depth, Ordering::Release);
        if ticket.timed {
            self.timed.store(self.timed.load(Ordering::Relaxed).saturating_sub(1), Ordering::Relaxed);
        }
        let fired = self.fired.load(Ordering::Acquire);
        if fired != 0 && fired >> 1 >= ticket.seq {
            // Its time (or an inner frame's) was up: nothing left to stop.
            let _ = self.fired.compare_exchange(fired, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Whether a frame with a deadline (its own time cap or its context's)
    /// runs on this thread: Lua code running now must be stoppable (see
    /// [`crate::count_hook`]).
    #[inline]
    pub(crate) fn timed(&self) -> bool {
        self.timed.load(Ordering::Relaxed) != 0
    }

    /// How many frames are published (tests).
    #[cfg(test)]
    pub(crate) fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// The backstop of the idle race (module doc): wakes the watchdog if it
    /// sleeps while a frame with a deadline runs on this thread. Called when
    /// a timed frame is published and at every check point of a running
    /// call; one relaxed load while the watchdog is awake.
    #[inline]
    pub(crate) fn wake_idle_watchdog(&self) {
        if self.dog.idle.load(Ordering::Relaxed) && self.timed() {
            self.dog.wake();
        }
    }

    /// Whether some frame's time is up (one atomic load; see [`Slot::fired`]).
    #[inline]
    pub(crate) fn any_fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed) != 0
    }

    /// The outermost running frame whose time is up, if any. A flag naming a
    /// frame that has ended is cleared.
    pub(crate) fn fired(&self) -> Option<Fired> {
        let fired = self.fired.load(Ordering::Acquire);
        if fired == 0 {
            return None;
        }
        let seq = fired >> 1;
        let depth = self.depth.load(Ordering::Relaxed).min(TRACKED_DEPTH);
        if self.cells[..depth].iter().any(|c| c.seq.load(Ordering::Relaxed) == seq) {
            let why = if fired & 1 == 1 { Expiry::OwnTimeout } else { Expiry::ContextDeadline };
            return Some(Fired { seq, why });
        }
        let _ = self.fired.compare_exchange(fired, 0, Ordering::AcqRel, Ordering::Relaxed);
        None
    }
}

/// The calling thread's slot (registered with the watchdog on first use).
pub(crate) fn thread_slot() -> Arc<Slot> {
    thread_local! {
        static SLOT: SlotHandle = SlotHandle::register();
    }
    SLOT.with(|h| h.0.clone())
}

#[cfg(test)]
thread_local! {
    /// The watchdog this thread's slot registers with instead of the process's (tests).
    static PRIVATE_DOG: std::cell::Cell<Option<&'static Watchdog>> = const { std::cell::Cell::new(None) };
}

/// Makes the calling thread's slot (not created yet: call it first on a new
/// thread) belong to a watchdog of its own with no thread, and returns that
/// watchdog's idle flag, for tests that raise it by hand and check that a
/// check point lowers it.
#[cfg(all(test, not(feature = "luau")))]
pub(crate) fn private_watchdog_for_this_thread() -> &'static AtomicBool {
    let dog = Watchdog::leak();
    PRIVATE_DOG.with(|d| d.set(Some(dog)));
    &dog.idle
}

/// Marks the slot dead when its thread ends, so the watchdog forgets it.
struct SlotHandle(Arc<Slot>);

impl SlotHandle {
    fn register() -> Self {
        #[cfg(test)]
        if let Some(dog) = PRIVATE_DOG.with(std::cell::Cell::get) {
            return SlotHandle(dog.register());
        }
        SlotHandle(watchdog().register())
    }
}

impl Drop for SlotHandle {
    fn drop(&mut self) {
        #[cfg(unix)]
        self.0.thread.retire();
        self.0.alive.store(false, Ordering::Release);
    }
}

/// The instant the nanosecond fields count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// `at` in nanoseconds since [`epoch`] (0 for earlier instants, [`NONE`] past the range).
/// A time cap as [`Slot::push_ns`] takes it (no cap, or one too long to represent: none).
pub(crate) fn cap_ns(timeout: Option<Duration>) -> u64 {
    timeout.map_or(NONE, |t| u64::try_from(t.as_nanos()).unwrap_or(NONE))
}

fn since_epoch(at: Instant) -> u64 {
    at.checked_duration_since(epoch()).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(NONE).min(NONE - 1))
}

struct Shared {
    slots: Vec<Arc<Slot>>,
}

struct Watchdog {
    shared: Mutex<Shared>,
    wake: Condvar,
    /// Whether the watchdog sleeps until a timed frame wakes it.
    idle: AtomicBool,
}

impl Watchdog {
    /// A watchdog with no thread yet ([`run`] drives it).
    fn leak() -> &'static Watchdog {
        Box::leak(Box::new(Watchdog {
            shared: Mutex::new(Shared { slots: Vec::new() }),
            wake: Condvar::new(),
            idle: AtomicBool::new(false),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new slot this watchdog scans.
    fn register(&'static self) -> Arc<Slot> {
        let slot = Arc::new(Slot::new(self));
        self.lock().slots.push(slot.clone());
        slot
    }

    fn wake(&self) {
        let _guard = self.lock();
        self.idle.store(false, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Sleeps (holding `shared` until then) until [`Watchdog::wake`] lowers the idle flag.
    fn sleep_while_idle(&self, shared: std::sync::MutexGuard<'_, Shared>) {
        let _shared = self
            .wake
            .wait_while(shared, |_| self.idle.load(Ordering::Relaxed))
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}

fn watchdog() -> &'static Watchdog {
    static DOG: OnceLock<&'static Watchdog> = OnceLock::new();
    DOG.get_or_init(|| {
        epoch();
        let dog = Watchdog::leak();
        // If the thread cannot be spawned, no time cap can be enforced: better
        // to fail loudly at the first VM than to run scripts without caps.
        std::thread::Builder::new()
            .name("eventchains-lua-watchdog".to_owned())
            .spawn(move || run(dog))
            .expect("eventchains-lua: cannot spawn the watchdog thread");
        dog
    })
}

/// What the watchdog remembers of one slot: when it first saw each frame.
struct Seen {
    slot: Arc<Slot>,
    first_seen: Vec<(u64, Instant)>,
}

/// The result of one scan.
struct Scan {
    /// Some frame with a deadline is running.
    active: bool,
    /// The earliest deadline not yet passed.
    next: Option<Instant>,
}

fn run(dog: &'static Watchdog) {
    let mut seen: Vec<Seen> = Vec::new();
    let mut idle = 0u32;
    loop {
        {
            let mut shared = dog.lock();
            shared.slots.retain(|s| s.alive.load(Ordering::Acquire));
            seen.retain(|s| s.slot.alive.load(Ordering::Acquire));
            for slot in &shared.slots {
                if !seen.iter().any(|s| Arc::ptr_eq(&s.slot, slot)) {
                    seen.push(Seen { slot: slot.clone(), first_seen: Vec::new() });
                }
            }
        }
        let now = Instant::now();
        let scan = scan_all(&mut seen, now);
        if scan.active {
            idle = 0;
            let wait = scan.next.map_or(SCAN_PERIOD, |n| n.saturating_duration_since(now).min(SCAN_PERIOD));
            std::thread::sleep(wait.max(Duration::from_micros(50)));
            continue;
        }
        idle += 1;
        if idle < IDLE_SCANS {
            std::thread::sleep(SCAN_PERIOD);
            continue;
        }
        // Sleep until a timed frame starts. A frame this scan finds keeps us
        // awake; one published meanwhile wakes us when it sees the flag, or,
        // if it read the flag before it was raised while this scan missed it
        // (no fence on the Lua side), at its next check point (module doc).
        let shared = dog.lock();
        dog.idle.store(true, Ordering::SeqCst);
        if scan_all(&mut seen, Instant::now()).active {
            dog.idle.store(false, Ordering::Relaxed);
            continue;
        }
        dog.sleep_while_idle(shared);
        idle = 0;
    }
}

fn scan_all(seen: &mut [Seen], now: Instant) -> Scan {
    let mut scan = Scan { active: false, next: None };
    for s in seen {
        scan_slot(s, now, &mut scan);
    }
    scan
}

fn scan_slot(seen: &mut Seen, now: Instant, scan: &mut Scan) {
    let slot = &seen.slot;
    let depth = slot.depth.load(Ordering::Acquire).min(TRACKED_DEPTH);
    seen.first_seen.truncate(depth);
    let mut expired = None;
    for (d, cell) in slot.cells[..depth].iter().enumerate() {
        let seq = cell.seq.load(Ordering::Acquire);
        let timeout_ns = cell.timeout_ns.load(Ordering::Relaxed);
        let deadline_ns = cell.deadline_ns.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if seq == 0 || cell.seq.load(Ordering::Relaxed) != seq {
            // Being rewritten: look again at the next scan.
            seen.first_seen.truncate(d);
            break;
        }
        let first = match seen.first_seen.get(d) {
            Some(&(s, at)) if s == seq => at,
            _ => {
                seen.first_seen.truncate(d);
                seen.first_seen.push((seq, now));
                now
            }
        };
        let own = (timeout_ns != NONE).then(|| first.checked_add(Duration::from_nanos(timeout_ns))).flatten();
        let ctx = (deadline_ns != NONE).then(|| epoch().checked_add(Duration::from_nanos(deadline_ns))).flatten();
        if timeout_ns != NONE || deadline_ns != NONE {
            scan.active = true;
        }
        let (deadline, why) = match (own, ctx) {
            (Some(o), Some(c)) if c < o => (c, Expiry::ContextDeadline),
            (Some(o), _) => (o, Expiry::OwnTimeout),
            (None, Some(c)) => (c, Expiry::ContextDeadline),
            (None, None) => continue,
        };
        if deadline <= now {
            if expired.is_none() {
                expired = Some(seq << 1 | u64::from(why == Expiry::OwnTimeout));
            }
        } else {
            scan.next = Some(scan.next.map_or(deadline, |n| n.min(deadline)));
        }
    }
    if let Some(fired) = expired {
        slot.fired.store(fired, Ordering::Release);
        // At every scan while the frame runs: a signal whose effect was lost
        // (it landed between two Lua threads, or while this thread set its
        // own hook) cannot leave the call running.
        slot.signal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (up to a generous hang bound) until `f` holds.
    fn eventually(mut f: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    #[test]
    fn an_expired_frame_is_flagged_and_cleared_when_it_ends() {
        let slot = thread_slot();
        let outer = slot.push(None, None);
        let inner = slot.push(Some(Duration::from_millis(1)), None);
        assert!(eventually(|| slot.any_fired()), "the watchdog flags the frame");
        assert_eq!(slot.fired(), Some(Fired { seq: inner.seq, why: Expiry::OwnTimeout }));
        slot.pop(inner);
        assert_eq!(slot.fired(), None, "cleared with its frame");
        slot.pop(outer);
    }

    #[test]
    fn the_outermost_expired_frame_is_named_and_context_deadlines_count() {
        let slot = thread_slot();
        let outer = slot.push(None, Some(Instant::now()));
        let inner = slot.push(Some(Duration::from_secs(3600)), None);
        assert!(eventually(|| slot.any_fired()));
        assert_eq!(slot.fired(), Some(Fired { seq: outer.seq, why: Expiry::ContextDeadline }));
        slot.pop(inner);
        assert!(slot.any_fired(), "the outer frame is still over its time after the inner one ends");
        slot.pop(outer);
        assert_eq!(slot.fired(), None);
    }

    #[test]
    fn caps_past_the_representable_range_are_no_caps() {
        let slot = thread_slot();
        let t = slot.push(Some(Duration::MAX), None);
        let far = Instant::now().checked_add(Duration::from_secs(u64::MAX / 4));
        let u = slot.push(None, far);
        std::thread::sleep(SCAN_PERIOD * 5);
        assert!(!slot.any_fired());
        slot.pop(u);
        slot.pop(t);
        if let Some(before) = epoch().checked_sub(Duration::from_nanos(1)) {
            assert_eq!(since_epoch(before), 0, "a deadline before the epoch has passed");
        }
    }

    /// The race the hot path leaves open (module doc), played step by step on
    /// a watchdog of its own with no thread and a manual clock: the watchdog's
    /// last scan before it goes idle misses a frame, the frame's publication
    /// reads the idle flag before it is raised, and the watchdog sleeps. The
    /// frame's next check point must wake it, and the frame then times out.
    #[test]
    fn a_frame_the_idle_scan_missed_wakes_the_watchdog_at_its_first_check_point() {
        let dog = Watchdog::leak();
        let slot = dog.register();
        let mut seen = vec![Seen { slot: slot.clone(), first_seen: Vec::new() }];
        let t0 = Instant::now();
        // The watchdog's last scan reads the slot as it was before the frame.
        assert!(!scan_all(&mut seen, t0).active);
        // The frame is published and reads the idle flag as still lowered.
        let frame = slot.push(Some(Duration::from_millis(5)), None);
        assert!(!dog.idle.load(Ordering::Relaxed));
        // The watchdog raises the flag and sleeps, on a thread of its own.
        dog.idle.store(true, Ordering::SeqCst);
        let (woke, woken) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            dog.sleep_while_idle(dog.lock());
            woke.send(()).expect("the test waits");
        });
        assert!(!slot.any_fired());
        // The frame reaches a check point (the count hook's tick, a charge
        // point, a host function, `next`): the watchdog wakes.
        slot.wake_idle_watchdog();
        woken.recv_timeout(Duration::from_secs(30)).expect("the check point wakes the idle watchdog");
        sleeper.join().expect("the sleeper ends");
        assert!(!dog.idle.load(Ordering::Relaxed));
        // Awake, it sees the frame, and times it out once its cap has passed.
        let seen_at = t0 + Duration::from_millis(1);
        assert!(scan_all(&mut seen, seen_at).active);
        assert!(!slot.any_fired(), "not before its cap");
        assert!(scan_all(&mut seen, seen_at + Duration::from_millis(5)).active);
        assert_eq!(slot.fired(), Some(Fired { seq: frame.seq, why: Expiry::OwnTimeout }));
        slot.pop(frame);
        assert_eq!(slot.fired(), None);
    }

    /// Check points do not wake an idle watchdog while no timed frame runs
    /// (an untimed frame needs no watchdog).
    #[test]
    fn check_points_leave_the_watchdog_idle_without_a_timed_frame() {
        let dog = Watchdog::leak();
        let slot = dog.register();
        dog.idle.store(true, Ordering::SeqCst);
        let frame = slot.push(None, None);
        slot.wake_idle_watchdog();
        assert!(dog.idle.load(Ordering::Relaxed), "no timed frame: stays idle");
        slot.pop(frame);
        let timed = slot.push(Some(Duration::from_secs(3600)), None);
        assert!(!dog.idle.load(Ordering::Relaxed), "a timed frame that sees the flag wakes it when it starts");
        slot.pop(timed);
    }

    #[test]
    fn a_stale_flag_is_ignored() {
        let slot = thread_slot();
        let t = slot.push(None, None);
        slot.fired.store((t.seq + 100) << 1, Ordering::Release);
        assert_eq!(slot.fired(), None);
        assert!(!slot.any_fired(), "cleared");
        slot.pop(t);
    }
}
