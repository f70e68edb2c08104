//! `cordon serve`: the HTTP gateway around the pipeline (axum on hyper).
//!
//! Owns the service: startup ([`prepare`]: audit store, server tables,
//! orphan reaping, engine and image checks, isolation self-test), the
//! routes ([`app`]), authentication by API key and tenant scoping
//! ([`auth`]), rate limits ([`limits`]), executions in flight and their
//! event streams ([`exec`]), recovery from engine outages ([`recovery`]),
//! the review queue, metrics, the OpenAPI
//! description generated from the handlers ([`api`]) and graceful shutdown
//! ([`serve`]).
//!
//! It must not analyse, decide, sandbox or write audit records on its own:
//! every submission goes through [`crate::pipeline::Pipeline`], and every
//! record through [`crate::audit::AuditLog`].

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod exec;
pub mod limits;
pub mod metrics;
pub mod recovery;
pub mod store;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::audit::recorder::AuditRecorder;
use crate::audit::AuditLog;
use crate::doctor::DoctorReport;
use crate::monitor::admission::{Admission, AdmissionConfig};
use crate::pipeline::Pipeline;
use crate::policy::Policy;
use crate::sandbox::docker::DockerBackend;
use crate::sandbox::Backend;

pub use api::app;
pub use config::ServerConfig;
use exec::Registry;
use limits::RateLimiter;
use metrics::Metrics;
use store::ServerStore;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error("no policies found (looked in {0})")]
    NoPolicies(String),
    #[error("the default policy {0:?} is not among the loaded policies")]
    NoDefaultPolicy(String),
    #[error(transparent)]
    Engine(#[from] crate::sandbox::SandboxError),
    #[error("isolation self-test failed: {0}; refusing to serve (use --allow-failed-self-test to override)")]
    SelfTest(String),
    #[error("cannot listen: {0}")]
    Listen(#[source] std::io::Error),
}

/// Startup choices that are not configuration.
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    /// Run the isolation self-test (`cordon doctor`) before serving.
    pub self_test: bool,
    /// Serve even if the self-test fails (logged loudly).
    pub allow_failed_self_test: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            self_test: true,
            allow_failed_self_test: false,
        }
    }
}

/// The self-test result kept for `/readyz`.
#[derive(Debug, Clone)]
pub enum SelfTest {
    NotRun,
    Passed,
    Failed(String),
}

