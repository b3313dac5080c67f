//! [`Vm`]: one script's Lua VM on one thread, and the calls into it. VMs are
//! built in [`build`].

mod build;

use std::cell::OnceCell;
use std::ffi::c_void;
use std::rc::Rc;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventResult, Next, Origin};
use mlua::{Function, Lua, RegistryKey, Table};

use crate::async_calls::AsyncCalls;
use crate::bridge::{Bridge, CallState, LimitHit};
use crate::context_proxy::CtxProxy;
use crate::event_records::EventRecords;
use crate::failure_value::Failure;
use crate::limits::{Limits, describe_bytes};
use crate::lua_error::{is_memory_error, lua_error_message};
use crate::raw_call::{Arg, RawCaller, RawReturn};
use crate::sandbox::ScriptEnv;

#[cfg(any(feature = "lua54", feature = "lua55"))]
pub(crate) use build::leave_resume;
pub(crate) use build::{Code, Ran, VmConfig};

/// A sandboxed VM with the bridge, `ctx` and `next` installed, but no script functions yet.
pub(crate) struct VmBase {
    lua: Lua,
    bridge: Rc<Bridge>,
    /// The root `ctx` (a light userdata, see [`crate::fast_ctx`]).
    ctx_ptr: *const c_void,
    next_fn: Function,
    /// `next` of Lua middleware in async executions (yields to the runner),
    /// made on the first async call of a Lua middleware (see [`VmBase::async_next`]).
    async_next_fn: OnceCell<Function>,
    /// The coroutine being resumed for an async execution, and its request.
    calls: Rc<AsyncCalls>,
    /// The script's own environment (read-only globals once loaded).
    env: ScriptEnv,
    script: String,
}

impl VmBase {
    /// A read-only `event` table for the event called `name`.
    fn event_record(&self, name: &str) -> mlua::Result<Table> {
        let fields = self.lua.create_table()?;
        fields.raw_set("name", name)?;
        self.env.record.call((fields, "event"))
    }

    /// The root `ctx` as a Lua value.
    fn ctx_value(&self) -> mlua::Value {
        mlua::Value::LightUserData(mlua::LightUserData(self.ctx_ptr.cast_mut()))
    }

    /// `next` of Lua middleware in async executions. Made on first use: a
    /// chain that never runs asynchronously (or has no Lua middleware) never
    /// pays for it (about 5 % of building a VM, instruction counts in
    /// docs/architecture.md).
    fn async_next(&self) -> mlua::Result<Function> {
        if let Some(f) = self.async_next_fn.get() {
            return Ok(f.clone());
        }
        let f = crate::async_host_fn::async_next(&self.lua, &self.calls, self.ctx_ptr)?;
        Ok(self.async_next_fn.get_or_init(|| f).clone())
    }

    /// The VM.
    pub(crate) fn lua(&self) -> &Lua {
        &self.lua
    }

    fn bridge_limits(&self) -> Limits {
        self.bridge.limits()
    }
}

/// The `next` function a Lua middleware gets: runs the rest of the chain
/// (the `next` of the innermost frame of `bridge`) on the ctx at `ctx_ptr`.
fn next_function(lua: &Lua, bridge: &Rc<Bridge>, ctx_ptr: *const c_void) -> mlua::Result<Function> {
    let next_bridge = bridge.clone();
    lua.create_function(move |_, arg: mlua::Value| {
        check_next_arg(&arg, ctx_ptr)?;
        next_bridge.run_next()
    })
}

mod async_call;

pub(crate) use async_call::{CancelProbe, Step};

/// One script's VM on one thread, with the script's functions.
pub(crate) struct Vm {
    base: VmBase,
    /// The handlers, indexed like the spec's `events` (registry references).
    handlers: Vec<Option<RegistryKey>>,
    /// The Lua middleware functions, indexed like the spec's `middleware`.
    middleware: Vec<Option<RegistryKey>>,
    /// `next`, as given to Lua middleware.
    next_fn: RegistryKey,
    /// The one call path into Lua.
    raw: RawCaller,
    /// The read-only `event` tables given to Lua middleware, one per event name.
    event_records: EventRecords<RegistryKey>,
}

/// What a Lua function returned, as the chain reads it.
enum Returned {
    /// Nothing (or a lone `nil`), the ctx itself, or a merged table.
    Nothing,
    /// `true`.
    Success,
    /// `false`/`nil` with an optional message or a failure table.
    Failure(Failure),
}

