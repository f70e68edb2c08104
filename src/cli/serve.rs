//! `cordon serve`: configuration (YAML file, then environment and flags),
//! logging setup, and the call into [`crate::server`]. Nothing else.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::server::config::LogFormat;
use crate::server::{ServerConfig, StartOptions};
use crate::units::{ByteSize, HumanDuration};

#[derive(Debug, Args)]
#[command(
    after_long_help = "Every endpoint except /healthz needs an API key: create one with
`cordon keys create --tenant T --role submitter|reviewer|auditor|admin`.

The server listens on 127.0.0.1 by default and speaks plain HTTP: put a TLS-terminating
proxy in front of it before exposing it beyond the host.

EXAMPLES:
  cordon serve
  cordon serve --config /etc/cordon/serve.yaml --log-format json
  CORDON_LISTEN=127.0.0.1:9000 cordon serve --audit-url postgres://cordon@db/cordon"
)]
pub struct ServeArgs {
    /// YAML configuration file (keys: listen, audit_url, audit_key_file, policies_dir, default_policy,
    /// max_code, max_stdin, review_ttl, shutdown_grace, retain_finished, rate_limits, admission, log_format).
    #[arg(long, short = 'c', env = "CORDON_SERVE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CORDON_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory of <name>.yaml policies (default: ./policies, else the built-in ones).
    #[arg(long, env = "CORDON_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
    /// Policy used when a request names none (default: default).
    #[arg(long, env = "CORDON_DEFAULT_POLICY")]
    default_policy: Option<String>,
    /// Largest accepted code, e.g. 1Mi (larger requests get 413).
    #[arg(long, value_name = "SIZE")]
    max_code: Option<ByteSize>,
    /// Largest accepted program stdin, e.g. 1Mi (larger requests get 413).
    #[arg(long, value_name = "SIZE")]
    max_stdin: Option<ByteSize>,
    /// How long a held execution waits for a reviewer, e.g. 24h.
    #[arg(long, value_name = "DURATION")]
    review_ttl: Option<HumanDuration>,
    /// On SIGTERM/SIGINT, how long running executions may finish before they are killed, e.g. 30s.
    #[arg(long, value_name = "DURATION")]
    shutdown_grace: Option<HumanDuration>,
    /// Log format on stderr.
    #[arg(long, value_enum, env = "CORDON_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Serve even if the isolation self-test fails (logged loudly; never do this in production).
    #[arg(long)]
    allow_failed_self_test: bool,
    #[command(flatten)]
    audit: super::audit::AuditArgs,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<ServerConfig> {
        let mut c = match &self.config {
            Some(p) => ServerConfig::from_file(p)?,
            None => ServerConfig::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = &self.policy_dir {
            c.policies_dir = Some(v.clone());
        }
        if let Some(v) = &self.default_policy {
            c.default_policy = v.clone();
        }
        if let Some(v) = self.max_code {
            c.max_code = v;
        }
        if let Some(v) = self.max_stdin {
            c.max_stdin = v;
        }
        if let Some(v) = self.review_ttl {
            c.review_ttl = v;
        }
        if let Some(v) = self.shutdown_grace {
            c.shutdown_grace = v;
        }
        if let Some(v) = self.log_format {
            c.log_format = v;
        }
        if let Some(v) = &self.audit.audit_url {
            c.audit_url = Some(v.clone());
        }
        if let Some(v) = &self.audit.audit_key_file {
            c.audit_key_file = Some(v.clone());
        }
        Ok(c)
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORDON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub async fn run(a: ServeArgs) -> anyhow::Result<i32> {
    let cfg = a.config()?;
    init_logging(cfg.log_format);
    let opts = StartOptions {
        self_test: true,
        allow_failed_self_test: a.allow_failed_self_test,
    };
    let state = crate::server::prepare(cfg, opts)
        .await
        .context("cordon serve could not start")?;
    crate::server::run_until_signal(state).await?;
    Ok(0)
}
