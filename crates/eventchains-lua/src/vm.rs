//! [`Vm`]: one script's Lua VM on one thread, and the calls into it.

use std::ffi::c_void;
use std::rc::Rc;

use eventchains_core::{ChainableEvent, EventContext, EventError, EventResult, Next, Origin};
use mlua::chunk::ChunkMode;
use mlua::{Function, LightUserData, Lua, Table};

use crate::async_calls::AsyncCalls;
use crate::bridge::{Bridge, FrameOutcome, LimitHit};
use crate::context_proxy::CtxProxy;
use crate::error::LoadError;
use crate::event_records::EventRecords;
use crate::host_fn::HostFn;
use crate::limits::{Limits, describe_bytes};
use crate::lua_error::{is_memory_error, lua_error_message};
use crate::raw_call::{RawHandlers, RawReturn};
use crate::sandbox::{BOUND_C_CALLS, CLOSE_REFUSED, LIMIT_PRELUDE, Sandbox, ScriptEnv, lock_down, to_be_closed_line};
use crate::spec::Functions;

/// The compiled script a VM is made from.
pub(crate) enum Code<'a> {
    /// Lua source (the first VM; compiled here).
    Source(&'a str),
    /// Bytecode dumped by the first VM (every other VM).
    Bytecode(&'a [u8]),
}

/// A sandboxed VM with the bridge, `ctx` and `next` installed, but no script functions yet.
pub(crate) struct VmBase {
    lua: Lua,
    bridge: Rc<Bridge>,
    /// The root `ctx` (a light userdata, see [`crate::fast_ctx`]).
    ctx: LightUserData,
    ctx_ptr: *const c_void,
    next_fn: Function,
    /// `next` of Lua middleware in async executions (yields to the runner).
    async_next_fn: Function,
    /// The coroutine being resumed for an async execution, and its request.
    calls: Rc<AsyncCalls>,
    /// The script's own environment (read-only globals once loaded).
    env: ScriptEnv,
    script: String,
}

impl VmBase {
    /// A new VM for `script` with `sandbox`, the host functions and `limits`.
    pub(crate) fn new(script: &str, sandbox: &Sandbox, host_fns: &[HostFn], limits: Limits) -> Result<Self, LoadError> {
        let vm_error = |e: mlua::Error| LoadError::Vm { script: script.to_owned(), message: lua_error_message(&e) };
        let lua = sandbox.new_lua().map_err(vm_error)?;
        let bridge = Rc::new(Bridge::new(limits));
        lua.set_app_data(bridge.clone());
        let ctx = crate::fast_ctx::install_root(&lua).map_err(vm_error)?;
        let ctx_ptr = ctx.0.cast_const();
        #[cfg(feature = "luau")]
        crate::context_proxy::install_luau_iteration(&lua, &bridge).map_err(vm_error)?;
        let next_bridge = bridge.clone();
        let next_fn = lua
            .create_function(move |_, arg: mlua::Value| {
                match &arg {
                    mlua::Value::Nil => {}
                    mlua::Value::LightUserData(ud) if ud.0.cast_const() == ctx_ptr => {}
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "next() takes the ctx it was given (or nothing), got a {}",
                            other.type_name()
                        )));
                    }
                }
                let (ctx, next) = next_bridge.next_of_current().map_err(mlua::Error::runtime)?;
                // SAFETY: `ctx` is the context of the innermost frame, the
                // middleware's own call, which is running right now (it called
                // us); its guard keeps the borrow alive. Proxies bound to that
                // frame cannot be used while inner frames run (they are not the
                // innermost), so this is the only live reference.
                let ctx = unsafe { &mut *ctx };
                // Other code changes the context now: views read so far go stale,
                // and the memory account travels on with the context.
                next_bridge.before_next(ctx);
                let result = next.run(ctx);
                let reply = match &result {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e.message().to_owned())),
                };
                next_bridge.record_next_result(result);
                // Time spent inside `next` counts against this middleware's own cap.
                next_bridge.check_time()?;
                Ok(reply)
            })
            .map_err(vm_error)?;
        let calls = Rc::new(AsyncCalls::default());
        lua.set_app_data(calls.clone());
        let async_next_fn = crate::async_host_fn::async_next(&lua, &calls, ctx_ptr).map_err(vm_error)?;
        let hit_bridge = bridge.clone();
        let limit_hit = lua.create_function(move |_, ()| Ok(hit_bridge.limit_hit())).map_err(vm_error)?;
        // The bounded library functions first, so that the limit prelude's
        // wrappers (LuaJIT's C nesting count) wrap them in turn.
        crate::bounded_lib::install(&lua, &bridge).map_err(vm_error)?;
        let resume_bridge = bridge.clone();
        let resume_depth = lua
            .create_function(move |_, delta: i32| {
                Ok(if delta > 0 {
                    resume_bridge.enter_resume()
                } else {
                    resume_bridge.leave_resume();
                    true
                })
            })
            .map_err(vm_error)?;
        LIMIT_PRELUDE.load(&lua).call::<()>((limit_hit, resume_depth, BOUND_C_CALLS)).map_err(vm_error)?;
        for host_fn in host_fns {
            host_fn.install(&lua).map_err(vm_error)?;
        }
        let env = lock_down(&lua).map_err(vm_error)?;
        let base = VmBase { lua, bridge, ctx, ctx_ptr, next_fn, async_next_fn, calls, env, script: script.to_owned() };
        base.apply_limits(limits).map_err(vm_error)?;
        Ok(base)
    }

    /// Installs `limits`: the count hook (the interrupt on Luau) and the memory cap.
    pub(crate) fn apply_limits(&self, limits: Limits) -> mlua::Result<()> {
        self.bridge.set_limits(limits);
        // Always installed: even without caps of its own, a deadline on the
        // context (a timeout middleware) must be able to stop Lua code.
        let bridge = self.bridge.clone();
        let calls = self.calls.clone();
        #[cfg(not(feature = "luau"))]
        self.lua.set_global_hook(
            mlua::HookTriggers::new().every_nth_instruction(crate::HOOK_INTERVAL),
            move |lua, _| {
                bridge.tick()?;
                calls.tick(lua, &bridge)
            },
        )?;
        // Luau has no hooks: its interrupt runs at every function call and loop back-edge.
        #[cfg(feature = "luau")]
        self.lua.set_interrupt(move |lua| {
            bridge.tick()?;
            calls.tick(lua, &bridge)
        });
        self.lua.set_memory_limit(limits.memory_bytes.unwrap_or(0))?;
        Ok(())
    }

    /// Compiles (or loads) the script and runs its top-level code under the
    /// limits. Returns the value it returned and, for source code when `dump`
    /// is set, its bytecode.
    pub(crate) fn run_chunk(&self, code: Code<'_>, dump: bool) -> Result<(mlua::Value, Option<Vec<u8>>), LoadError> {
        let script = self.script.as_str();
        // Luau compiles before loading (it cannot dump a loaded function).
        let precompiled = match code {
            Code::Source(src) if dump => precompile(src),
            _ => None,
        };
        let code = match &precompiled {
            Some(bytecode) => Code::Bytecode(bytecode),
            None => code,
        };
        let env = self.env.env.clone();
        let chunk = match code {
            Code::Source(src) => self.lua.load(src).set_name(format!("@{script}")).set_mode(ChunkMode::Text),
            Code::Bytecode(b) => self.lua.load(b).set_name(format!("@{script}")).set_mode(ChunkMode::Binary),
        }
        .set_environment(env);
        let is_source = matches!(code, Code::Source(_)) || precompiled.is_some();
        let function = chunk.into_function().map_err(|e| match &e {
            mlua::Error::SyntaxError { message, .. } => LoadError::syntax(script, message),
            // The compiler's own limits (e.g. "C stack overflow" on absurd nesting).
            other if is_source => LoadError::syntax(script, &lua_error_message(other)),
            other => LoadError::Vm { script: script.to_owned(), message: lua_error_message(other) },
        })?;
        // Read from the compiled code, so no comment or spacing can hide one
        // (bytecode from the cache was checked when it was compiled).
        if is_source {
            match to_be_closed_line(&function) {
                Ok(None) => {}
                Ok(Some(line)) => {
                    return Err(LoadError::Syntax {
                        script: script.to_owned(),
                        line,
                        message: CLOSE_REFUSED.to_owned(),
                    });
                }
                Err(message) => return Err(LoadError::Vm { script: script.to_owned(), message }),
            }
        }
        let bytecode = match precompiled {
            Some(bytecode) => Some(bytecode),
            None if dump && matches!(code, Code::Source(_)) => dump_function(&function),
            None => None,
        };
        let guard = self.bridge.enter_load();
        let result = function.call::<mlua::Value>(());
        let hit = guard.finish();
        let frozen = self.env.freeze.call::<()>(());
        let result = match (result, hit) {
            // It finished, but after its time was up.
            (Ok(_), Some(hit)) => Err(crate::bridge::limit_error(hit)),
            (result, _) => result,
        };
        match result.and_then(|value| frozen.map(|()| value)) {
            Ok(value) => Ok((value, bytecode)),
            Err(e) => Err(match hit {
                Some(hit) => LoadError::Limit { script: script.to_owned(), message: hit.describe() },
                None if is_memory_error(&e) => {
                    LoadError::Limit { script: script.to_owned(), message: memory_message(self.bridge_limits(), "") }
                }
                None => LoadError::Runtime { script: script.to_owned(), message: lua_error_message(&e) },
            }),
        }
    }

    /// A read-only `event` table for the event called `name`.
    fn event_record(&self, name: &str) -> mlua::Result<Table> {
        let fields = self.lua.create_table()?;
        fields.raw_set("name", name)?;
        self.env.record.call((fields, "event"))
    }

    /// The VM.
    pub(crate) fn lua(&self) -> &Lua {
        &self.lua
    }

    fn bridge_limits(&self) -> Limits {
        self.bridge.limits()
    }
}