impl Vm {
    /// The VM's bridge (tests).
    #[cfg(test)]
    pub(crate) fn bridge(&self) -> &Rc<Bridge> {
        &self.base.bridge
    }

    /// Runs the handler of event `index` on `ctx`.
    pub(crate) fn call_handler(&self, index: usize, name: &str, ctx: &mut EventContext) -> EventResult {
        let Some(Some(handler)) = self.handlers.get(index) else {
            return Err(EventError::new(format!("event `{name}` has no Lua handler in this VM")));
        };
        let b = &self.base;
        let state = CallState::default();
        let (returned, hit) = b.bridge.call(&state, Some(ctx), None, |scope| {
            match self.raw.call(&b.lua, scope, handler, &[Arg::Ctx], b.ctx_ptr) {
                RawReturn::Nothing | RawReturn::Success => Ok(Returned::Nothing),
                RawReturn::Failure(message) => Ok(Returned::Failure(Failure::message(message))),
                RawReturn::Values(a, m) => self.interpret(a, m),
                RawReturn::Error(e) => Err(e),
            }
        });
        self.handler_result(returned, hit, name)
    }

    /// The result of a handler call that returned `returned` and left `hit`.
    // Always inlined into the synchronous call (a call to it cost ~110
    // instructions per execution of the seed chain, callgrind).
    #[inline(always)]
    fn handler_result(&self, returned: mlua::Result<Returned>, hit: Option<LimitHit>, name: &str) -> EventResult {
        if let (Ok(_), Some(hit)) = (&returned, hit) {
            // It finished, but after its time was up (long C work at its end).
            return Err(hit.to_error(&format!("event `{name}`")));
        }
        match returned {
            Ok(Returned::Nothing | Returned::Success) => Ok(()),
            Ok(Returned::Failure(failure)) => {
                Err(failure.into_error(|| "handler returned false".into(), EventError::new))
            }
            Err(e) => Err(self.call_error(&e, hit, &format!("event `{name}`"))),
        }
    }

    /// Runs Lua middleware `index` around `event`.
    pub(crate) fn call_middleware(
        &self,
        index: usize,
        label: &str,
        event: &dyn ChainableEvent,
        ctx: &mut EventContext,
        next: Next<'_>,
    ) -> EventResult {
        let Some(Some(function)) = self.middleware.get(index) else {
            return Err(EventError::middleware(format!("{label} has no Lua function in this VM")));
        };
        let b = &self.base;
        // Every event of the chain has its record; another event (never seen so far) gets a new one.
        let made;
        let event_record = match self.event_records.get(event.name()) {
            Some(record) => record,
            None => {
                made = b
                    .event_record(event.name())
                    .and_then(|r| b.lua.create_registry_value(r))
                    .map_err(|e| EventError::middleware(lua_error_message(&e)))?;
                &made
            }
        };
        let state = CallState::default();
        let args = [Arg::Registry(event_record), Arg::Ctx, Arg::Registry(&self.next_fn)];
        let (returned, hit) = b.bridge.call(&state, Some(ctx), Some(next), |scope| {
            match self.raw.call(&b.lua, scope, function, &args, b.ctx_ptr) {
                RawReturn::Nothing => Ok(Returned::Nothing),
                RawReturn::Success => Ok(Returned::Success),
                RawReturn::Failure(message) => Ok(Returned::Failure(Failure::message(message))),
                RawReturn::Values(a, m) => self.interpret(a, m),
                RawReturn::Error(e) => Err(e),
            }
        });
        self.middleware_result(returned, hit, state.take_next_result(), label, || event.name())
    }

