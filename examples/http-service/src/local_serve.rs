//! [`serve_on_lua_threads`]: the OpenResty model all the way to the socket:
//! one acceptor thread hands each accepted connection, round-robin, to one of
//! N Lua threads (a current-thread runtime and a `LocalSet` each), which
//! serves all of that connection's requests itself, so a `POST /orders` runs
//! its Lua execution on the thread that read the request (a local task, no
//! channel to a worker and no reply back across threads). Connections, not
//! requests, cross threads: once per connection.
//! [`LuaThreadServer::shutdown`] stops it gracefully: no new connections,
//! the requests in flight answered, then the threads end.
//! [`axum::serve`] on a multi-thread runtime, which hands every Lua execution
//! to [`LuaWorkers`](crate::LuaWorkers), is the other way to run the router.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
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

/// The threads of [`serve_on_lua_threads`]. [`shutdown`](Self::shutdown)
/// stops them gracefully; dropping it stops accepting, drops the open
/// connections (requests in flight go unanswered) and joins the threads.
#[derive(Debug)]
pub struct LuaThreadServer {
    phase: watch::Sender<Phase>,
    threads: Vec<JoinHandle<Drained>>,
    counts: Arc<[Counts]>,
}

/// Where a [`LuaThreadServer`] is in its life (every thread watches it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepting and serving.
    Serving,
    /// No new connections or requests; the requests in flight are answered
    /// until this instant, then their connections are dropped.
    Draining(Instant),
    /// Everything ends now.
    Stopped,
}

/// What [`LuaThreadServer::shutdown`] found: the connections open when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Connections that answered their request in flight (if any) and closed
    /// within the grace period.
    pub closed: usize,
    /// Connections still open when the grace period ran out, dropped with
    /// their request unanswered.
    pub dropped: usize,
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

    /// Stops gracefully: accepts no more connections (the listener is closed),
    /// lets every open connection finish the request it is answering and
    /// closes it (idle keep-alive connections at once), waits at most `grace`
    /// for that, drops what is still open then, and joins the threads.
    /// Connections accepted but not yet picked up by their Lua thread are
    /// closed unread (their clients may retry: nothing of theirs ran).
    pub fn shutdown(mut self, grace: Duration) -> Drained {
        // A grace too long for the clock is as good as no limit.
        let until = Instant::now().checked_add(grace).unwrap_or_else(|| Instant::now() + NO_DEADLINE);
        self.phase.send_replace(Phase::Draining(until));
        self.join()
    }

    /// Joins every thread (once), adding up what each drained.
    fn join(&mut self) -> Drained {
        let mut total = Drained::default();
        for thread in self.threads.drain(..) {
            // A thread that panicked has nothing to report (its connections are gone).
            if let Ok(drained) = thread.join() {
                total.closed += drained.closed;
                total.dropped += drained.dropped;
            }
        }
        total
    }
}

/// Stands in for a grace period beyond what `Instant` can hold (30 years).
const NO_DEADLINE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

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
    let (phase, watched) = watch::channel(Phase::Serving);
    let counts: Arc<[Counts]> = (0..threads).map(|_| Counts::default()).collect();
    let mut handles = Vec::new();
    let mut lanes = Vec::new();
    for i in 0..threads {
        let (lane, connections) = mpsc::unbounded_channel();
        let (router, watched, counts) = (router.clone(), watched.clone(), Arc::clone(&counts));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new()
            .name(format!("lua-server-{i}"))
            .spawn(move || serve(&runtime, connections, router, watched, counts, i))?;
        handles.push(thread);
        lanes.push(lane);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let acceptor = std::thread::Builder::new().name("lua-server-accept".into()).spawn(move || {
        accept(&runtime, listener, lanes, watched);
        Drained::default()
    })?;
    handles.push(acceptor);
    Ok(LuaThreadServer { phase, threads: handles, counts })
}

/// The acceptor: round-robin over `lanes` (one per Lua thread), one
/// connection at a time, until the server stops serving.
fn accept(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    lanes: Vec<mpsc::UnboundedSender<std::net::TcpStream>>,
    phase: watch::Receiver<Phase>,
) {
    runtime.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
        let listener = &listener;
        let next = move || async move { listener.accept().await.and_then(|(stream, _)| stream.into_std()) };
        accept_loop(next, &lanes, phase).await;
    });
}

/// The longest pause of the acceptor after accept errors.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// The acceptor's pause after `failures` accept errors in a row: 1 ms,
/// doubling, at most [`MAX_ACCEPT_PAUSE`]. A persistent error (out of file
/// descriptors: `EMFILE`) would otherwise make the acceptor retry at once,
/// forever, holding a core; a passing one (a connection reset before it was
/// accepted) costs a millisecond.
pub(crate) fn accept_pause(failures: u32) -> Duration {
    let ms = 1u64.checked_shl(failures.saturating_sub(1)).unwrap_or(u64::MAX);
    Duration::from_millis(ms).min(MAX_ACCEPT_PAUSE)
}

