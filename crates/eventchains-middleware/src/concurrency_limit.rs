//! [`ConcurrencyLimit`]: a bulkhead. At most `max` executions run at once
//! (per chain, per event of a chain, or for every chain sharing the handle);
//! the others wait up to `wait_ms` (never past the event's deadline) or, with
//! `wait_ms = 0`, are shed at once.
//!
//! A refused event fails with kind `limit_exceeded` and origin middleware (so a
//! `best_effort` chain stops, as for any infrastructure failure); its message
//! starts with `concurrency limit reached` and names the reason:
//!
//! | reason | when |
//! | --- | --- |
//! | `saturated` | `wait_ms = 0` (load shedding) and `max` executions are running |
//! | `wait_timeout` | no slot freed within `wait_ms` |
//! | `deadline` | the event's deadline ([`EventContext::deadline`]) leaves no time to wait |
//!
//! Refusals are counted in [`ConcurrencyLimitHandle::stats`] and, through the
//! `metrics` facade, in `eventchains_concurrency_limit_rejections_total` with a
//! `reason` label. The admitted path costs a map lookup (shared read lock) and
//! two atomic read-modify-writes; waiting takes a mutex and a condition variable.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::Duration;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventMiddleware, EventResult, Next, Origin};
use serde::{Deserialize, Serialize};

use crate::clock::{SharedClock, system_clock};
use crate::config::{ConfigError, setters};
use crate::telemetry;

/// Which executions share one limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConcurrencyScope {
    /// One limit per chain (by [`Next::chain_name`]) across all its events.
    #[default]
    Chain,
    /// One limit per event name within each chain.
    Event,
    /// One limit for every chain whose middleware share the handle (its `id`).
    Global,
}

/// Config of [`ConcurrencyLimit`] (registry name `concurrency_limit`).
///
/// ```
/// use eventchains_middleware::{ConcurrencyLimitConfig, ConcurrencyScope};
/// let c: ConcurrencyLimitConfig = serde_json::from_str(r#"{"max": 2, "wait_ms": 0, "scope": "event"}"#).unwrap();
/// assert_eq!(c, ConcurrencyLimitConfig::default().max(2).wait_ms(0).scope(ConcurrencyScope::Event));
/// assert!(serde_json::from_str::<ConcurrencyLimitConfig>(r#"{"maximum": 2}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ConcurrencyLimitConfig {
    /// Which [`Handles`](crate::Handles) entry holds the limits when built from
    /// the registry (default `"concurrency_limit"`).
    pub id: Option<String>,
    /// Executions allowed at once (default 10).
    pub max: u32,
    /// How long a refused execution waits for a slot, in milliseconds; 0 sheds
    /// it at once (default 0). Never longer than the event's deadline allows.
    pub wait_ms: u64,
    /// Which executions share a limit (default `chain`).
    pub scope: ConcurrencyScope,
}

impl Default for ConcurrencyLimitConfig {
    fn default() -> Self {
        ConcurrencyLimitConfig { id: None, max: 10, wait_ms: 0, scope: ConcurrencyScope::Chain }
    }
}

setters!(ConcurrencyLimitConfig {
    /// Sets the executions allowed at once.
    max: u32,
    /// Sets the longest wait in milliseconds.
    wait_ms: u64,
    /// Sets which executions share a limit.
    scope: ConcurrencyScope,
} into {
    /// Sets the [`Handles`](crate::Handles) id (`Some(name)`, or a `String`).
    id: Option<String>,
});

/// Limits how many executions run at once; see the [module docs](self).
///
/// ```
/// use eventchains_core::{EventChain, EventContext, FnEvent};
/// use eventchains_middleware::{ConcurrencyLimit, ConcurrencyLimitConfig};
/// let limit = ConcurrencyLimit::new(ConcurrencyLimitConfig::default().max(1)).unwrap();
/// let handle = limit.handle();
/// let chain = EventChain::new().named("orders").middleware(limit).event(FnEvent::new("e", |_| Ok(())));
/// assert!(chain.execute(&mut EventContext::new()).is_success());
/// assert_eq!(handle.stats().admitted, 1);
/// assert_eq!(handle.in_flight(Some("orders"), None), 0);
/// ```
#[derive(Clone, Debug)]
pub struct ConcurrencyLimit {
    config: ConcurrencyLimitConfig,
    /// The `limiter` label of its metrics: the config's id, or `concurrency_limit`.
    id: Arc<str>,
    handle: ConcurrencyLimitHandle,
    clock: SharedClock,
}

