//! The service over real HTTP on 127.0.0.1 (ephemeral port): concurrent
//! orders across a reload, a failing order, the metrics endpoint, a
//! graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, Request};
use http_body_util::{BodyExt, Full};
use http_service::{
    AppState, Drained, Hold, Inventory, LuaThreadServer, OrderResponse, ServiceConfig, ThreadLoad, router,
    serve_on_lua_threads,
};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const SCRIPT: &str = include_str!("../scripts/orders.lua");

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Service {
    addr: SocketAddr,
    client: HttpClient,
    script: PathBuf,
    inventory: Inventory,
    /// Set when served by `serve_on_lua_threads` (dropped with the service).
    threads: Option<LuaThreadServer>,
}

impl Service {
    /// Starts the service on a copy of the script (named after `test`) with 2 workers.
    async fn start(test: &str) -> Service {
        Self::start_with(test, false).await
    }

    /// Starts the service on a copy of the script; `on_lua_threads`: served by
    /// `serve_on_lua_threads` (2 threads) instead of `axum::serve`.
    async fn start_with(test: &str, on_lua_threads: bool) -> Service {
        let dir = std::env::temp_dir().join(format!("http-service-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let script = dir.join("orders.lua");
        std::fs::write(&script, SCRIPT).expect("script written");
        let stock =
            [("tea", 1_000_000), ("cake", 1_000_000), ("coffee", 1), ("matcha", 1_000)].map(|(s, n)| (s.to_owned(), n));
        let inventory = Inventory::new(stock, Duration::from_millis(2));
        // On Lua threads, no hand-off workers: an order that did not run on its own thread would fail (503).
        let workers = if on_lua_threads { 0 } else { 2 };
        let state = AppState::new(ServiceConfig { script: script.clone(), workers, inventory: inventory.clone() })
            .expect("starts");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("address");
        let threads = if on_lua_threads {
            Some(serve_on_lua_threads(router(state), listener, 2).expect("serves"))
        } else {
            listener.set_nonblocking(true).expect("non-blocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            tokio::spawn(async move { axum::serve(listener, router(state)).await.expect("serves") });
            None
        };
        let client = Client::builder(TokioExecutor::new()).build_http();
        Service { addr, client, script, inventory, threads }
    }

    async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Bytes) {
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json")
            .body(Full::new(body))
            .expect("request");
        let response = self.client.request(request).await.expect("response");
        let status = response.status().as_u16();
        (status, response.into_body().collect().await.expect("body").to_bytes())
    }

    /// POSTs an order; its status, or the client's error when the connection
    /// ends without an answer.
    async fn try_order(&self, order: &Value) -> Result<u16, ClientError> {
        let request = Request::post(format!("http://{}/orders", self.addr))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(order.to_string())))
            .expect("request");
        Ok(self.client.request(request).await?.status().as_u16())
    }

    async fn order(&self, order: &Value) -> (u16, OrderResponse) {
        self.order_at("/orders", order).await
    }

    async fn order_at(&self, path: &str, order: &Value) -> (u16, OrderResponse) {
        let (status, body) = self.request(Method::POST, path, Some(order)).await;
        let response = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {status} {}", String::from_utf8_lossy(&body)));
        (status, response)
    }

    async fn reload(&self) -> Value {
        let (status, body) = self.request(Method::POST, "/admin/reload", None).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("json")
    }
}

fn order(n: usize) -> Value {
    json!({ "id": n, "items": [{ "sku": "tea", "qty": 2, "price": 3.5 }, { "sku": "cake", "qty": 1, "price": 4 }] })
}

