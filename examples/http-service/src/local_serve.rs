//! [`serve_on_lua_threads`]: the OpenResty model all the way to the socket:
//! one acceptor thread hands each accepted connection, round-robin, to one of
//! N Lua threads (a current-thread runtime and a `LocalSet` each), which
//! serves all of that connection's requests itself, so a `POST /orders` runs
//! its Lua execution on the thread that read the request (a local task, no
//! channel to a worker and no reply back across threads). Connections, not
//! requests, cross threads: once per connection.
//! [`axum::serve`] on a multi-thread runtime, which hands every Lua execution
//! to [`LuaWorkers`](crate::LuaWorkers), is the other way to run the router.

use std::cell::Cell;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};
use tower_service::Service as _;

thread_local! {
    static SERVING: Cell<bool> = const { Cell::new(false) };
}

/// `true` on a thread of [`serve_on_lua_threads`]: there, a handler may
/// `spawn_local` a Lua execution (its connection is a local task of the
/// thread's `LocalSet`).
pub(crate) fn on_lua_thread() -> bool {
    SERVING.with(Cell::get)
}

/// The threads of [`serve_on_lua_threads`]; dropping it stops accepting,
/// drops the open connections and joins the threads.
#[derive(Debug)]
pub struct LuaThreadServer {
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
    counts: Arc<[Counts]>,
}

/// What one Lua thread of a [`LuaThreadServer`] has served so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadLoad {
    /// Connections the thread was handed.
    pub connections: usize,
    /// Requests the thread has begun to answer.
    pub requests: usize,
}

/// The live counters behind a [`ThreadLoad`].
#[derive(Debug, Default)]
struct Counts {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

impl LuaThreadServer {
    /// Connections and requests served so far, per Lua thread (index = thread).
    pub fn load_per_thread(&self) -> Vec<ThreadLoad> {
        self.counts
            .iter()
            .map(|c| ThreadLoad {
                connections: c.connections.load(Ordering::Relaxed),
                requests: c.requests.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// Serves `router` from `threads` (at least 1) Lua threads: an acceptor
/// thread accepts on `listener` and hands the k-th connection to Lua thread
/// `k % threads`, which runs it, and every Lua execution of its requests, as
/// local tasks.
pub fn serve_on_lua_threads(
    router: Router,
    listener: std::net::TcpListener,
    threads: usize,
) -> std::io::Result<LuaThreadServer> {
    listener.set_nonblocking(true)?;
    let threads = threads.max(1);
    let (stop, stopped) = watch::channel(false);
    let counts: Arc<[Counts]> = (0..threads).map(|_| Counts::default()).collect();
    let mut handles = Vec::new();
    let mut lanes = Vec::new();
    for i in 0..threads {
        let (lane, connections) = mpsc::unbounded_channel();
        let (router, stopped, counts) = (router.clone(), stopped.clone(), Arc::clone(&counts));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new()
            .name(format!("lua-server-{i}"))
            .spawn(move || serve(&runtime, connections, router, stopped, counts, i))?;
        handles.push(thread);
        lanes.push(lane);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let acceptor = std::thread::Builder::new()
        .name("lua-server-accept".into())
        .spawn(move || accept(&runtime, listener, lanes, stopped))?;
    handles.push(acceptor);
    Ok(LuaThreadServer { stop, threads: handles, counts })
}

/// The acceptor: round-robin over `lanes` (one per Lua thread), one
/// connection at a time, until stopped.
fn accept(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    lanes: Vec<mpsc::UnboundedSender<std::net::TcpStream>>,
    mut stopped: watch::Receiver<bool>,
) {
    runtime.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
        for lane in lanes.iter().cycle() {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted.and_then(|(stream, _)| stream.into_std()) {
                    Ok(stream) => stream,
                    // A connection that failed before it was handed on:
                    // go on (its lane's turn passes).
                    Err(_) => continue,
                },
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            // A Lua thread that has ended (stopping) drops what it is handed.
            let _ = lane.send(stream);
        }
    });
}

/// One Lua thread: serves every connection it is handed as a local task.
fn serve(
    runtime: &tokio::runtime::Runtime,
    mut connections: mpsc::UnboundedReceiver<std::net::TcpStream>,
    router: Router,
    mut stopped: watch::Receiver<bool>,
    counts: Arc<[Counts]>,
    me: usize,
) {
    SERVING.with(|s| s.set(true));
    let local = tokio::task::LocalSet::new();
    local.block_on(runtime, async move {
        loop {
            let stream = tokio::select! {
                handed = connections.recv() => match handed {
                    Some(stream) => stream,
                    None => break,
                },
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else { continue };
            let _ = stream.set_nodelay(true);
            counts[me].connections.fetch_add(1, Ordering::Relaxed);
            let (router, counts) = (router.clone(), Arc::clone(&counts));
            tokio::task::spawn_local(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    counts[me].requests.fetch_add(1, Ordering::Relaxed);
                    let mut router = router.clone();
                    async move { Ok::<_, Infallible>(router.call(request).await.unwrap_or_else(|never| match never {})) }
                });
                // A client that goes away mid-request ends its connection only.
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}

impl Drop for LuaThreadServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