pub(crate) struct Inner {
    cfg: ServerConfig,
    audit: AuditLog,
    store: ServerStore,
    pipeline: Pipeline,
    docker: DockerBackend,
    policies: BTreeMap<String, Arc<Policy>>,
    registry: Registry,
    limiter: RateLimiter,
    metrics: Metrics,
    admission: Arc<Admission>,
    self_test: Mutex<SelfTest>,
    engine: recovery::EngineHealth,
    shutdown: CancellationToken,
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("listen", &self.0.cfg.listen)
            .field("policies", &self.0.policies.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AppState {
    pub fn config(&self) -> &ServerConfig {
        &self.0.cfg
    }
    pub fn audit(&self) -> &AuditLog {
        &self.0.audit
    }
    pub fn store(&self) -> &ServerStore {
        &self.0.store
    }
    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }
    /// Whether shutdown has begun (new executions are refused).
    pub fn draining(&self) -> bool {
        self.0.shutdown.is_cancelled()
    }
}

/// Loads every policy the server offers, by name.
pub fn load_policies(cfg: &ServerConfig) -> Result<BTreeMap<String, Arc<Policy>>, StartError> {
    let dir = cfg.policies_dir.as_deref();
    let mut out = BTreeMap::new();
    for name in Policy::available(dir) {
        let p = Policy::resolve(&name, dir)?;
        out.insert(name, Arc::new(p));
    }
    if out.is_empty() {
        return Err(StartError::NoPolicies(
            dir.map(|d| d.display().to_string())
                .unwrap_or_else(|| "./policies and the built-in ones".into()),
        ));
    }
    if !out.contains_key(&cfg.default_policy) {
        return Err(StartError::NoDefaultPolicy(cfg.default_policy.clone()));
    }
    Ok(out)
}

/// The startup sequence, in order: open (and migrate) the audit store, which
/// also marks executions of a crashed cordon `interrupted`; create the server
/// tables; connect to the engine and remove containers a crash left behind
/// (recording each reap); check every policy image; run the isolation
/// self-test. Only then is the state handed to [`serve`].
pub async fn prepare(cfg: ServerConfig, opts: StartOptions) -> Result<AppState, StartError> {
    let policies = load_policies(&cfg)?;
    let audit = AuditLog::open(&cfg.audit_config()).await?;
    let url = cfg.audit_config().resolved_url()?;
    let store = ServerStore::open(&url).await?;
    let docker = DockerBackend::connect().await?;

    recovery::reap_orphans(&docker, &audit, "removed at server startup").await?;
    audit.flush().await?;

    for p in policies.values() {
        for rt in p.doc.runtimes.values() {
            docker.preflight_image(&rt.image).await?;
        }
    }

    let mut self_test = SelfTest::NotRun;
    if opts.self_test {
        let mut failures = Vec::new();
        // Every image any policy can run is checked, through the default policy's limits.
        let mut tested = std::collections::BTreeSet::new();
        for p in policies.values() {
            let images: Vec<String> = p.doc.runtimes.values().map(|r| r.image.clone()).collect();
            if images.iter().all(|i| tested.contains(i)) {
                continue;
            }
            tested.extend(images);
            let report: DoctorReport = crate::doctor::self_test(&docker, p).await;
            if !report.passed() {
                for c in report.failures() {
                    failures.push(format!("{}: {} ({})", c.scope, c.name, c.detail));
                }
            }
        }
        if failures.is_empty() {
            tracing::info!("isolation self-test passed");
            self_test = SelfTest::Passed;
        } else if opts.allow_failed_self_test {
            let why = failures.join("; ");
            tracing::error!(failures = %why, "ISOLATION SELF-TEST FAILED; serving anyway because --allow-failed-self-test was given");
            self_test = SelfTest::Failed(why);
        } else {
            return Err(StartError::SelfTest(failures.join("; ")));
        }
    }
    Ok(build_state(cfg, audit, store, docker, policies, self_test))
}

/// Assembles the state from opened parts.
pub fn build_state(
    cfg: ServerConfig,
    audit: AuditLog,
    store: ServerStore,
    docker: DockerBackend,
    policies: BTreeMap<String, Arc<Policy>>,
    self_test: SelfTest,
) -> AppState {
    let registry = Registry::default();
    let mut acfg = AdmissionConfig::for_host();
    if let Some(m) = cfg.admission.max_concurrent {
        acfg.max_concurrent = m;
    }
    if let Some(q) = cfg.admission.queue {
        acfg.queue = q;
    }
    if let Some(t) = cfg.admission.queue_timeout {
        acfg.queue_timeout = t.0;
    }
    let admission = Admission::new(acfg);
    let recorder = exec::ServerRecorder {
        inner: Arc::new(AuditRecorder::new(audit.clone())),
        registry: registry.clone(),
        audit: audit.clone(),
    };
    let backend: Arc<dyn Backend> = Arc::new(docker.clone());
    let pipeline = Pipeline::new(backend, Arc::new(recorder)).with_admission(admission.clone());
    let limiter = RateLimiter::new(cfg.rate_limits.clone());
    AppState(Arc::new(Inner {
        cfg,
        audit,
        store,
        pipeline,
        docker,
        policies,
        registry,
        limiter,
        metrics: Metrics::default(),
        admission,
        self_test: Mutex::new(self_test),
        engine: recovery::EngineHealth::default(),
        shutdown: CancellationToken::new(),
    }))
}

/// Serves on `listener` until `shutdown` resolves, then drains: stops
/// accepting, refuses new executions, lets running ones finish within the
/// configured grace, cancels the rest (they end `interrupted`), flushes and
/// closes the audit log.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    let token = state.0.shutdown.clone();
    tokio::spawn({
        let token = token.clone();
        async move {
            shutdown.await;
            token.cancel();
        }
    });
    let housekeeping = tokio::spawn(api::housekeeping(state.clone()));
    let watcher = tokio::spawn(recovery::watch_engine(state.clone()));
    let router = app(state.clone());
    let server = axum::serve(listener, router).with_graceful_shutdown({
        let token = token.clone();
        async move { token.cancelled().await }
    });
    let server = tokio::spawn(async move { server.await });

    token.cancelled().await;
    tracing::info!("shutdown requested: no new executions; waiting for running ones");
    drain(&state).await;
    housekeeping.abort();
    watcher.abort();
    // Open event streams end with their executions; give idle connections a moment.
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(r)) => r?,
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!("connections still open after shutdown; closing them"),
    }
    if let Err(e) = state.0.audit.close().await {
        tracing::error!(error = %e, "the audit log did not flush cleanly");
    }
    state.0.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn drain(state: &AppState) {
    let grace = state.0.cfg.shutdown_grace.0;
    let deadline = tokio::time::Instant::now() + grace;
    for e in state.0.registry.active() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        e.wait_for(left, |s| s.done).await;
    }
    let rest = state.0.registry.active();
    if !rest.is_empty() {
        tracing::warn!(
            count = rest.len(),
            "grace period over: cancelling running executions"
        );
    }
    for e in &rest {
        e.cancel.cancel();
    }
    for e in rest {
        let span = tracing::info_span!("execution", execution_id = %e.id);
        e.wait_for(Duration::from_secs(15), |s| s.done)
            .instrument(span)
            .await;
    }
}

/// Serves on the configured address until SIGTERM or SIGINT.
pub async fn run_until_signal(state: AppState) -> Result<(), StartError> {
    let listener = TcpListener::bind(state.0.cfg.listen)
        .await
        .map_err(StartError::Listen)?;
    tracing::info!(address = %listener.local_addr().map_err(StartError::Listen)?, "listening");
    eprintln!(
        "cordon: listening on http://{}",
        listener.local_addr().map_err(StartError::Listen)?
    );
    serve(listener, state, shutdown_signal())
        .await
        .map_err(StartError::Listen)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