/// Everything the script wrote comes from `tag` ("v1" or "v2"), and the
/// version number matches it.
fn assert_one_version(response: &OrderResponse) -> &'static str {
    let tag = match response.version {
        1 => "v1",
        2 => "v2",
        other => panic!("unexpected version {other}: {response:?}"),
    };
    let ctx = &response.context;
    assert_eq!(ctx["version_tag"], tag, "{response:?}");
    assert_eq!(ctx["checked_by"], tag, "{response:?}");
    assert_eq!(ctx["priced_by"], tag, "{response:?}");
    let trail: Vec<String> = ["tag", "check_stock", "price"].iter().map(|e| format!("{tag}:{e}:ok")).collect();
    assert_eq!(ctx["trail"], json!(trail), "{response:?}");
    tag
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_across_a_reload_each_come_from_exactly_one_version() {
    let service = Arc::new(Service::start("reload").await);
    const TASKS: usize = 4;
    const PER_TASK: usize = 50;
    let done = Arc::new(AtomicUsize::new(0));
    let (reloaded_tx, reloaded) = watch::channel(false);
    let (half_tx, mut half) = watch::channel(false);
    let half_tx = Arc::new(half_tx);

    let mut clients = Vec::new();
    for task in 0..TASKS {
        let (service, done, half_tx, mut reloaded) = (service.clone(), done.clone(), half_tx.clone(), reloaded.clone());
        clients.push(tokio::spawn(async move {
            let mut responses = Vec::new();
            for i in 0..PER_TASK {
                // Tasks 0 and 1 wait for the reload at their midpoint, so their
                // second halves surely run on version 2; tasks 2 and 3 keep
                // sending, so orders are in flight while the reload happens.
                if task < 2 && i == PER_TASK / 2 {
                    reloaded.wait_for(|r| *r).await.expect("reload signalled");
                }
                let response = service.order(&order(task * PER_TASK + i)).await;
                if done.fetch_add(1, Ordering::SeqCst) + 1 == TASKS * PER_TASK / 4 {
                    half_tx.send_replace(true);
                }
                responses.push(response);
            }
            responses
        }));
    }

    half.wait_for(|h| *h).await.expect("a quarter done");
    reload_v2(&service).await;
    reloaded_tx.send_replace(true);

    let mut per_version = [0usize; 2];
    for client in clients {
        for (status, response) in client.await.expect("client task") {
            assert_eq!(status, 200, "{response:?}");
            assert_eq!(response.status, eventchains_core::ChainStatus::Completed, "{response:?}");
            assert!(response.failures.is_empty(), "{response:?}");
            assert_eq!(response.context["total"], 11.0, "{response:?}");
            per_version[usize::from(assert_one_version(&response) == "v2")] += 1;
        }
    }
    assert_eq!(per_version.iter().sum::<usize>(), TASKS * PER_TASK);
    assert!(per_version[0] >= TASKS * PER_TASK / 4, "{per_version:?}");
    assert!(per_version[1] >= PER_TASK, "{per_version:?}");
    // New orders now get version 2.
    assert_eq!(assert_one_version(&service.order(&order(0)).await.1), "v2");
}

