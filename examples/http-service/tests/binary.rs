//! The `http-service` binary, both servings: started on an ephemeral port,
//! it answers an order and stops gracefully on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// Kills the service when the test ends, also when it fails.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes ANSI escape sequences (the log may be coloured).
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Starts the binary with `args` on 127.0.0.1:0; returns it and the address it logged.
fn start(args: &[&str]) -> (Service, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_http-service"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    let mut service = Service(child);
    let stderr = service.0.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = plain(&lines.next().expect("the service logs its address before anything else").expect("utf-8"));
        if let Some(at) = line.find("addr=") {
            break line[at + 5..].split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining the log so the service never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (service, addr)
}

/// POSTs an order; returns the status line and the body.
fn post_order(addr: &str) -> (String, String) {
    let body = r#"{"items": [{"sku": "tea", "qty": 2, "price": 3.5}]}"#;
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "POST /orders HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// Starts the binary with `args`, checks that it completes an order, then
/// stops it with SIGTERM: it must exit on its own, with status 0 (a process
/// the signal killed has no exit code).
fn serves_an_order(args: &[&str]) {
    let (mut service, addr) = start(args);
    let (status, body) = post_order(&addr);
    assert_eq!(status, "HTTP/1.1 200 OK", "{args:?}: {body}");
    assert!(body.contains(r#""status":"completed""#), "{args:?}: {body}");
    let pid = libc::pid_t::try_from(service.0.id()).expect("a pid");
    // SAFETY: `kill` with the pid of our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM sent");
    // Bounded only so that a broken shutdown fails instead of hanging the suite.
    let exited = (0..6_000).find_map(|_| {
        let status = service.0.try_wait().expect("waits");
        if status.is_none() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        status
    });
    let exited = exited.expect("the service exits within a minute of SIGTERM");
    assert_eq!(exited.code(), Some(0), "{args:?}: a graceful stop exits with 0, got {exited:?}");
}

#[test]
fn serve_lua_threads_runs_the_orders_on_the_serving_threads() {
    // No worker threads: an order not run on the thread that serves it would get 503.
    serves_an_order(&["--serve", "lua-threads", "--workers", "2"]);
}

#[test]
fn serve_axum_hands_the_orders_to_workers() {
    serves_an_order(&["--serve", "axum", "--workers", "1"]);
}

#[test]
fn a_bad_serve_option_is_refused_with_the_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_http-service")).args(["--serve", "nginx"]).output().expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--serve nginx: expected `axum` or `lua-threads`"), "{stderr}");
    assert!(stderr.contains("usage: http-service"), "{stderr}");
}
