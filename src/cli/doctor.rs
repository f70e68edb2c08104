//! `cordon doctor`: run the isolation self-test and print its table.

use clap::Args;

use super::PolicyArgs;
use crate::sandbox::docker::DockerBackend;

#[derive(Debug, Args)]
#[command(
    after_long_help = "Starts one probe container per runtime with the exact hardened spec used for real
work and reads the fence back from inside. Exit code 0 when every required check
passes, 1 when any fails, 2 when the engine cannot be reached, 129 when interrupted.
Also reports whether the engine runs rootless or with user-namespace remapping
(informational)."
)]
pub struct DoctorArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(a: DoctorArgs) -> anyhow::Result<i32> {
    let policy = a.policy.load()?;
    let backend = match DockerBackend::connect().await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cordon: doctor: {e}");
            return Ok(2);
        }
    };
    let stop = super::signals::cancel_on_signal()?;
    let mut report = crate::doctor::self_test_until(&backend, &policy, stop.clone()).await;
    report
        .checks
        .extend(crate::doctor::engine_checks(&backend).await);
    if stop.is_cancelled() {
        eprintln!("cordon: doctor: interrupted; the probe sandbox was removed");
        return Ok(super::run::EXIT_INTERRUPTED);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
        if report.passed() {
            println!(
                "isolation self-test passed ({} checks)",
                report.checks.len()
            );
        } else {
            println!("isolation self-test FAILED: {} check(s) failed; do not run untrusted code on this host", report.failures().len());
        }
    }
    Ok(if report.passed() { 0 } else { 1 })
}
