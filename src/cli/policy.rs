//! `cordon policy check|show`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;

use super::PolicyArgs;
use crate::policy::Policy;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files; print a summary of each (exit 1 if any is invalid).
    Check {
        /// Policy files to validate.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the effective policy (rule packs merged) and its content hash.
    Show {
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List available policies.
    List {
        /// Directory holding <name>.yaml policies.
        #[arg(long, env = "CORDON_POLICY_DIR")]
        policy_dir: Option<PathBuf>,
    },
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<i32> {
    match cmd {
        PolicyCommand::Check { files } => {
            let mut bad = 0;
            for f in &files {
                match Policy::from_file(f) {
                    Ok(p) => summary(&p),
                    Err(e) => {
                        eprintln!("{e}");
                        bad += 1;
                    }
                }
            }
            Ok(if bad == 0 { 0 } else { 1 })
        }
        PolicyCommand::Show { policy } => {
            let p = policy.load()?;
            println!("# {} from {}\n# hash: {}", p.name(), p.source, p.hash);
            print!("{}", serde_yaml::to_string(&p.doc)?);
            Ok(0)
        }
        PolicyCommand::List { policy_dir } => {
            for name in Policy::available(policy_dir.as_deref()) {
                println!("{name}");
            }
            Ok(0)
        }
    }
}

fn summary(p: &Policy) {
    println!("{}: ok — policy {} ({})", p.source, p.name(), p.hash);
    println!(
        "  enforcement: {:?}, thresholds: review >= {}, deny >= {}",
        p.doc.enforcement, p.doc.thresholds.review, p.doc.thresholds.deny
    );
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for r in &p.rules {
        *per.entry(
            r.rule
                .language
                .map(|l| l.to_string())
                .unwrap_or_else(|| "any".into()),
        )
        .or_default() += 1;
    }
    let counts: Vec<String> = per.iter().map(|(l, n)| format!("{l} {n}")).collect();
    println!("  rules: {} ({})", p.rules.len(), counts.join(", "));
    println!(
        "  {:<11} {:<20} {:>5} {:>7} {:>5} {:>6} {:>8} {:>7} {:>6}",
        "runtime", "image", "cpus", "memory", "pids", "wall", "cpu_time", "output", "tmpfs"
    );
    for (lang, rt) in &p.doc.runtimes {
        let l = rt.limits;
        println!(
            "  {:<11} {:<20} {:>5} {:>7} {:>5} {:>6} {:>8} {:>7} {:>6}",
            lang.as_str(),
            rt.image,
            l.cpus,
            l.memory.to_string(),
            l.pids,
            l.wall.to_string(),
            l.cpu_time.to_string(),
            l.output.to_string(),
            l.tmpfs.to_string()
        );
    }
}