/// Writes version 2 of the script (tag "v2") and reloads it.
async fn reload_v2(service: &Service) {
    let v2 = SCRIPT.replace(r#"local VERSION = "v1""#, r#"local VERSION = "v2""#);
    assert_ne!(v2, SCRIPT, "the script defines its version tag");
    std::fs::write(&service.script, v2).expect("v2 written");
    assert_eq!(service.reload().await, json!({ "version": 2 }));
}

/// Orders held inside `check_stock` (awaiting the inventory) while the script
/// is reloaded finish on version 1: the events that run after the reload
/// (the rest of check_stock, price, the Lua middleware) are version 1's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_in_flight_during_a_reload_finish_on_their_version() {
    let service = Arc::new(Service::start("in-flight").await);
    let mut hold = service.inventory.hold("matcha");
    const HELD: usize = 10;
    let held: Vec<_> = (0..HELD)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                service.order(&json!({ "items": [{ "sku": "matcha", "qty": 1, "price": 11 }] })).await
            })
        })
        .collect();
    hold.held(HELD).await;
    reload_v2(&service).await;
    let (status, fresh) = service.order(&order(1)).await;
    assert_eq!((status, assert_one_version(&fresh)), (200, "v2"), "new orders run version 2 while v1 ones wait");
    hold.release();
    for order in held {
        let (status, response) = order.await.expect("order task");
        assert_eq!((status, assert_one_version(&response)), (200, "v1"), "{response:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_order_names_the_event_and_a_broken_reload_keeps_the_old_version() {
    let service = Service::start("failing").await;
    let unknown = json!({ "items": [{ "sku": "unobtainium", "qty": 1, "price": 1 }] });
    let (status, response) = service.order(&unknown).await;
    assert_eq!(status, 422, "{response:?}");
    assert_eq!(response.status, eventchains_core::ChainStatus::Failed);
    assert_eq!(response.failures.len(), 1, "{response:?}");
    let failure = &response.failures[0];
    assert_eq!((failure.event.as_str(), failure.kind.as_str()), ("check_stock", "event"));
    assert!(failure.message.contains("inventory: unknown sku `unobtainium`"), "{failure:?}");
    assert!(failure.message.contains("orders.lua:"), "names the script and line: {failure:?}");
    assert_eq!(response.context["trail"], json!(["v1:tag:ok", "v1:check_stock:failed"]));
    assert_eq!(response.context.get("priced_by"), None, "the chain stopped at check_stock");

    let short = json!({ "items": [{ "sku": "coffee", "qty": 3, "price": 2 }] });
    let (status, response) = service.order(&short).await;
    assert_eq!((status, response.failures[0].event.as_str()), (422, "check_stock"));
    assert!(response.failures[0].message.contains("not enough stock for coffee: 3 wanted, 1 left"), "{response:?}");

    std::fs::write(&service.script, "return { events = { { name = 'x' } } }").expect("broken script written");
    let (status, body) = service.request(Method::POST, "/admin/reload", None).await;
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["version"], 1);
    assert!(body["error"].as_str().expect("error").contains("missing `handler` or `rust`"), "{body}");
    let (status, response) = service.order(&order(1)).await;
    assert_eq!((status, assert_one_version(&response)), (200, "v1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_handler_answers_like_the_lua_chain() {
    let service = Service::start("rust-handler").await;
    let orders = [
        order(7),
        json!({ "items": [{ "sku": "tea", "qty": 3, "price": 2 }, { "sku": "matcha", "qty": 10, "price": 7 }] }),
        json!({ "id": "x", "items": [{ "sku": "cake", "qty": 1, "price": 0.25 }], "note": { "gift": true } }),
        json!({ "items": [] }),
        json!({ "items": [{ "sku": "tea", "qty": 1, "price": 1 }, { "sku": "unobtainium", "qty": 1, "price": 1 }] }),
        json!({ "items": [{ "sku": "coffee", "qty": 3, "price": 2 }] }),
    ];
    let mut failed = 0;
    for order in &orders {
        let (lua_status, lua) = service.order_at("/orders", order).await;
        let (rust_status, rust) = service.order_at("/orders-rust", order).await;
        assert_eq!((lua_status, lua.version, rust.version), (rust_status, 1, 0), "{order}");
        assert_eq!(lua.status, rust.status, "{order}");
        assert_eq!(lua.context, rust.context, "{order}");
        assert_eq!(lua.failures.len(), rust.failures.len(), "{order}: {lua:?} {rust:?}");
        for (l, r) in lua.failures.iter().zip(&rust.failures) {
            assert_eq!((&l.event, &l.kind), (&r.event, &r.kind), "{order}");
            // The script's messages carry its position; the Rust ones the same text without it.
            let position = l.message.strip_suffix(&r.message).unwrap_or_else(|| panic!("{l:?} vs {r:?}"));
            assert!(position.starts_with("orders.lua:") && position.ends_with(": "), "{l:?} vs {r:?}");
            failed += 1;
        }
    }
    assert_eq!(failed, 2, "the unknown sku and the short stock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_on_lua_threads_both_handlers_answer_and_orders_stay_on_their_version() {
    let service = Arc::new(Service::start_with("lua-threads", true).await);
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let service = service.clone();
            tokio::spawn(async move {
                let path = if n % 2 == 0 { "/orders" } else { "/orders-rust" };
                (path, service.order_at(path, &order(n)).await)
            })
        })
        .collect();
    for task in tasks {
        let (path, (status, response)) = task.await.expect("order task");
        assert_eq!((status, response.status), (200, eventchains_core::ChainStatus::Completed), "{path}: {response:?}");
        assert_eq!(response.context["total"], json!(11.0), "{path}");
        assert_eq!(response.version, u64::from(path == "/orders"), "{path}");
        if path == "/orders" {
            assert_one_version(&response);
        }
    }
    let unknown = json!({ "items": [{ "sku": "unobtainium", "qty": 1, "price": 1 }] });
    let (status, response) = service.order(&unknown).await;
    assert_eq!((status, response.failures[0].event.as_str()), (422, "check_stock"));
    reload_v2(&service).await;
    let (status, response) = service.order(&order(99)).await;
    assert_eq!((status, assert_one_version(&response)), (200, "v2"));
}

/// Connection `j` (opened one after the other, each answered before the next
/// opens) sends `j + 1` orders: handed out per connection, round-robin, Lua
/// thread `i` of 2 serves connections `i, i + 2, ...`, so 4 connections and
/// 1+3+5+7 = 16 or 2+4+6+8 = 20 requests each; all on one thread, or a hand-off
/// per request (18 + 18), would not give that split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_threads_are_handed_whole_connections_round_robin() {
    let service = Service::start_with("round-robin", true).await;
    let body = Bytes::from(order(1).to_string());
    for j in 0..8 {
        let stream = tokio::net::TcpStream::connect(service.addr).await.expect("connects");
        let (mut sender, driver) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.expect("handshake");
        let driver = tokio::spawn(driver);
        for _ in 0..=j {
            let request = Request::post("/orders")
                .header("host", "localhost")
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .expect("request");
            sender.ready().await.expect("connection ready");
            let response = sender.send_request(request).await.expect("response");
            // 200: the order ran on the thread that read it (no workers to hand it to).
            assert_eq!(response.status(), 200, "connection {j}");
            response.into_body().collect().await.expect("body");
        }
        drop(sender);
        driver.await.expect("driver task").expect("connection ends cleanly");
    }
    let load = service.threads.as_ref().expect("on Lua threads").load_per_thread();
    let expected = [ThreadLoad { connections: 4, requests: 16 }, ThreadLoad { connections: 4, requests: 20 }];
    assert_eq!(load, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_serves_prometheus_text_of_the_chain_and_the_service() {
    let service = Service::start("metrics").await;
    let (status, _) = service.order(&order(1)).await;
    assert_eq!(status, 200);
    let (status, body) = service.request(Method::GET, "/metrics", None).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    let series = |name: &str, labels: &[&str]| {
        text.lines().any(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
    };
    assert!(
        series("eventchains_event_executions_total{", &[r#"event="check_stock""#, r#"outcome="success""#]),
        "{text}"
    );
    assert!(series("eventchains_event_duration_seconds", &[r#"event="price""#]), "{text}");
    assert!(series("http_service_orders_total{", &[r#"status="completed""#]), "{text}");
    assert!(text.contains("# TYPE http_service_orders_total counter"), "{text}");
}

/// An order for `matcha`, which the tests hold inside `check_stock`.
fn matcha_order() -> Value {
    json!({ "items": [{ "sku": "matcha", "qty": 1, "price": 11 }] })
}

/// Waits until connecting to `addr` is refused (the listener is closed);
/// fails the test if that takes a minute.
async fn until_refused(addr: SocketAddr) {
    let refused = async {
        while let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            drop(stream);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), refused).await.expect("the listener closes");
}

/// The service on 2 Lua threads with `n` matcha orders held in flight (each
/// on its own connection): the service, its server (to shut down), the hold
/// and the orders' tasks (each gives its status, or the client's error).
async fn orders_held_on_lua_threads(
    test: &str,
    n: usize,
) -> (Arc<Service>, LuaThreadServer, Hold, Vec<JoinHandle<Result<u16, ClientError>>>) {
    let mut service = Service::start_with(test, true).await;
    let server = service.threads.take().expect("on Lua threads");
    let service = Arc::new(service);
    let mut hold = service.inventory.hold("matcha");
    let held = (0..n)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { service.try_order(&matcha_order()).await })
        })
        .collect();
    hold.held(n).await;
    (service, server, hold, held)
}

/// The shutdown begins (the listener closes) while orders are held in flight;
/// released afterwards, every one is answered, nothing is dropped, and the
/// server takes no new connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_answers_the_orders_in_flight() {
    const HELD: usize = 3;
    let (service, server, hold, held) = orders_held_on_lua_threads("drain", HELD).await;
    // A grace no test run reaches: only the orders' ends can end the drain.
    let shutdown = tokio::task::spawn_blocking(move || server.shutdown(Duration::from_secs(600)));
    until_refused(service.addr).await;
    hold.release();
    for order in held {
        assert_eq!(order.await.expect("order task").expect("answered"), 200);
    }
    let drained = shutdown.await.expect("shutdown");
    assert_eq!(drained.dropped, 0, "{drained:?}");
    // The held orders' connections, and any the refusal probe opened before the listener closed.
    assert!(drained.closed >= HELD, "{drained:?}");
    assert!(tokio::net::TcpStream::connect(service.addr).await.is_err(), "no new connections after the shutdown");
}

/// Orders that cannot finish (held, never released) within the grace period
/// are dropped with their connections: the clients get no answer, and the
/// shutdown returns and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_drops_what_is_still_in_flight_when_the_grace_runs_out() {
    const HELD: usize = 2;
    let (_service, server, hold, held) = orders_held_on_lua_threads("drain-grace", HELD).await;
    // Never released: only the grace period can end the drain.
    let drained =
        tokio::task::spawn_blocking(move || server.shutdown(Duration::from_millis(100))).await.expect("shutdown");
    assert_eq!(drained, Drained { closed: 0, dropped: HELD });
    for order in held {
        let answer = order.await.expect("order task");
        assert!(answer.is_err(), "a dropped connection answers nothing: {answer:?}");
    }
    hold.release();
}
