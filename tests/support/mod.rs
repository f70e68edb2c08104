//! Shared helpers for tests that need the real Docker engine.
//!
//! Engine tests never pass silently without an engine: when
//! `CORDON_REQUIRE_DOCKER` is set (CI sets it) a missing engine fails the
//! test; otherwise the test prints `skipped: ...` with its name and returns.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use cordon::decide::LimitRequest;
use cordon::pipeline::{ExecutionResult, NoRecorder, Pipeline, Submission};
use cordon::policy::Policy;
use cordon::sandbox::docker::DockerBackend;
use cordon::sandbox::NullSink;
use cordon::units::{ByteSize, HumanDuration};
use cordon::Language;

/// A policy with the default runtimes and no rules: sandbox tests exercise
/// the fence, so the analyzer must not stop abusive payloads first.
pub const PERMISSIVE: &str = r#"
apiVersion: cordon.dev/v1
kind: Policy
metadata: { name: permissive-test }
thresholds: { review: 100, deny: 100 }
runtimes:
  python:
    image: cordon/python:3.11
    limits: { cpus: 1, memory: 256Mi, pids: 64, wall: 20s, cpu_time: 20s, output: 1Mi, tmpfs: 16Mi }
  javascript:
    image: cordon/node:18
    limits: { cpus: 1, memory: 256Mi, pids: 64, wall: 20s, cpu_time: 20s, output: 1Mi, tmpfs: 16Mi }
  bash:
    image: cordon/bash:5
    limits: { cpus: 1, memory: 256Mi, pids: 64, wall: 20s, cpu_time: 20s, output: 1Mi, tmpfs: 16Mi }
"#;

pub fn permissive() -> Arc<Policy> {
    Arc::new(
        Policy::from_str_with(PERMISSIVE, "permissive-test.yaml", None).expect("test policy loads"),
    )
}

/// `let d = engine!("test name");`: the engine, or return from the test
/// (after [`docker`] printed why) when it is absent and not required.
#[allow(unused_macros)]
macro_rules! engine {
    ($name:expr) => {
        match docker($name).await {
            Some(d) => d,
            None => return,
        }
    };
}

/// The engine, or `None` (after printing why) when it is absent and not required.
pub async fn docker(test: &str) -> Option<DockerBackend> {
    match DockerBackend::connect().await {
        Ok(d) => Some(d),
        Err(e) => {
            if std::env::var_os("CORDON_REQUIRE_DOCKER").is_some() {
                panic!("{test}: CORDON_REQUIRE_DOCKER is set but the engine is unreachable: {e}");
            }
            eprintln!("skipped: {test}: no Docker engine ({e}); set CORDON_REQUIRE_DOCKER=1 to make this a failure");
            None
        }
    }
}

pub fn wall(s: &str) -> Option<HumanDuration> {
    Some(s.parse().expect("duration"))
}

pub fn size(s: &str) -> Option<ByteSize> {
    Some(s.parse().expect("size"))
}

/// Runs `code` under the permissive policy lowered by `limits`, and checks
/// that the container is gone afterwards.
pub async fn run_with(
    docker: &DockerBackend,
    language: Language,
    code: &str,
    limits: LimitRequest,
) -> ExecutionResult {
    let mut sub = Submission::new(language, code.as_bytes().to_vec(), permissive());
    sub.limits = limits;
    run_submission(docker, sub).await
}

/// Runs a prepared submission (permissive policy expected) with no audit log.
pub async fn run_submission(docker: &DockerBackend, sub: Submission) -> ExecutionResult {
    let pipeline = Pipeline::new(Arc::new(docker.clone()), Arc::new(NoRecorder));
    let id = sub.id.to_string();
    let result = pipeline.execute(sub, &mut NullSink).await;
    assert_no_container(docker, &id).await;
    result
}

pub async fn run(docker: &DockerBackend, language: Language, code: &str) -> ExecutionResult {
    run_with(docker, language, code, LimitRequest::default()).await
}

/// No container labelled with this execution id exists.
pub async fn assert_no_container(docker: &DockerBackend, execution: &str) {
    // Removal is synchronous on the success path; allow the drop-guard path a moment.
    for _ in 0..50 {
        let left = docker.labelled_containers().await.expect("list containers");
        if !left.iter().any(|(_, e)| e == execution) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("container of execution {execution} was left behind");
}