    /// The result of a middleware call around event `event` that returned
    /// `returned`, left `hit`, and whose `next` returned `inner` (if it ran).
    // Always inlined into the synchronous call, like `handler_result`; the
    // event's name is asked for only on an error (a virtual call).
    #[inline(always)]
    fn middleware_result<'e>(
        &self,
        returned: mlua::Result<Returned>,
        hit: Option<LimitHit>,
        inner: Option<EventResult>,
        label: &str,
        event: impl FnOnce() -> &'e str,
    ) -> EventResult {
        let returned = match (returned, hit) {
            // It finished, but after its time was up.
            (Ok(_), Some(hit)) => Err(crate::bridge::limit_error(hit)),
            (returned, _) => returned,
        };
        match returned {
            Ok(Returned::Success) => Ok(()),
            Ok(Returned::Nothing) => inner.unwrap_or(Ok(())),
            Ok(Returned::Failure(failure)) => Err(match inner {
                // Passing on the failure `next` reported keeps its kind and origin.
                Some(Err(e)) if failure.message.as_deref().is_none_or(|m| e.message() == m) => {
                    match failure.retry_after {
                        Some(after) => e.with_retry_after(after),
                        None => e,
                    }
                }
                _ => failure.into_error(|| format!("{label} returned false"), EventError::middleware),
            }),
            Err(e) => Err(self
                .call_error(&e, hit, &format!("{label} (around event `{}`)", event()))
                .with_origin(Origin::Middleware)
                .with_kind_of_if_event()),
        }
    }

    /// Reads a call's return values.
    fn interpret(&self, first: mlua::Value, second: mlua::Value) -> mlua::Result<Returned> {
        Ok(match (first, second) {
            (mlua::Value::Nil, mlua::Value::Nil) => Returned::Nothing,
            (mlua::Value::Boolean(true), _) => Returned::Success,
            (mlua::Value::Boolean(false) | mlua::Value::Nil, message) => {
                Returned::Failure(Failure::from_value(message)?)
            }
            (mlua::Value::LightUserData(ud), _) if ud.0.cast_const() == self.base.ctx_ptr => Returned::Nothing,
            // A table, or a view of one (a light userdata, see `crate::view_handle`).
            (value @ (mlua::Value::Table(_) | mlua::Value::UserData(_) | mlua::Value::LightUserData(_)), _) => {
                self.merge(&value)?;
                Returned::Nothing
            }
            (other, _) => {
                return Err(mlua::Error::runtime(format!(
                    "returned a {}; expected nothing, true, false/nil and a message, or a table to merge into ctx",
                    other.type_name()
                )));
            }
        })
    }

    /// Merges a returned table's string keys into the context.
    fn merge(&self, value: &mlua::Value) -> mlua::Result<()> {
        CtxProxy::root(self.base.bridge.clone()).merge(value)
    }

    /// The failure for a Lua error raised in a call of `what`.
    fn call_error(&self, error: &mlua::Error, hit: Option<LimitHit>, what: &str) -> EventError {
        crate::lua_metrics::count_limit_hit(hit, || is_memory_error(error));
        match hit {
            Some(hit) => hit.to_error(what),
            None if is_memory_error(error) => {
                // LuaJIT has no emergency collection when an allocation fails: free
                // the failed call's garbage now, so the next call starts clean.
                let _ = self.base.lua.gc_collect();
                EventError::limit_exceeded(memory_message(self.base.bridge_limits(), what))
            }
            None => EventError::new(lua_error_message(error)),
        }
    }
}

/// Checks the argument of a middleware's `next`: the root `ctx` (at
/// `ctx_ptr`) or nothing.
// Always inlined: called once per Lua middleware call (outlined it cost ~50
// instructions per call of the seed chain's `middleware` mode, callgrind).
#[inline(always)]
pub(crate) fn check_next_arg(arg: &mlua::Value, ctx_ptr: *const c_void) -> mlua::Result<()> {
    match arg {
        mlua::Value::Nil => Ok(()),
        mlua::Value::LightUserData(ud) if ud.0.cast_const() == ctx_ptr => Ok(()),
        other => Err(mlua::Error::runtime(format!(
            "next() takes the ctx it was given (or nothing), got a {}",
            other.type_name()
        ))),
    }
}

/// "memory limit (64 MB) exceeded in `what`".
fn memory_message(limits: Limits, what: &str) -> String {
    // A cap above the machine's memory is not what stopped the VM: the ceiling is.
    let size = describe_bytes(limits.memory_bytes.filter(|&b| b <= crate::memory_ceiling::ceiling()));
    if what.is_empty() {
        format!("memory limit ({size}) exceeded")
    } else {
        format!("memory limit ({size}) exceeded in {what}")
    }
}

/// Middleware errors: a plain Lua error is a middleware failure; limits keep their kind.
trait MiddlewareKind {
    fn with_kind_of_if_event(self) -> Self;
}

impl MiddlewareKind for EventError {
    fn with_kind_of_if_event(self) -> Self {
        match self.kind() {
            eventchains_core::ErrorKind::Event => self.with_kind_of(eventchains_core::ErrorKind::Middleware),
            _ => self,
        }
    }
}
