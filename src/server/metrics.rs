//! Prometheus text exposition, written by hand (a handful of series does
//! not need a metrics crate): executions by verdict and termination reason,
//! stage latency histograms, running executions, admission queue depth and
//! pending reviews. Counters live for the process; nothing here is tenant data.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};

use crate::pipeline::ExecutionResult;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    executions: BTreeMap<(String, String), u64>,
    stages: BTreeMap<&'static str, Histogram>,
    http: BTreeMap<u16, u64>,
    rate_limited: u64,
}

/// The process's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub running: usize,
    pub queue_depth: usize,
    pub pending_reviews: i64,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an ended execution and its stage latencies.
    pub fn execution(&self, r: &ExecutionResult) {
        let mut m = self.lock();
        *m.executions
            .entry((
                r.verdict.as_str().into(),
                r.termination_reason.as_str().into(),
            ))
            .or_default() += 1;
        let d = r.durations;
        let mut obs =
            |stage: &'static str, secs: f64| m.stages.entry(stage).or_default().observe(secs);
        obs("analyze", d.analyze_us as f64 / 1e6);
        obs("decide", d.decide_us as f64 / 1e6);
        if r.ran() {
            obs("create", d.create_ms as f64 / 1e3);
            obs("start", d.start_ms as f64 / 1e3);
            obs("run", d.run_ms as f64 / 1e3);
            obs("cleanup", d.cleanup_ms as f64 / 1e3);
        }
        obs("total", d.total_ms as f64 / 1e3);
    }

    /// Counts an answered HTTP request by status.
    pub fn http(&self, status: u16) {
        *self.lock().http.entry(status).or_default() += 1;
    }

    pub fn rate_limited(&self) {
        self.lock().rate_limited += 1;
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self, g: Gauges) -> String {
        let m = self.lock();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP cordon_executions_total Executions ended, by verdict and termination reason."
        );
        let _ = writeln!(out, "# TYPE cordon_executions_total counter");
        for ((verdict, reason), n) in &m.executions {
            let _ = writeln!(
                out,
                "cordon_executions_total{{verdict=\"{verdict}\",reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP cordon_stage_duration_seconds Time spent in each pipeline stage."
        );
        let _ = writeln!(out, "# TYPE cordon_stage_duration_seconds histogram");
        for (stage, h) in &m.stages {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "cordon_stage_duration_seconds_bucket{{stage=\"{stage}\",le=\"{b}\"}} {}",
                    h.counts.get(i).copied().unwrap_or(0)
                );
            }
            let _ = writeln!(
                out,
                "cordon_stage_duration_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "cordon_stage_duration_seconds_sum{{stage=\"{stage}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "cordon_stage_duration_seconds_count{{stage=\"{stage}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP cordon_http_responses_total HTTP responses, by status code."
        );
        let _ = writeln!(out, "# TYPE cordon_http_responses_total counter");
        for (status, n) in &m.http {
            let _ = writeln!(
                out,
                "cordon_http_responses_total{{status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP cordon_rate_limited_total Requests refused by a tenant rate limit."
        );
        let _ = writeln!(out, "# TYPE cordon_rate_limited_total counter");
        let _ = writeln!(out, "cordon_rate_limited_total {}", m.rate_limited);
        let _ = writeln!(
            out,
            "# HELP cordon_executions_running Executions inside a sandbox now."
        );
        let _ = writeln!(out, "# TYPE cordon_executions_running gauge");
        let _ = writeln!(out, "cordon_executions_running {}", g.running);
        let _ = writeln!(
            out,
            "# HELP cordon_admission_queue_depth Executions waiting for host admission."
        );
        let _ = writeln!(out, "# TYPE cordon_admission_queue_depth gauge");
        let _ = writeln!(out, "cordon_admission_queue_depth {}", g.queue_depth);
        let _ = writeln!(
            out,
            "# HELP cordon_reviews_pending Held executions waiting for a reviewer."
        );
        let _ = writeln!(out, "# TYPE cordon_reviews_pending gauge");
        let _ = writeln!(out, "cordon_reviews_pending {}", g.pending_reviews);
        out
    }
}