mod async_call;

pub(crate) use async_call::{CancelProbe, Step};

/// One script's VM on one thread, with the script's functions.
pub(crate) struct Vm {
    base: VmBase,
    /// The Lua middleware functions, indexed like the spec's `middleware`.
    middleware: Vec<Option<Function>>,
    /// The handlers, called through the C API.
    raw: RawHandlers,
    /// The read-only `event` tables given to Lua middleware, one per event name.
    event_records: EventRecords<EventRecord>,
}

/// How many `event` tables a VM keeps as live references. mlua keeps those on
/// a Lua stack that LuaJIT caps near 8,000 slots; the records of further
/// events are kept in the registry and fetched per call.
const LIVE_EVENT_RECORDS: usize = 1024;

/// An `event` table of a Lua middleware call.
enum EventRecord {
    /// Passed as is (no lookup).
    Live(Table),
    /// Fetched from the registry for each call.
    Registered(mlua::RegistryKey),
}

/// What a Lua function returned, as the chain reads it.
enum Returned {
    /// Nothing (or a lone `nil`), the ctx itself, or a merged table.
    Nothing,
    /// `true`.
    Success,
    /// `false`/`nil` with an optional message.
    Failure(Option<String>),
}

impl Vm {
    /// A VM running `functions`, for a chain with events named `event_names`.
    pub(crate) fn new<'a>(
        base: VmBase,
        functions: Functions,
        event_names: impl IntoIterator<Item = &'a str>,
    ) -> mlua::Result<Self> {
        let Functions { handlers, middleware } = functions;
        let raw = RawHandlers::new(&base.lua, handlers)?;
        let mut live = 0;
        let event_records = EventRecords::new(event_names, |name| {
            let record = base.event_record(name)?;
            live += 1;
            Ok::<_, mlua::Error>(if live <= LIVE_EVENT_RECORDS {
                EventRecord::Live(record)
            } else {
                EventRecord::Registered(base.lua.create_registry_value(record)?)
            })
        })?;
        Ok(Vm { base, middleware, raw, event_records })
    }

    /// Runs the handler of event `index` on `ctx`.
    pub(crate) fn call_handler(&self, index: usize, name: &str, ctx: &mut EventContext) -> EventResult {
        if !self.raw.has(index) {
            return Err(EventError::new(format!("event `{name}` has no Lua handler in this VM")));
        }
        let b = &self.base;
        let guard = b.bridge.enter(ctx, None);
        let returned = match self.raw.call(&b.lua, index, b.ctx_ptr) {
            RawReturn::Nothing | RawReturn::Success => Ok(Returned::Nothing),
            RawReturn::Failure(message) => Ok(Returned::Failure(message)),
            RawReturn::Values(a, m) => self.interpret(a, m),
            RawReturn::Error(e) => Err(e),
        };
        let outcome = guard.finish();
        self.handler_result(returned, outcome.hit, name)
    }

    /// The result of a handler call that returned `returned` and left `hit`.
    // Always inlined into the synchronous call (measured: a call to it cost
    // ~110 instructions per execution of the seed chain).
    #[inline(always)]
    fn handler_result(&self, returned: mlua::Result<Returned>, hit: Option<LimitHit>, name: &str) -> EventResult {
        if let (Ok(_), Some(hit)) = (&returned, hit) {
            // It finished, but after its time was up (long C work at its end).
            return Err(hit.to_error(&format!("event `{name}`")));
        }
        match returned {
            Ok(Returned::Nothing | Returned::Success) => Ok(()),
            Ok(Returned::Failure(Some(message))) => Err(EventError::new(message)),
            Ok(Returned::Failure(None)) => Err(EventError::new("handler returned false")),
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
        self.with_event_record(event.name(), |event_record| {
            let guard = b.bridge.enter(ctx, Some(next));
            let returned = function
                .call::<(mlua::Value, mlua::Value)>((event_record, b.ctx, &b.next_fn))
                .and_then(|(a, m)| self.interpret(a, m));
            self.middleware_result(returned, guard.finish(), label, event.name())
        })?
    }

    /// Runs `f` on the read-only `event` table of the event called `name`.
    fn with_event_record<R>(&self, name: &str, f: impl FnOnce(&Table) -> R) -> Result<R, EventError> {
        // Every event of the chain has its record; another event (never seen so far) gets a new one.
        let made;
        let event_record = match self.event_records.get(name) {
            Some(EventRecord::Live(record)) => record,
            found => {
                made = match found {
                    Some(EventRecord::Registered(key)) => self.base.lua.registry_value::<Table>(key),
                    _ => self.base.event_record(name),
                }
                .map_err(|e| EventError::middleware(lua_error_message(&e)))?;
                &made
            }
        };
        Ok(f(event_record))
    }

    /// The result of a middleware call around event `event` that returned
    /// `returned` and left `outcome`.
    fn middleware_result(
        &self,
        returned: mlua::Result<Returned>,
        outcome: FrameOutcome,
        label: &str,
        event: &str,
    ) -> EventResult {
        let inner = outcome.next_result;
        let returned = match (returned, outcome.hit) {
            // It finished, but after its time was up.
            (Ok(_), Some(hit)) => Err(crate::bridge::limit_error(hit)),
            (returned, _) => returned,
        };
        match returned {
            Ok(Returned::Success) => Ok(()),
            Ok(Returned::Nothing) => inner.unwrap_or(Ok(())),
            Ok(Returned::Failure(message)) => match (inner, message) {
                // Passing on the failure `next` reported keeps its kind and origin.
                (Some(Err(e)), Some(m)) if e.message() == m => Err(e),
                (Some(Err(e)), None) => Err(e),
                (_, Some(m)) => Err(EventError::middleware(m)),
                (_, None) => Err(EventError::middleware(format!("{label} returned false"))),
            },
            Err(e) => Err(self
                .call_error(&e, outcome.hit, &format!("{label} (around event `{event}`)"))
                .with_origin(Origin::Middleware)
                .with_kind_of_if_event()),
        }
    }

    /// Reads a call's return values.
    fn interpret(&self, first: mlua::Value, second: mlua::Value) -> mlua::Result<Returned> {
        Ok(match (first, second) {
            (mlua::Value::Nil, mlua::Value::Nil) => Returned::Nothing,
            (mlua::Value::Boolean(true), _) => Returned::Success,
            (mlua::Value::Boolean(false) | mlua::Value::Nil, message) => Returned::Failure(match message {
                mlua::Value::Nil => None,
                mlua::Value::String(s) => Some(s.to_string_lossy()),
                other => Some(other.to_string().unwrap_or_else(|_| other.type_name().to_owned())),
            }),
            (mlua::Value::LightUserData(ud), _) if ud.0.cast_const() == self.base.ctx_ptr => Returned::Nothing,
            (value @ (mlua::Value::Table(_) | mlua::Value::UserData(_)), _) => {
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

/// The bytecode of a loaded function, with line information (every engine but Luau).
#[cfg(not(feature = "luau"))]
fn dump_function(function: &Function) -> Option<Vec<u8>> {
    Some(function.dump(false))
}

/// Luau cannot dump a loaded function: its bytecode comes from [`precompile`].
#[cfg(feature = "luau")]
fn dump_function(_: &Function) -> Option<Vec<u8>> {
    None
}

/// Luau: `src` compiled to bytecode (with line information) by the Luau
/// compiler, as `Lua::load` would compile it. `None` on a syntax error: loading
/// the text then reports it with the script's name and line.
#[cfg(feature = "luau")]
fn precompile(src: &str) -> Option<Vec<u8>> {
    mlua::chunk::Compiler::new().compile(src).ok()
}

/// Other engines dump the loaded function instead (see [`dump_function`]).
#[cfg(not(feature = "luau"))]
fn precompile(_: &str) -> Option<Vec<u8>> {
    None
}

/// "memory limit (64 MB) exceeded in `what`".
fn memory_message(limits: Limits, what: &str) -> String {
    let size = describe_bytes(limits.memory_bytes);
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
