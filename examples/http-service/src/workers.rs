//! [`LuaWorkers`]: threads running Lua executions, one current-thread runtime
//! and `LocalSet` each (the OpenResty model: one VM per script per thread, a
//! coroutine per execution).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use eventchains_core::EventContext;
use eventchains_core::Value;
use eventchains_lua::ReloadableChain;
use tokio::sync::{mpsc, oneshot};

use crate::order::OrderResponse;

/// Orders queued per worker before `run` waits for room.
const QUEUE: usize = 256;

struct Job {
    order: serde_json::Value,
    reply: oneshot::Sender<OrderResponse>,
}

/// Why an order got no response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkerError {
    /// The workers are shutting down.
    #[error("the Lua workers have stopped")]
    Stopped,
}

/// A pool of worker threads executing a [`ReloadableChain`] asynchronously.
/// Orders are handed out round robin; each worker runs every order it gets
/// as a local task, so its executions interleave while they await. Dropping
/// the pool closes the queues and joins the threads (orders still running
/// are dropped, their callers get [`WorkerError::Stopped`]).
pub struct LuaWorkers {
    queues: Vec<mpsc::Sender<Job>>,
    next: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl LuaWorkers {
    /// Starts `count` worker threads running `chain` (0: none; every
    /// [`run`](Self::run) then fails with [`WorkerError::Stopped`], for a
    /// router served by [`serve_on_lua_threads`](crate::serve_on_lua_threads),
    /// which runs the executions itself).
    pub fn start(chain: Arc<ReloadableChain>, count: usize) -> std::io::Result<Self> {
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        for i in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (queue, jobs) = mpsc::channel(QUEUE);
            let chain = chain.clone();
            let thread = std::thread::Builder::new()
                .name(format!("lua-worker-{i}"))
                .spawn(move || work(&runtime, chain, jobs))?;
            queues.push(queue);
            threads.push(thread);
        }
        Ok(LuaWorkers { queues, next: AtomicUsize::new(0), threads: Mutex::new(threads) })
    }

    /// Runs the chain on `order` (as `ctx.order`) on one of the workers.
    pub async fn run(&self, order: serde_json::Value) -> Result<OrderResponse, WorkerError> {
        if self.queues.is_empty() {
            return Err(WorkerError::Stopped);
        }
        let worker = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        let (reply, response) = oneshot::channel();
        self.queues[worker].send(Job { order, reply }).await.map_err(|_| WorkerError::Stopped)?;
        response.await.map_err(|_| WorkerError::Stopped)
    }
}

fn work(runtime: &tokio::runtime::Runtime, chain: Arc<ReloadableChain>, mut jobs: mpsc::Receiver<Job>) {
    let local = tokio::task::LocalSet::new();
    local.block_on(runtime, async move {
        while let Some(job) = jobs.recv().await {
            let chain = chain.clone();
            tokio::task::spawn_local(async move {
                let response = execute(&chain, job.order).await;
                // The caller may have gone away (client disconnected): nothing to do then.
                let _ = job.reply.send(response);
            });
        }
    });
}

/// Runs `chain` on `order` (as `ctx.order`) on the calling thread (its VM; a
/// local task of a `LocalSet`).
pub(crate) async fn execute(chain: &ReloadableChain, order: serde_json::Value) -> OrderResponse {
    let mut ctx = EventContext::new();
    ctx.set("order", Value::from_json(order));
    let (version, result) = chain.execute_async(&mut ctx).await;
    OrderResponse::new(version, &result, ctx.to_json())
}

impl Drop for LuaWorkers {
    fn drop(&mut self) {
        self.queues.clear();
        for thread in self.threads.get_mut().unwrap_or_else(PoisonError::into_inner).drain(..) {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for LuaWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaWorkers").field("workers", &self.queues.len()).finish_non_exhaustive()
    }
}
