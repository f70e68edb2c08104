//! Configuration of `cordon serve`: a YAML file (every key optional,
//! unknown keys rejected), then environment variables and flags on top (the
//! CLI applies those). Defaults are the safe ones: loopback only, 1 MiB of
//! code, 5 concurrent executions and 10 creations per hour per tenant.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::units::{ByteSize, HumanDuration};

/// Rate limits of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Executions of this tenant running (or waiting for the host) at once.
    pub concurrent: u32,
    /// Executions this tenant may create per rolling hour.
    pub per_hour: u32,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            concurrent: 5,
            per_hour: 10,
        }
    }
}

/// Rate limits: a default and per-tenant overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    pub default: TenantLimits,
    pub tenants: BTreeMap<String, TenantLimits>,
}

impl RateLimits {
    pub fn for_tenant(&self, tenant: &str) -> TenantLimits {
        self.tenants.get(tenant).copied().unwrap_or(self.default)
    }
}

/// Host admission control of the server (see [`crate::monitor::admission`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionSettings {
    /// Default: 4 per core.
    pub max_concurrent: Option<usize>,
    /// Submissions that may wait for a slot (default 0: refuse at once with 503).
    pub queue: Option<usize>,
    pub queue_timeout: Option<HumanDuration>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything `cordon serve` needs to know.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default: terminate TLS in front.
    pub listen: SocketAddr,
    /// Audit store URL (`sqlite://PATH` or `postgres://...`); the server's
    /// tables live in the same database. Default: as `cordon audit`.
    pub audit_url: Option<String>,
    pub audit_key_file: Option<PathBuf>,
    /// Directory of `<name>.yaml` policies (default: ./policies, else the built-in ones).
    pub policies_dir: Option<PathBuf>,
    /// Policy used when a request names none.
    pub default_policy: String,
    /// Largest accepted `code` (default 1Mi); larger requests get 413.
    pub max_code: ByteSize,
    /// Largest accepted program `stdin` (default 1Mi); larger requests get 413.
    pub max_stdin: ByteSize,
    /// How long a held execution waits for a reviewer.
    pub review_ttl: HumanDuration,
    /// On SIGTERM/SIGINT, how long running executions may finish before they are killed.
    pub shutdown_grace: HumanDuration,
    /// How long finished executions stay in memory for `GET /v1/executions/{id}/events`.
    pub retain_finished: HumanDuration,
    pub rate_limits: RateLimits,
    pub admission: AdmissionSettings,
    pub log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            audit_url: None,
            audit_key_file: None,
            policies_dir: None,
            default_policy: "default".into(),
            max_code: ByteSize(1 << 20),
            max_stdin: ByteSize(1 << 20),
            review_ttl: HumanDuration(Duration::from_secs(24 * 3600)),
            shutdown_grace: HumanDuration(Duration::from_secs(30)),
            retain_finished: HumanDuration(Duration::from_secs(600)),
            rate_limits: RateLimits::default(),
            admission: AdmissionSettings::default(),
            log_format: LogFormat::Text,
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl ServerConfig {
    /// Reads a YAML configuration file.
    pub fn from_file(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    pub fn audit_config(&self) -> crate::audit::AuditConfig {
        crate::audit::AuditConfig {
            url: self.audit_url.clone(),
            key_file: self.audit_key_file.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_overrides_and_rejects_unknown_keys() {
        let c: ServerConfig = serde_yaml::from_str(
            "listen: 127.0.0.1:9000\nmax_code: 64Ki\nrate_limits:\n  tenants:\n    acme: { concurrent: 50, per_hour: 10000 }\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.max_code, ByteSize(64 << 10));
        assert_eq!(c.rate_limits.for_tenant("acme").concurrent, 50);
        assert_eq!(c.rate_limits.for_tenant("other"), TenantLimits::default());
        assert!(serde_yaml::from_str::<ServerConfig>("listne: x\n").is_err());
    }
}
