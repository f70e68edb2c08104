//! `cordon doctor`: run the isolation self-test and print its table.

use clap::Args;

use super::PolicyArgs;
use crate::sandbox::docker::DockerBackend;

#[derive(Debug, Args)]
#[command(
    after_long_help = "Starts one probe container per runtime with the exact hardened spec used for real
work and reads the fence back from inside. Exit code 0 when every required check
passes, 1 when any fails, 2 when the engine cannot be reached."
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
    let report = crate::doctor::self_test(&backend, &policy).await;
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
