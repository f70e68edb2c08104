//! The resource monitor against the real engine: peaks measured, CPU-time
//! budget and deadline enforced, the pids limit recognised, one reason per
//! kill with the documented precedence, and host admission control.

#[macro_use]
mod support;

use std::sync::Arc;
use std::time::Duration;

use cordon::decide::LimitRequest;
use cordon::monitor::admission::{Admission, AdmissionConfig};
use cordon::pipeline::{NoRecorder, Pipeline, Submission};
use cordon::sandbox::{NullSink, TerminationReason};
use cordon::Language;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn allocation_under_the_limit_is_measured_and_exits() {
    let d = engine!("allocation_under_the_limit_is_measured_and_exits");
    let r = run(&d, Language::Python, "import time\nx = bytearray(100 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\ntime.sleep(0.3)\nprint('ok')").await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Exited,
        "{:?} {}",
        r.detail,
        r.stderr
    );
    assert!(
        r.usage.peak_memory_bytes >= 90 << 20,
        "peak {}",
        r.usage.peak_memory_bytes
    );
    assert!(r.usage.peak_memory_bytes <= 256 << 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn allocation_over_the_limit_is_oom() {
    let d = engine!("allocation_over_the_limit_is_oom");
    let r = run(
        &d,
        Language::Python,
        "x = bytearray(400 << 20)\nprint('survived')",
    )
    .await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Oom,
        "{:?}",
        r.detail
    );
    assert!(!r.stdout.contains("survived"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cpu_spin_is_killed_at_its_cpu_time_budget() {
    let d = engine!("cpu_spin_is_killed_at_its_cpu_time_budget");
    let limits = LimitRequest {
        cpu_time: wall("1s"),
        wall: wall("20s"),
        ..Default::default()
    };
    let r = run_with(&d, Language::Python, "while True: pass", limits).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::CpuTime,
        "{:?}",
        r.detail
    );
    assert!(
        (800..=1500).contains(&r.usage.cpu_time_ms),
        "cpu time {} ms",
        r.usage.cpu_time_ms
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sleeping_past_the_deadline_is_a_timeout_with_little_cpu() {
    let d = engine!("sleeping_past_the_deadline_is_a_timeout_with_little_cpu");
    let r = run_with(
        &d,
        Language::Bash,
        "sleep 60",
        LimitRequest {
            wall: wall("2s"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Timeout,
        "{:?}",
        r.detail
    );
    assert!(
        r.usage.cpu_time_ms < 300,
        "cpu time {} ms",
        r.usage.cpu_time_ms
    );
    assert!(
        r.usage.wall_ms >= 1900 && r.usage.wall_ms < 5000,
        "{}",
        r.usage.wall_ms
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forking_past_the_pids_limit_is_recognised() {
    let d = engine!("forking_past_the_pids_limit_is_recognised");
    let code = "for i in $(seq 100); do sleep 5 & done; wait";
    let r = run_with(
        &d,
        Language::Bash,
        code,
        LimitRequest {
            pids: Some(32),
            wall: wall("15s"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Pids,
        "{:?}",
        r.detail
    );
    assert!(
        (24..=32).contains(&r.usage.peak_pids),
        "peak pids {}",
        r.usage.peak_pids
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oom_takes_precedence_over_the_clock() {
    let d = engine!("oom_takes_precedence_over_the_clock");
    // A child is OOM-killed, then the parent sleeps past the deadline:
    // both limits are crossed; the more fundamental cause is reported.
    let code = "import subprocess, time\nsubprocess.run(['python3', '-c', 'x = bytearray(400 << 20)'])\ntime.sleep(60)";
    let r = run_with(
        &d,
        Language::Python,
        code,
        LimitRequest {
            wall: wall("3s"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Oom,
        "{:?}",
        r.detail
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admission_refuses_a_third_concurrent_execution() {
    let d = engine!("admission_refuses_a_third_concurrent_execution");
    let cfg = AdmissionConfig {
        max_concurrent: 2,
        memory_reserve_bytes: 0,
        queue: 0,
        queue_timeout: Duration::from_secs(1),
    };
    let pipeline = Pipeline::new(Arc::new(d.clone()), Arc::new(NoRecorder))
        .with_admission(Admission::new(cfg));
    let runs = (0..3).map(|i| {
        let p = pipeline.clone();
        async move {
            // Stagger so the third arrives while the first two are running.
            tokio::time::sleep(Duration::from_millis(i * 400)).await;
            p.execute(
                Submission::new(Language::Bash, b"sleep 3; echo done".to_vec(), permissive()),
                &mut NullSink,
            )
            .await
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let reasons: Vec<_> = results.iter().map(|r| r.termination_reason).collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| **r == TerminationReason::Exited)
            .count(),
        2,
        "{reasons:?}"
    );
    let refused = results
        .iter()
        .find(|r| r.termination_reason == TerminationReason::HostOverloaded)
        .expect("one refused");
    assert!(
        refused
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("2 executions running"),
        "{:?}",
        refused.detail
    );
    assert_eq!(
        refused.verdict,
        cordon::decide::Verdict::Allow,
        "allowed by policy, then refused by admission"
    );
    assert!(refused.sandbox.is_none(), "nothing started");
}

#[tokio::test(flavor = "multi_thread")]
async fn admission_queue_runs_the_third_after_a_slot_frees() {
    let d = engine!("admission_queue_runs_the_third_after_a_slot_frees");
    let cfg = AdmissionConfig {
        max_concurrent: 2,
        memory_reserve_bytes: 0,
        queue: 4,
        queue_timeout: Duration::from_secs(30),
    };
    let pipeline = Pipeline::new(Arc::new(d.clone()), Arc::new(NoRecorder))
        .with_admission(Admission::new(cfg));
    let runs = (0..3).map(|_| {
        let p = pipeline.clone();
        async move {
            p.execute(
                Submission::new(Language::Bash, b"sleep 1; echo done".to_vec(), permissive()),
                &mut NullSink,
            )
            .await
        }
    });
    let results = futures_util::future::join_all(runs).await;
    for r in &results {
        assert_eq!(
            r.termination_reason,
            TerminationReason::Exited,
            "{:?}",
            r.detail
        );
        assert_eq!(r.stdout, "done\n");
    }
}
