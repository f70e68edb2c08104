//! The command line: argument parsing and presentation only. Every command
//! calls into the library; errors carry context here (anyhow) and are
//! printed with their whole chain as `cordon: ...`.

mod analyze;
pub mod audit;
mod bench;
mod doctor;
mod images;
mod keys;
mod leftovers;
mod policy;
mod run;
mod serve;
mod signals;

use clap::{Parser, Subcommand};

/// cordon: vet, sandbox, monitor and audit code you did not write.
///
/// Every submission is analysed against a YAML policy, denied or held if
/// the policy says so, otherwise run in a locked-down container (read-only
/// rootfs, no capabilities, no network, non-root, limited CPU, memory, PIDs,
/// time and output), and every step is written to a tamper-evident audit log.
#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse, decide and, if allowed, run code in the sandbox.
    Run(run::RunArgs),
    /// Analyse code against a policy without running it.
    Analyze(analyze::AnalyzeArgs),
    /// Validate and inspect policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Build the runtime images offline (idempotent).
    #[command(subcommand)]
    Images(images::ImagesCommand),
    /// Check that the sandbox fence holds on this host (isolation self-test).
    Doctor(doctor::DoctorArgs),
    /// Query, verify, export and prune the audit log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
        #[command(flatten)]
        args: audit::AuditArgs,
    },
    /// Measure performance against raw docker run, host python3 and Bandit, in one run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run the HTTP gateway (see `cordon keys` for API keys).
    Serve(serve::ServeArgs),
    /// Create, list and revoke API keys of `cordon serve`.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
        #[command(flatten)]
        args: audit::AuditArgs,
    },
}

/// Exit code for errors before anything ran (bad arguments, unreadable
/// input, invalid policy).
pub const EXIT_USAGE: i32 = 120;

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // `serve` sets up its own logging (level info, optional JSON).
    if !matches!(cli.command, Command::Serve(_)) {
        init_tracing();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cordon: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(a) => run::run(a).await,
            Command::Analyze(a) => analyze::run(a),
            Command::Policy(c) => policy::run(c),
            Command::Images(c) => images::run(c).await,
            Command::Bench(c) => bench::run(c).await,
            Command::Doctor(a) => doctor::run(a).await,
            Command::Audit { command, args } => audit::run(command, &args).await,
            Command::Serve(a) => serve::run(a).await,
            Command::Keys { command, args } => keys::run(command, &args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cordon: {e:#}");
            EXIT_USAGE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORDON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reads a file, or `-` (stdin).
pub(crate) fn read_input(path: &str) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    use std::io::Read;
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {path}"))
    }
}

/// Policy selection shared by commands.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PolicyArgs {
    /// Policy name (looked up in --policy-dir, ./policies, or the built-in ones) or path to a policy file.
    #[arg(long, short = 'p', env = "CORDON_POLICY", default_value = "default")]
    pub policy: String,
    /// Directory holding <name>.yaml policies and their rule packs.
    #[arg(long, env = "CORDON_POLICY_DIR")]
    pub policy_dir: Option<std::path::PathBuf>,
}

impl PolicyArgs {
    pub fn load(&self) -> anyhow::Result<cordon_policy::Policy> {
        Ok(cordon_policy::Policy::resolve(
            &self.policy,
            self.policy_dir.as_deref(),
        )?)
    }
}

use crate::policy as cordon_policy;
