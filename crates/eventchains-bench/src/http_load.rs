//! [`load`]: an HTTP/1 load generator on hyper's client: a fixed number of
//! keep-alive connections, each sending its next request as soon as the last
//! response is read (a closed loop), until a fixed number of requests is sent
//! or a time cap is reached, whichever comes first. Every latency is kept
//! (sorted) for exact percentiles. Loopback use only: it sends whatever body
//! it is given to one address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::error::BenchError;
use crate::stats::percentile_sorted;

/// How much load to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadConfig {
    /// Keep-alive connections, each with one request in flight at a time.
    pub connections: usize,
    /// Requests to send in total (over all connections).
    pub requests: usize,
    /// No request is started after this much time (the run is bounded in time too).
    pub time_cap: Duration,
}

/// What one load run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadRun {
    /// Responses with the expected status.
    pub ok: usize,
    /// Responses with another status.
    pub failed: usize,
    /// The first unexpected response: status and body.
    pub first_failure: Option<(u16, String)>,
    /// From the first request sent to the last response read.
    pub elapsed: Duration,
    /// Every successful request's latency, in ms, ascending.
    pub latencies_ms: Vec<f64>,
}

impl LoadRun {
    /// Successful responses per second of the run.
    pub fn requests_per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`-th percentile latency (0..=100), in ms (NaN without responses).
    pub fn latency_ms(&self, p: f64) -> f64 {
        percentile_sorted(&self.latencies_ms, p)
    }
}

/// Sends `config.requests` POST requests of `body` (JSON) to `http://addr{path}`
/// over `config.connections` connections and waits for every response; a
/// response counts as successful when its status is `expect_status`.
/// Must run inside a tokio runtime (the connections are spawned on it).
pub async fn load(
    addr: SocketAddr,
    path: &str,
    body: Bytes,
    expect_status: u16,
    config: LoadConfig,
) -> Result<LoadRun, BenchError> {
    let tickets = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + config.time_cap;
    let mut clients = Vec::with_capacity(config.connections);
    for _ in 0..config.connections.max(1) {
        let (tickets, body, path) = (tickets.clone(), body.clone(), path.to_owned());
        clients.push(tokio::spawn(async move {
            connection(addr, &path, body, expect_status, config.requests, &tickets, deadline).await
        }));
    }
    let mut run = LoadRun { ok: 0, failed: 0, first_failure: None, elapsed: Duration::ZERO, latencies_ms: Vec::new() };
    for client in clients {
        let one = client.await.map_err(|e| http_error(format!("a load connection panicked: {e}")))??;
        run.ok += one.ok;
        run.failed += one.failed;
        run.first_failure = run.first_failure.or(one.first_failure);
        run.latencies_ms.extend(one.latencies_ms);
    }
    run.elapsed = start.elapsed();
    run.latencies_ms.sort_by(f64::total_cmp);
    Ok(run)
}

/// One connection's closed loop.
async fn connection(
    addr: SocketAddr,
    path: &str,
    body: Bytes,
    expect_status: u16,
    requests: usize,
    tickets: &AtomicUsize,
    deadline: Instant,
) -> Result<LoadRun, BenchError> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| http_error(format!("connect {addr}: {e}")))?;
    stream.set_nodelay(true).map_err(|e| http_error(format!("nodelay: {e}")))?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| http_error(format!("handshake with {addr}: {e}")))?;
    let driver = tokio::spawn(driver);
    let mut run = LoadRun { ok: 0, failed: 0, first_failure: None, elapsed: Duration::ZERO, latencies_ms: Vec::new() };
    while tickets.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .map_err(|e| http_error(format!("request: {e}")))?;
        sender.ready().await.map_err(|e| http_error(format!("connection to {addr} closed: {e}")))?;
        let sent = Instant::now();
        let response = sender.send_request(request).await.map_err(|e| http_error(format!("POST {path}: {e}")))?;
        let status = response.status().as_u16();
        let bytes =
            response.into_body().collect().await.map_err(|e| http_error(format!("body of POST {path}: {e}")))?;
        let latency = sent.elapsed();
        if status == expect_status {
            run.ok += 1;
            run.latencies_ms.push(latency.as_secs_f64() * 1e3);
        } else {
            run.failed += 1;
            let text = String::from_utf8_lossy(&bytes.to_bytes()).into_owned();
            run.first_failure.get_or_insert((status, text));
        }
    }
    drop(sender);
    // The connection ends once its sender is dropped.
    let _ = driver.await;
    Ok(run)
}

fn http_error(message: String) -> BenchError {
    BenchError::Http(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_percentiles_come_from_the_sorted_latencies() {
        let run = LoadRun {
            ok: 4,
            failed: 0,
            first_failure: None,
            elapsed: Duration::from_millis(500),
            latencies_ms: vec![1.0, 2.0, 3.0, 10.0],
        };
        assert_eq!(run.requests_per_s(), 8.0);
        assert_eq!(run.latency_ms(50.0), 2.5);
        assert_eq!(run.latency_ms(100.0), 10.0);
    }
}
