//! Test support for `cordon serve`: a real server on an ephemeral loopback
//! port (in-process, or the real binary as a child), and a minimal HTTP/1.1
//! client over a plain TCP socket (requests with `Connection: close`, bodies
//! read to EOF, chunked transfer decoded), so the tests need no HTTP crate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cordon::server::config::{RateLimits, ServerConfig, TenantLimits};
use cordon::server::store::Role;
use cordon::server::{AppState, StartOptions};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {}",
                self.status,
                self.text()
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The stable error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&b[..pos]).to_string();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        b = &b[pos + 2..];
        if size == 0 || b.len() < size {
            out.extend_from_slice(&b[..size.min(b.len())]);
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
    out
}

/// Sends one request and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&[u8]>,
) -> Resp {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("connect to the server");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    let body = body.unwrap_or(b"");
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("send head");
    // A server may answer (413) before reading a large body and close: ignore write errors.
    let _ = s.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut raw)).await;
    parse(&raw)
}

fn parse(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(addr: SocketAddr, path: &str, key: &str) -> Resp {
    request(addr, "GET", path, Some(key), None).await
}

pub async fn post(addr: SocketAddr, path: &str, key: &str, body: &Value) -> Resp {
    request(
        addr,
        "POST",
        path,
        Some(key),
        Some(body.to_string().as_bytes()),
    )
    .await
}

/// Server-Sent Events parsed from a complete stream: (event, data as JSON).
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let mut event = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            }
        }
        if !data.is_empty() {
            out.push((
                event,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            ));
        }
    }
    out
}

pub fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// A server running in this process on 127.0.0.1:<ephemeral>.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Generous limits so tests are not rate limited unless they mean to be.
pub fn relaxed() -> RateLimits {
    RateLimits {
        default: TenantLimits {
            concurrent: 20,
            per_hour: 1000,
        },
        ..Default::default()
    }
}

impl TestServer {
    /// Starts a server on a fresh SQLite database (or `url` when given), or
    /// returns `None` (after printing `skipped:`) without an engine.
    pub async fn start_with(
        test: &str,
        url: Option<String>,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Option<TestServer> {
        crate::support::docker(test).await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let url =
            url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("audit.db").display()));
        let mut cfg = ServerConfig {
            audit_url: Some(url.clone()),
            audit_key_file: Some(dir.path().join("audit.key")),
            policies_dir: Some(policies_dir()),
            rate_limits: relaxed(),
            ..Default::default()
        };
        tweak(&mut cfg);
        let state = cordon::server::prepare(
            cfg,
            StartOptions {
                self_test: false,
                allow_failed_self_test: false,
            },
        )
        .await
        .expect("server prepares");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            let state = state.clone();
            async move {
                cordon::server::serve(listener, state, async move { stop.cancelled().await })
                    .await
                    .expect("server runs");
            }
        });
        Some(TestServer {
            addr,
            state,
            dir,
            url,
            stop,
            task,
        })
    }

    pub async fn start(test: &str) -> Option<TestServer> {
        Self::start_with(test, None, |_| {}).await
    }

    /// A new key's secret.
    pub async fn key(&self, tenant: &str, role: Role) -> String {
        self.state
            .store()
            .create_key(tenant, role, Some("test"))
            .await
            .expect("create key")
            .secret
    }

    /// Stops the server (graceful) and waits for it.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(60), self.task).await;
    }
}

/// Runs `cordon <args>` to completion with the given audit store.
pub fn cordon(args: &[&str], url: &str, key_file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .env("CORDON_AUDIT_URL", url)
        .env("CORDON_AUDIT_KEY_FILE", key_file)
        .output()
        .expect("run cordon")
}

/// Waits until `GET /healthz` answers.
pub async fn wait_healthy(addr: SocketAddr, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await
        {
            let _ = s
                .write_all(
                    format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            let mut raw = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut raw)).await;
            if raw.starts_with(b"HTTP/1.1 200") {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A free loopback port (bound and released; good enough for a child server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