/// Takes connections from `next` and hands the k-th successful one to lane
/// `k % lanes.len()` until `phase` leaves serving; after an accept error it logs it and
/// pauses ([`accept_pause`] of the errors in a row), still stoppable.
async fn accept_loop<F, Fut>(
    mut next: F,
    lanes: &[mpsc::UnboundedSender<std::net::TcpStream>],
    mut phase: watch::Receiver<Phase>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<std::net::TcpStream>>,
{
    let mut handed = 0usize;
    let mut failures = 0u32;
    loop {
        let accepted = tokio::select! {
            accepted = next() => accepted,
            _ = phase.wait_for(|p| *p != Phase::Serving) => break,
        };
        match accepted {
            Ok(stream) => {
                failures = 0;
                // A Lua thread that has ended (stopping) drops what it is handed.
                let _ = lanes[handed % lanes.len()].send(stream);
                handed = handed.wrapping_add(1);
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let pause = accept_pause(failures);
                tracing::warn!(%error, failures, pause_ms = pause.as_millis() as u64, "accept failed; pausing the acceptor");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = phase.wait_for(|p| *p != Phase::Serving) => break,
                }
            }
        }
    }
}

/// One Lua thread: serves every connection it is handed as a local task
/// until the server stops serving, then drains them ([`drain`]).
fn serve(
    runtime: &tokio::runtime::Runtime,
    mut connections: mpsc::UnboundedReceiver<std::net::TcpStream>,
    router: Router,
    mut phase: watch::Receiver<Phase>,
    counts: Arc<[Counts]>,
    me: usize,
) -> Drained {
    SERVING.with(|s| s.set(true));
    let local = tokio::task::LocalSet::new();
    local.block_on(runtime, async move {
        let mut open = JoinSet::new();
        loop {
            let stream = tokio::select! {
                handed = connections.recv() => match handed {
                    Some(stream) => stream,
                    None => break,
                },
                // Finished connections are reaped as they end.
                Some(_) = open.join_next(), if !open.is_empty() => continue,
                _ = phase.wait_for(|p| *p != Phase::Serving) => break,
            };
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else { continue };
            let _ = stream.set_nodelay(true);
            counts[me].connections.fetch_add(1, Ordering::Relaxed);
            let (router, counts) = (router.clone(), Arc::clone(&counts));
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                counts[me].requests.fetch_add(1, Ordering::Relaxed);
                let mut router = router.clone();
                async move { Ok::<_, Infallible>(router.call(request).await.unwrap_or_else(|never| match never {})) }
            });
            open.spawn_local(connection(stream, service, phase.clone()));
        }
        drain(open, phase).await
    })
}

/// One connection: served until it ends, or until the server stops serving;
/// then it answers the request in flight (if any) and closes.
async fn connection<S>(stream: tokio::net::TcpStream, service: S, mut phase: watch::Receiver<Phase>)
where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = axum::response::Response, Error = Infallible>,
    S::Future: 'static,
{
    let served = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut served = std::pin::pin!(served);
    tokio::select! {
        // A client that goes away mid-request ends its connection only.
        _ = served.as_mut() => return,
        _ = phase.wait_for(|p| *p != Phase::Serving) => {}
    }
    served.as_mut().graceful_shutdown();
    let _ = served.await;
}

/// Waits, while the server drains, until every connection in `open` has
/// closed or the grace period has run out; counts what closed and what is
/// dropped (the rest are aborted with the set).
async fn drain(mut open: JoinSet<()>, mut phase: watch::Receiver<Phase>) -> Drained {
    let Phase::Draining(until) = *phase.borrow() else {
        return Drained { closed: 0, dropped: open.len() };
    };
    let at_start = open.len();
    let grace = tokio::time::sleep_until(tokio::time::Instant::from_std(until));
    let mut grace = std::pin::pin!(grace);
    loop {
        tokio::select! {
            next = open.join_next() => if next.is_none() { break },
            () = grace.as_mut() => break,
            _ = phase.wait_for(|p| *p == Phase::Stopped) => break,
        }
    }
    let dropped = open.len();
    Drained { closed: at_start - dropped, dropped }
}

impl Drop for LuaThreadServer {
    fn drop(&mut self) {
        self.phase.send_replace(Phase::Stopped);
        self.join();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use tokio::sync::{mpsc, watch};

    use super::{MAX_ACCEPT_PAUSE, Phase, accept_loop, accept_pause};

    #[test]
    fn the_pause_doubles_from_a_millisecond_up_to_a_second() {
        let pauses: Vec<u64> = (1..=12).map(|n| accept_pause(n).as_millis() as u64).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000]);
        assert_eq!(accept_pause(u32::MAX), MAX_ACCEPT_PAUSE);
    }

    /// Virtual time (paused clock): the outcome depends on no wall clock.
    #[tokio::test(start_paused = true)]
    async fn a_persistent_accept_error_is_retried_after_pauses_not_at_once() {
        let attempts = Cell::new(0u32);
        // Out of file descriptors on every attempt; a spinning acceptor
        // would reach the bound at once (then the source hangs, so a broken
        // acceptor fails this test instead of hanging it).
        let next = || {
            attempts.set(attempts.get() + 1);
            let spun = attempts.get() > 1_000;
            async move {
                if spun {
                    std::future::pending::<()>().await;
                }
                Err(std::io::Error::from_raw_os_error(24))
            }
        };
        let (lane, _connections) = mpsc::unbounded_channel();
        let (phase, watched) = watch::channel(Phase::Serving);
        let run = accept_loop(next, std::slice::from_ref(&lane), watched);
        let stop_later = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            phase.send_replace(Phase::Stopped);
        };
        tokio::join!(run, stop_later);
        // Attempts at 0, 1, 3, 7, ..., 1023 ms (11), then one a second: 2023 ... 9023 ms (8).
        assert_eq!(attempts.get(), 19);
    }
}
