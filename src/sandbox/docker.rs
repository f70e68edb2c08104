//! The Docker backend (bollard). The run path reads top to bottom: check the
//! image, create, attach, start, deliver the code over stdin, watch the
//! output, the clock and the cgroup until the program ends or a limit kills
//! it, inspect, remove. A guard removes the container on every early exit,
//! and [`DockerBackend::reap_orphans`] removes what a crash left behind.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{
    ms, Backend, CancelToken, Durations, OutputSink, Program, RunOutcome, SandboxError,
    SandboxSpec, Stream, TerminationReason, Usage, EXECUTION_LABEL,
};
use crate::monitor::{ResourceMonitor, DEFAULT_INTERVAL};

/// How long an engine call may take before the engine counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Usage snapshots go to the sink every this many monitor ticks.
const USAGE_EVERY_TICKS: u64 = 5;
/// After a kill, how long to wait for the output stream to close.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(3);

/// A Docker engine reached through `DOCKER_HOST` or the default socket.
#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
    endpoint: String,
    monitor_interval: Duration,
}

fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl DockerBackend {
    /// Whether the engine's event log holds an `oom` event for `container`
    /// since `since`, waiting about a second for one still on its way. The
    /// run path asks this when a program died of a SIGKILL nobody here sent
    /// and neither the container state nor the cgroup counter explain it.
    pub async fn engine_reported_oom(&self, container: &str, since: std::time::SystemTime) -> bool {
        engine_reported_oom(
            &self.docker,
            container,
            unix_seconds(since).saturating_sub(1),
        )
        .await
    }

    /// Connects and negotiates the API version; fails closed with a message
    /// naming the endpoint when the engine does not answer.
    pub async fn connect() -> Result<DockerBackend, SandboxError> {
        let endpoint = endpoint();
        let connect_err = |message: String| SandboxError::Connect {
            endpoint: endpoint.clone(),
            message,
        };
        let docker =
            Docker::connect_with_local_defaults().map_err(|e| connect_err(e.to_string()))?;
        let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(connect_err(e.to_string())),
            Err(_) => {
                return Err(connect_err(format!(
                    "no answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        // negotiate_version can succeed without a round trip on some transports; ping to be sure.
        match tokio::time::timeout(CONNECT_TIMEOUT, docker.ping()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(connect_err(e.to_string())),
            Err(_) => {
                return Err(connect_err(format!(
                    "no answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
        }
        Ok(DockerBackend {
            docker,
            endpoint,
            monitor_interval: DEFAULT_INTERVAL,
        })
    }

    /// Sets how often the monitor samples the cgroup.
    pub fn with_monitor_interval(mut self, interval: Duration) -> Self {
        self.monitor_interval = interval.max(Duration::from_millis(5));
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The image's id and its labels, or `ImageMissing`.
    pub async fn image_info(
        &self,
        image: &str,
    ) -> Result<(String, HashMap<String, String>), SandboxError> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok((
                i.id.unwrap_or_default(),
                i.config.and_then(|c| c.labels).unwrap_or_default(),
            )),
            Err(e) if is_not_found(&e) => Err(SandboxError::ImageMissing {
                image: image.to_string(),
            }),
            Err(source) => Err(SandboxError::InspectImage {
                image: image.to_string(),
                source,
            }),
        }
    }

    /// Fails with `ImageMissing` unless `image` is present.
    pub async fn preflight_image(&self, image: &str) -> Result<(), SandboxError> {
        self.image_info(image).await.map(|_| ())
    }

    /// Containers carrying the cordon label: `(container id, execution id)`.
    pub async fn labelled_containers(&self) -> Result<Vec<(String, String)>, SandboxError> {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![EXECUTION_LABEL.to_string()]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|source| SandboxError::List { source })?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let exec = c.labels.as_ref()?.get(EXECUTION_LABEL)?.clone();
                Some((c.id?, exec))
            })
            .collect())
    }

    /// Force-removes every cordon container (left by a crash); returns the
    /// execution ids they belonged to, so the caller can audit them as interrupted.
    pub async fn reap_orphans(&self) -> Result<Vec<String>, SandboxError> {
        let mut reaped = Vec::new();
        for (id, exec) in self.labelled_containers().await? {
            remove(&self.docker, &id).await;
            reaped.push(exec);
        }
        Ok(reaped)
    }

    /// Force-removes the containers of these executions (left by a cordon
    /// process that died); returns the execution ids whose container was
    /// removed. Containers of other executions are left alone.
    pub async fn remove_containers_of(
        &self,
        executions: &[String],
    ) -> Result<Vec<String>, SandboxError> {
        let mut removed = Vec::new();
        for (id, exec) in self.labelled_containers().await? {
            if executions.contains(&exec) {
                remove(&self.docker, &id).await;
                removed.push(exec);
            }
        }
        Ok(removed)
    }

    async fn run_inner(
        &self,
        spec: &SandboxSpec,
        program: Program<'_>,
        sink: &mut dyn OutputSink,
        cancel: CancelToken,
    ) -> Result<RunOutcome, SandboxError> {
        let Program { code, stdin, ready } = program;
        // Without the split command the runtime would read stdin as more code.
        if !stdin.is_empty() && !spec.has_program_stdin() {
            return Err(SandboxError::Spec(super::spec::SpecError::Limit {
                field: "stdin",
                message: "the spec was not made for a program with stdin".into(),
            }));
        }
        let docker = &self.docker;
        let image = spec.image().to_string();
        let t0 = Instant::now();

        // 1-3 run while `ready` (the durable start record) is driven beside
        // them: the audit commit overlaps creation instead of preceding it.
        let prepare = async {
            // 1. The image must exist locally: there is no registry to pull from,
            //    and a missing image is a setup problem with a known fix.
            let (image_id, _) = self.image_info(&image).await?;

            // 2. Create with the hardened spec, the only translation there is.
            let name = format!("cordon-{}", spec.execution_id());
            let created = docker
                .create_container(
                    Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                    spec.to_docker(),
                )
                .await
                .map_err(|source| {
                    if is_not_found(&source) {
                        SandboxError::ImageMissing {
                            image: image.clone(),
                        }
                    } else {
                        SandboxError::CreateContainer {
                            image: image.clone(),
                            source,
                        }
                    }
                })?;
            let id = created.id;
            // From here on, every exit path removes the container.
            let guard = Guard {
                docker: docker.clone(),
                id: Some(id.clone()),
            };
            let t_created = Instant::now();

            // 3. Attach before start so no output is lost and stdin is ready.
            let attach_opts = AttachContainerOptionsBuilder::default()
                .stdin(true)
                .stdout(true)
                .stderr(true)
                .stream(true)
                .logs(false)
                .build();
            let attach = docker
                .attach_container(&id, Some(attach_opts))
                .await
                .map_err(|source| SandboxError::Attach {
                    id: id.clone(),
                    source,
                })?;
            Ok::<_, SandboxError>((image_id, id, guard, t_created, attach.output, attach.input))
        };
        let (prepared, ready) = tokio::join!(prepare, ready);
        let (image_id, id, mut guard, t_created, mut output, mut input) = prepared?;
        // Not recorded, not started: the guard removes the created container.
        ready.map_err(SandboxError::NotRecorded)?;
        // Interrupted while the sandbox was being set up: nothing starts,
        // and the created container goes now rather than after a kill.
        if cancel.is_cancelled() {
            guard.remove_now().await;
            return Ok(RunOutcome {
                container_id: id,
                exit_code: None,
                reason: TerminationReason::Interrupted,
                detail: Some("interrupted before the program started".into()),
                stdout: Vec::new(),
                stderr: Vec::new(),
                stdout_truncated: false,
                stderr_truncated: false,
                usage: Usage::default(),
                image_id,
                durations_ms: Durations {
                    create_ms: ms(t_created - t0),
                    ..Durations::default()
                },
            });
        }

        // 4. Start.
        docker
            .start_container(&id, None)
            .await
            .map_err(|source| SandboxError::Start {
                id: id.clone(),
                source,
            })?;
        let t_started = Instant::now();
        let started_at_unix = unix_seconds(std::time::SystemTime::now()).saturating_sub(1);
        let deadline = tokio::time::Instant::now() + spec.wall();

        // 5. Deliver the code (then the program's stdin, if any) over stdin, then
        //    half-close so the runtime sees EOF. Written from its own task so a
        //    program that prints before it has read all its input cannot
        //    deadlock against us.
        let code = code.to_vec();
        let stdin = stdin.to_vec();
        let mut writer = tokio::spawn(async move {
            input.write_all(&code).await?;
            if !stdin.is_empty() {
                input.write_all(&stdin).await?;
            }
            input.flush().await?;
            input.shutdown().await
        });
        let mut writer_done = false;

        // 6. Watch output, clock and cgroup until the stream closes.
        let mut monitor = ResourceMonitor::for_container(&id, spec.cpu_time());
        let mut tick = tokio::time::interval(self.monitor_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let cap = spec.output_bytes() as usize;
        let mut out = Capture::new(cap);
        let mut err = Capture::new(cap);
        let mut kill: Option<(TerminationReason, String)> = None;
        let mut delivery_error: Option<std::io::Error> = None;
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                item = output.next() => match item {
                    Some(Ok(LogOutput::StdOut { message })) => out.push(Stream::Stdout, &message, sink),
                    Some(Ok(LogOutput::StdErr { message })) | Some(Ok(LogOutput::Console { message })) => err.push(Stream::Stderr, &message, sink),
                    Some(Ok(LogOutput::StdIn { .. })) => {}
                    Some(Err(_)) | None => break,
                },
                res = &mut writer, if !writer_done => {
                    writer_done = true;
                    match res {
                        Ok(Ok(())) => {}
                        // The program may exit before reading everything; only a
                        // failure while it is still running is a delivery failure.
                        Ok(Err(e)) => delivery_error = Some(e),
                        Err(join) => delivery_error = Some(std::io::Error::other(join.to_string())),
                    }
                }
                _ = tokio::time::sleep_until(deadline), if kill.is_none() => {
                    kill = Some((TerminationReason::Timeout, format!("timeout after {}", crate::units::HumanDuration(spec.wall()))));
                    kill_in_background(docker, &id);
                }
                _ = cancel.cancelled(), if kill.is_none() => {
                    kill = Some((TerminationReason::Interrupted, "cancelled while running".to_string()));
                    kill_in_background(docker, &id);
                }
                _ = tick.tick(), if kill.is_none() => {
                    let usage = monitor.sample();
                    ticks += 1;
                    if ticks.is_multiple_of(USAGE_EVERY_TICKS) {
                        sink.usage(&Usage { wall_ms: ms(t_started.elapsed()), ..usage });
                    }
                    if let Some(k) = monitor.check() {
                        kill = Some(k);
                        kill_in_background(docker, &id);
                    }
                }
            }
            if kill.is_none() && (out.flooded() || err.flooded()) {
                kill = Some((
                    TerminationReason::OutputLimit,
                    format!(
                        "output exceeded twice the {} cap",
                        crate::units::ByteSize(cap as u64)
                    ),
                ));
                kill_in_background(docker, &id);
            }
            if kill.is_some() {
                // Drain what is left, but do not wait forever for a stream the engine keeps open.
                let _ = tokio::time::timeout(DRAIN_AFTER_KILL, async {
                    while let Some(Ok(item)) = output.next().await {
                        match item {
                            LogOutput::StdOut { message } => {
                                out.push(Stream::Stdout, &message, sink)
                            }
                            LogOutput::StdErr { message } => {
                                err.push(Stream::Stderr, &message, sink)
                            }
                            _ => {}
                        }
                    }
                })
                .await;
                break;
            }
        }
        if !writer_done {
            writer.abort();
        }
        let t_ended = Instant::now();
        // One more sample while the cgroup most likely still exists: the
        // kernel's OOM counter there is the first witness of an OOM kill.
        monitor.sample();

        // 7. Inspect: exit code and the kernel's verdict on memory.
        let state = wait_exited(docker, &id).await?;
        let usage = {
            let mut u = monitor.sample();
            u.wall_ms = ms(t_ended - t_started);
            u
        };
        let exit_code = state.exit_code;
        let mut oom = state.oom_killed.unwrap_or(false) || monitor.oom_killed();
        if !oom && kill.is_none() && exit_code == Some(SIGKILL_EXIT) {
            // Killed by SIGKILL and nobody here sent it: ask the engine whether
            // its (asynchronous) OOM event arrived late.
            oom = engine_reported_oom(docker, &id, started_at_unix).await;
        }
        let pids_hit = monitor.pids_limit_hit();
        // The in-sandbox deadline fired before cordon's own one was seen
        // (a stalled engine call or a busy host): still a timeout.
        let kill = kill.or_else(|| {
            (exit_code == Some(super::spec::DEADLINE_EXIT) && ran_past_wall(&state, spec)).then(
                || {
                    (
                        TerminationReason::Timeout,
                        format!(
                            "timeout after {} (killed by the in-sandbox deadline)",
                            crate::units::HumanDuration(spec.wall())
                        ),
                    )
                },
            )
        });
        let (reason, detail) = settle_reason(kill, oom, pids_hit, spec);
        let (reason, detail) = match (reason, delivery_error) {
            (TerminationReason::Exited, Some(e)) if exit_code != Some(0) => (
                TerminationReason::EngineError,
                Some(format!("code delivery failed: {e}")),
            ),
            (r, _) => (r, detail),
        };

        // 8. Remove.
        let t_rm = Instant::now();
        guard.remove_now().await;
        let durations = Durations {
            create_ms: ms(t_created - t0),
            start_ms: ms(t_started - t_created),
            run_ms: ms(t_ended - t_started),
            cleanup_ms: ms(t_rm.elapsed()),
        };
        Ok(RunOutcome {
            container_id: id,
            exit_code,
            reason,
            detail,
            stdout_truncated: out.truncated,
            stderr_truncated: err.truncated,
            stdout: out.kept,
            stderr: err.kept,
            usage,
            image_id,
            durations_ms: durations,
        })
    }
}

/// Whether the engine saw the container run for at least the wall limit
/// (its own start and finish times, so a slow `start` call does not count).
fn ran_past_wall(state: &bollard::models::ContainerState, spec: &SandboxSpec) -> bool {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    match (parse(&state.started_at), parse(&state.finished_at)) {
        (Some(start), Some(end)) => (end - start).to_std().is_ok_and(|ran| ran >= spec.wall()),
        _ => false,
    }
}

/// One termination reason, by precedence: oom > pids > cpu_time > timeout > output_limit.
fn settle_reason(
    kill: Option<(TerminationReason, String)>,
    oom: bool,
    pids_hit: bool,
    spec: &SandboxSpec,
) -> (TerminationReason, Option<String>) {
    let mut candidates: Vec<(TerminationReason, String)> = Vec::new();
    if oom {
        candidates.push((
            TerminationReason::Oom,
            format!(
                "out of memory at the {} limit",
                crate::units::ByteSize(spec.memory_bytes())
            ),
        ));
    }
    if pids_hit {
        candidates.push((
            TerminationReason::Pids,
            format!("process limit of {} reached", spec.pids()),
        ));
    }
    if let Some(k) = kill {
        candidates.push(k);
    }
    candidates
        .into_iter()
        .max_by_key(|(r, _)| r.precedence())
        .map(|(r, d)| (r, Some(d)))
        .unwrap_or((TerminationReason::Exited, None))
}

/// Output kept up to the cap; the rest is counted, not stored.
struct Capture {
    cap: usize,
    kept: Vec<u8>,
    seen: usize,
    truncated: bool,
}

impl Capture {
    fn new(cap: usize) -> Self {
        Capture {
            cap,
            kept: Vec::new(),
            seen: 0,
            truncated: false,
        }
    }

    fn push(&mut self, stream: Stream, bytes: &[u8], sink: &mut dyn OutputSink) {
        self.seen = self.seen.saturating_add(bytes.len());
        let room = self.cap.saturating_sub(self.kept.len());
        let take = room.min(bytes.len());
        if take > 0 {
            self.kept.extend_from_slice(&bytes[..take]);
            sink.chunk(stream, &bytes[..take]);
        }
        if take < bytes.len() {
            self.truncated = true;
        }
    }

    /// Far past the cap: the program is flooding, not just chatty.
    fn flooded(&self) -> bool {
        self.seen > self.cap.saturating_mul(2)
    }
}

async fn kill_container(docker: &Docker, id: &str) {
    let opts = KillContainerOptionsBuilder::default()
        .signal("SIGKILL")
        .build();
    // Already-exited containers answer 409; the outcome is the same.
    let _ = docker.kill_container(id, Some(opts)).await;
}

/// Sends the kill from its own task. The engine only finishes a kill once
/// the container's output is flushed to the attach stream, so the caller
/// must keep reading that stream meanwhile: awaiting the kill inline
/// deadlocks against a program that floods its output.
fn kill_in_background(docker: &Docker, id: &str) {
    let docker = docker.clone();
    let id = id.to_string();
    tokio::spawn(async move { kill_container(&docker, &id).await });
}

async fn remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let _ = docker.remove_container(id, Some(opts)).await;
}

/// Inspects until the container is no longer running (the attach stream can
/// close a moment before the engine records the exit).
/// Exit status of a process killed by SIGKILL (128 + 9).
const SIGKILL_EXIT: i64 = 137;

/// How long to wait for a late OOM event from the engine.
const OOM_EVENT_GRACE: Duration = Duration::from_secs(1);

fn unix_seconds(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether the engine logged an `oom` event for container `id` since
/// `since` (unix seconds), waiting up to [`OOM_EVENT_GRACE`] for one still
/// on its way. Docker 20.10 can process the OOM after the exit, leaving
/// `OOMKilled` false in the container state; its event log still has it.
async fn engine_reported_oom(docker: &Docker, id: &str, since: u64) -> bool {
    let until = unix_seconds(std::time::SystemTime::now() + OOM_EVENT_GRACE) + 1;
    let filters = HashMap::from([
        ("container".to_string(), vec![id.to_string()]),
        ("event".to_string(), vec!["oom".to_string()]),
    ]);
    let options = bollard::query_parameters::EventsOptionsBuilder::new()
        .since(&since.to_string())
        .until(&until.to_string())
        .filters(&filters)
        .build();
    let mut events = docker.events(Some(options));
    matches!(
        tokio::time::timeout(OOM_EVENT_GRACE, events.next()).await,
        Ok(Some(Ok(_)))
    )
}

async fn wait_exited(
    docker: &Docker,
    id: &str,
) -> Result<bollard::models::ContainerState, SandboxError> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let info =
            docker
                .inspect_container(id, None)
                .await
                .map_err(|source| SandboxError::Inspect {
                    id: id.to_string(),
                    source,
                })?;
        let state = info.state.unwrap_or_default();
        if !state.running.unwrap_or(false) || Instant::now() > until {
            if state.running.unwrap_or(false) {
                kill_container(docker, id).await;
            }
            return Ok(state);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Removes the container when dropped, unless already removed.
struct Guard {
    docker: Docker,
    id: Option<String>,
}

impl Guard {
    async fn remove_now(&mut self) {
        if let Some(id) = self.id.take() {
            remove(&self.docker, &id).await;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let docker = self.docker.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { remove(&docker, &id).await });
            }
        }
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn run<'a>(
        &'a self,
        spec: &'a SandboxSpec,
        program: Program<'a>,
        sink: &'a mut dyn OutputSink,
        cancel: CancelToken,
    ) -> BoxFuture<'a, Result<RunOutcome, SandboxError>> {
        Box::pin(self.run_inner(spec, program, sink, cancel))
    }

    fn preflight<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move { self.image_info(image).await.map(|_| ()) })
    }
}