/// Why an execution was refused.
#[derive(Clone, Copy)]
enum Refusal {
    Saturated,
    WaitTimeout,
    Deadline,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Saturated => "saturated",
            Refusal::WaitTimeout => "wait_timeout",
            Refusal::Deadline => "deadline",
        }
    }
}

impl ConcurrencyLimit {
    /// A limit with `config` and fresh state.
    pub fn new(config: ConcurrencyLimitConfig) -> Result<Self, ConfigError> {
        Self::with_parts(config, ConcurrencyLimitHandle::new(), system_clock())
    }

    /// A limit keeping its state in `handle` (shared with other middleware of
    /// the same id), reading the time (for deadlines) from `clock`.
    pub fn with_parts(
        config: ConcurrencyLimitConfig,
        handle: ConcurrencyLimitHandle,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        if config.max == 0 {
            return Err(ConfigError::new("concurrency_limit", "max must be at least 1"));
        }
        Ok(ConcurrencyLimit { id: config.id.as_deref().unwrap_or("concurrency_limit").into(), config, handle, clock })
    }

    /// The handle to its state.
    pub fn handle(&self) -> ConcurrencyLimitHandle {
        self.handle.clone()
    }

    /// Its config.
    pub fn config(&self) -> &ConcurrencyLimitConfig {
        &self.config
    }

    /// How long this execution may wait for a slot.
    fn patience(&self, ctx: &EventContext) -> Result<Duration, Refusal> {
        let wait = Duration::from_millis(self.config.wait_ms);
        if wait.is_zero() {
            return Err(Refusal::Saturated);
        }
        match ctx.deadline() {
            None => Ok(wait),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(self.clock.now());
                if left.is_zero() { Err(Refusal::Deadline) } else { Ok(wait.min(left)) }
            }
        }
    }

    fn refuse(&self, refusal: Refusal, chain: Option<&str>, event: &str) -> EventError {
        self.handle.inner.rejected.fetch_add(1, Ordering::Relaxed);
        telemetry::rejection(telemetry::names::CONCURRENCY_REJECTIONS, &self.id, chain, event, Some(refusal.as_str()));
        let scope = match (self.config.scope, chain) {
            (ConcurrencyScope::Global, _) => format!("limiter `{}`", self.id),
            (_, Some(chain)) => format!("chain `{chain}`"),
            (_, None) => "an unnamed chain".to_owned(),
        };
        let detail = match refusal {
            Refusal::Saturated => "refused at once".to_owned(),
            Refusal::WaitTimeout => format!("no slot freed within {} ms", self.config.wait_ms),
            Refusal::Deadline => "the event's deadline leaves no time to wait".to_owned(),
        };
        EventError::limit_exceeded(format!(
            "concurrency limit reached ({}): {} executions at once in {scope}, event `{event}`; {detail}",
            refusal.as_str(),
            self.config.max,
        ))
        .with_origin(Origin::Middleware)
    }
}

impl EventMiddleware for ConcurrencyLimit {
    fn name(&self) -> &str {
        "concurrency_limit"
    }

    fn handle(&self, event: &dyn ChainableEvent, ctx: &mut EventContext, next: Next<'_>) -> EventResult {
        let chain = next.chain_name();
        let slot = self.slot_for(chain, event.name());
        if !slot.try_acquire(self.config.max) {
            let admitted = match self.patience(ctx) {
                Ok(wait) => slot.acquire_within(self.config.max, wait),
                Err(refusal) => return Err(self.refuse(refusal, chain, event.name())),
            };
            self.after_wait(admitted, chain, event.name())?;
        }
        self.handle.inner.admitted.fetch_add(1, Ordering::Relaxed);
        let _permit = Permit(&slot);
        next.run(ctx)
    }

    crate::asynchronous::async_hooks!();
}

impl ConcurrencyLimit {
    /// The limit `event` of `chain` counts against.
    fn slot_for(&self, chain: Option<&str>, event: &str) -> Arc<Slot> {
        let key_chain = if self.config.scope == ConcurrencyScope::Global { None } else { chain };
        let key_event = (self.config.scope == ConcurrencyScope::Event).then_some(event);
        self.handle.slot(key_chain, key_event)
    }

    /// Counts a wait that got a slot, or refuses one that did not.
    fn after_wait(&self, admitted: bool, chain: Option<&str>, event: &str) -> EventResult {
        if !admitted {
            return Err(self.refuse(Refusal::WaitTimeout, chain, event));
        }
        self.handle.inner.waited.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(feature = "async")]
mod async_form;

/// Gives the slot back when the execution ends, even by a panic.
struct Permit<'a>(&'a Slot);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// One limit: executions in flight, and a condition variable for waiters.
#[derive(Debug, Default)]
struct Slot {
    in_flight: AtomicU32,
    waiters: AtomicU32,
    lock: Mutex<()>,
    freed: Condvar,
    /// Wakes async waiters (the async form).
    #[cfg(feature = "async")]
    freed_async: tokio::sync::Notify,
}

