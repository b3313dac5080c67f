//! [`serve_on_lua_threads`]: the OpenResty model all the way to the socket:
//! each of N threads (a current-thread runtime and a `LocalSet`) accepts
//! connections on the shared listener and serves them itself, so a
//! `POST /orders` runs its Lua execution on the thread that read the request
//! (a local task, no channel to a worker and no reply back across threads).
//! [`axum::serve`] on a multi-thread runtime, which hands every Lua execution
//! to [`LuaWorkers`](crate::LuaWorkers), is the other way to run the router.

use std::cell::Cell;
use std::convert::Infallible;
use std::thread::JoinHandle;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
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
}

/// Serves `router` from `threads` (at least 1) threads, each accepting on a
/// clone of `listener` and running every connection it accepts, and every
/// Lua execution of those connections, as local tasks.
pub fn serve_on_lua_threads(
    router: Router,
    listener: std::net::TcpListener,
    threads: usize,
) -> std::io::Result<LuaThreadServer> {
    listener.set_nonblocking(true)?;
    let (stop, stopped) = watch::channel(false);
    let mut handles = Vec::new();
    for i in 0..threads.max(1) {
        let (listener, router, stopped) = (listener.try_clone()?, router.clone(), stopped.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new()
            .name(format!("lua-server-{i}"))
            .spawn(move || serve(&runtime, listener, router, stopped))?;
        handles.push(thread);
    }
    Ok(LuaThreadServer { stop, threads: handles })
}

fn serve(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    SERVING.with(|s| s.set(true));
    let local = tokio::task::LocalSet::new();
    local.block_on(runtime, async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // A connection that failed before it was accepted: go on.
                    Err(_) => continue,
                },
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            let _ = stream.set_nodelay(true);
            let router = router.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
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
