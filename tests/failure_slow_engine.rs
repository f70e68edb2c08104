//! A slow engine: every Engine API request reaches the real engine only
//! after a delay of seconds (a small proxy on a Unix socket in the test).
//! Admission stays bounded (never more running or queued than configured;
//! the rest refused at once), and time limits stay honest: a quick program
//! is not charged the engine's slowness, and a program past its wall limit
//! is killed and reported `timeout` within the limit plus the engine's
//! round trips.

#[path = "support/outage.rs"]
mod outage;
#[path = "support/server.rs"]
mod srv;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outage::{Gateway, GatewayOpts};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const DELAY_MS: u64 = 1500;

/// Forwards connections on `path` to the engine's socket, holding every
/// chunk the client sends for `delay` milliseconds (0: no delay).
fn proxy(path: &Path, delay: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    let listener = UnixListener::bind(path).expect("bind the proxy socket");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let delay = delay.clone();
            tokio::spawn(async move {
                let Ok(engine) = UnixStream::connect("/var/run/docker.sock").await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut er, mut ew) = engine.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let d = delay.load(Ordering::SeqCst);
                        if d > 0 {
                            tokio::time::sleep(Duration::from_millis(d)).await;
                        }
                        if ew.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = ew.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut er, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    })
}

/// A gauge from `/metrics`.
async fn gauge(addr: SocketAddr, key: &str, name: &str) -> u64 {
    srv::get(addr, "/metrics", key)
        .await
        .text()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The final view of an execution: the answer itself, or polled after a 202.
async fn settle(addr: SocketAddr, key: &str, r: srv::Resp) -> Value {
    if r.status != 202 {
        return r.json();
    }
    let id = r.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let v = srv::get(addr, &format!("/v1/executions/{id}"), key)
            .await
            .json();
        if v["status"] != "running" && v["status"] != "pending" {
            return v;
        }
        assert!(Instant::now() < deadline, "{id} never ended: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_engine_keeps_admission_bounded_and_time_limits_honest() {
    let test = "a_slow_engine";
    if support::docker(test).await.is_none() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let sock: PathBuf = work.path().join("slow-engine.sock");
    let delay = Arc::new(AtomicU64::new(0));
    let forwarder = proxy(&sock, delay.clone());
    let url = format!("sqlite://{}", work.path().join("audit.db").display());
    let key_file = work.path().join("audit.key");
    let opts = GatewayOpts {
        audit_url: url.clone(),
        key_file: key_file.clone(),
        policy_dir: outage::python_only_policies(work.path(), "4s"),
        config: outage::config("{ max_concurrent: 2, queue: 2, queue_timeout: 60s }"),
        docker_host: Some(format!("unix://{}", sock.display())),
    };
    let key = outage::key(&url, &key_file, "t1", "submitter");
    let admin = outage::key(&url, &key_file, "t1", "admin");
    // Started at full speed (the self-test makes a dozen engine calls), then slowed.
    let mut gw = Gateway::start(&opts, work.path()).await;
    let addr = gw.addr;
    delay.store(DELAY_MS, Ordering::SeqCst);

    // Admission under a slow engine: sampled all along, never past its bounds.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (stop, admin) = (stop.clone(), admin.clone());
        async move {
            let (mut max_running, mut max_queued) = (0, 0);
            while !stop.load(Ordering::SeqCst) {
                max_running =
                    max_running.max(gauge(addr, &admin, "cordon_executions_running").await);
                max_queued =
                    max_queued.max(gauge(addr, &admin, "cordon_admission_queue_depth").await);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (max_running, max_queued)
        }
    });
    let t0 = Instant::now();
    let mut calls = Vec::new();
    for i in 0..8 {
        let key = key.clone();
        calls.push(tokio::spawn(async move {
            let body = json!({"language": "python", "code": format!("print('ok {i}')")});
            let r = srv::post(addr, "/v1/executions", &key, &body).await;
            (r, t0.elapsed())
        }));
    }
    let (mut ran, mut refused) = (0, 0);
    for c in calls {
        let (r, took) = c.await.expect("request");
        if r.status == 503 {
            assert_eq!(r.code(), "host_overloaded", "{}", r.text());
            assert!(
                took < Duration::from_secs(3),
                "a refusal must not wait on the engine: {took:?}"
            );
            refused += 1;
            continue;
        }
        let v = settle(addr, &key, r).await;
        let result = &v["result"];
        assert_eq!(result["termination_reason"], "exited", "{v}");
        assert!(
            result["stdout"].as_str().unwrap_or("").starts_with("ok "),
            "{v}"
        );
        // The program's wall time is its own, not the engine's slowness.
        let wall = result["usage"]["wall_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(wall < 4000, "a quick program was charged {wall} ms: {v}");
        ran += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let (max_running, max_queued) = sampler.await.expect("sampler");
    assert_eq!(
        (ran, refused),
        (4, 4),
        "two running plus two queued, the rest refused"
    );
    assert!(max_running <= 2, "{max_running} ran at once");
    assert!(max_queued <= 2, "{max_queued} queued at once");

    // A program past its 4 s wall limit: killed and reported as such, with the
    // engine's slowness adding at most its round trips to the program's time.
    let began = Instant::now();
    let r = srv::post(
        addr,
        "/v1/executions",
        &key,
        &json!({"language": "python", "code": "import time\nprint('up', flush=True)\ntime.sleep(60)\n"}),
    )
    .await;
    let v = settle(addr, &key, r).await;
    let result = &v["result"];
    assert_eq!(result["termination_reason"], "timeout", "{v}");
    assert_eq!(result["detail"], "timeout after 4s", "{v}");
    let wall = result["usage"]["wall_ms"].as_u64().unwrap_or(0);
    assert!(
        (4000..=4000 + 3 * DELAY_MS).contains(&wall),
        "wall {wall} ms for a 4 s limit behind a {DELAY_MS} ms engine: {v}"
    );
    // Seven engine calls at 1.5 s each come on top of the 4 s: the run ends,
    // it does not hang on the slow engine.
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "the timed-out run took {:?} to settle",
        began.elapsed()
    );

    delay.store(0, Ordering::SeqCst);
    assert!(gw.terminate().is_some_and(|s| s.success()), "{}", gw.log());
    forwarder.abort();
    outage::assert_verifies(&url, &key_file);
}