impl Slot {
    fn try_acquire(&self, max: u32) -> bool {
        self.in_flight.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1)).is_ok()
    }

    /// Waits up to `wait` (real time) for a free slot.
    fn acquire_within(&self, max: u32, wait: Duration) -> bool {
        let Some(until) = std::time::Instant::now().checked_add(wait) else {
            return self.acquire_within(max, Duration::from_secs(u64::from(u32::MAX)));
        };
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let admitted = loop {
            // Checked under the lock after announcing the wait: a release in
            // between either is seen here or finds the waiter and notifies.
            if self.try_acquire(max) {
                break true;
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break false;
            }
            guard = self.freed.wait_timeout(guard, left).unwrap_or_else(PoisonError::into_inner).0;
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        admitted
    }

    fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.freed.notify_one();
            #[cfg(feature = "async")]
            self.freed_async.notify_one();
        }
    }
}

/// What a limit is keyed by: the chain (unless global) and the event (with scope `event`).
trait SlotKey {
    fn parts(&self) -> (Option<&str>, Option<&str>);
}

impl Hash for dyn SlotKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn SlotKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn SlotKey + '_ {}

/// A key as stored in the map.
#[derive(Debug)]
struct OwnedKey(Option<Box<str>>, Option<Box<str>>);

/// A key to look up without allocating.
struct BorrowedKey<'a>(Option<&'a str>, Option<&'a str>);

impl SlotKey for OwnedKey {
    fn parts(&self) -> (Option<&str>, Option<&str>) {
        (self.0.as_deref(), self.1.as_deref())
    }
}

impl SlotKey for BorrowedKey<'_> {
    fn parts(&self) -> (Option<&str>, Option<&str>) {
        (self.0, self.1)
    }
}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn SlotKey).hash(state);
    }
}

impl PartialEq for OwnedKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for OwnedKey {}

impl<'a> Borrow<dyn SlotKey + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn SlotKey + 'a) {
        self
    }
}

/// The limits and counters of [`ConcurrencyLimit`]; cloneable, shared.
#[derive(Clone, Debug, Default)]
pub struct ConcurrencyLimitHandle {
    inner: Arc<LimitShared>,
}

#[derive(Debug, Default)]
struct LimitShared {
    slots: RwLock<HashMap<OwnedKey, Arc<Slot>, foldhash::fast::RandomState>>,
    admitted: AtomicU64,
    waited: AtomicU64,
    rejected: AtomicU64,
}

/// The counters of a [`ConcurrencyLimitHandle`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConcurrencyLimitStats {
    /// Executions admitted (at once or after waiting).
    pub admitted: u64,
    /// Executions admitted after waiting for a slot.
    pub waited: u64,
    /// Executions refused.
    pub rejected: u64,
}

impl ConcurrencyLimitHandle {
    /// No limits in use yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, chain: Option<&str>, event: Option<&str>) -> Arc<Slot> {
        let key = BorrowedKey(chain, event);
        if let Some(slot) = self.inner.slots.read().unwrap_or_else(PoisonError::into_inner).get(&key as &dyn SlotKey) {
            return slot.clone();
        }
        let owned = OwnedKey(chain.map(Box::from), event.map(Box::from));
        self.inner.slots.write().unwrap_or_else(PoisonError::into_inner).entry(owned).or_default().clone()
    }

    /// Executions running now under the limit of `chain` (and `event` with
    /// scope `event`; `None, None` for scope `global`).
    pub fn in_flight(&self, chain: Option<&str>, event: Option<&str>) -> u32 {
        let key = BorrowedKey(chain, event);
        let slots = self.inner.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots.get(&key as &dyn SlotKey).map_or(0, |slot| slot.in_flight.load(Ordering::SeqCst))
    }

    /// Executions waiting for a slot now, over all limits of this handle.
    pub fn waiting(&self) -> u32 {
        let slots = self.inner.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots.values().map(|slot| slot.waiters.load(Ordering::SeqCst)).sum()
    }

    /// The counters so far.
    pub fn stats(&self) -> ConcurrencyLimitStats {
        let i = &self.inner;
        ConcurrencyLimitStats {
            admitted: i.admitted.load(Ordering::Relaxed),
            waited: i.waited.load(Ordering::Relaxed),
            rejected: i.rejected.load(Ordering::Relaxed),
        }
    }
}
