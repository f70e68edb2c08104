//! `cordon images build|list`: the offline image recipe is built into the
//! binary (the script and Dockerfiles from `images/`), written to a private
//! temporary directory and run there, so an installed `cordon` can build
//! its images on a machine without the source tree or a registry.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context;
use clap::Subcommand;

const RECIPE: &[(&str, &str)] = &[
    ("build.sh", include_str!("../../images/build.sh")),
    (
        "python/Dockerfile",
        include_str!("../../images/python/Dockerfile"),
    ),
    (
        "node/Dockerfile",
        include_str!("../../images/node/Dockerfile"),
    ),
    (
        "bash/Dockerfile",
        include_str!("../../images/bash/Dockerfile"),
    ),
];

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build cordon/python:3.11, cordon/node:18 and cordon/bash:5 (skips images whose recipe is unchanged).
    ///
    /// Without a registry, a minimal Debian base is made with debootstrap from the
    /// configured apt mirror (about two minutes the first time). Set
    /// CORDON_BASE_PYTHON / CORDON_BASE_NODE / CORDON_BASE_BASH to an upstream image
    /// (e.g. python:3.12-slim) to harden that instead.
    Build {
        /// Which images: all, python, node, bash.
        #[arg(default_value = "all")]
        which: Vec<String>,
        /// Rebuild even when the recipe is unchanged.
        #[arg(long)]
        force: bool,
    },
    /// Show whether each runtime image is present and its recipe hash.
    List,
}

pub async fn run(cmd: ImagesCommand) -> anyhow::Result<i32> {
    match cmd {
        ImagesCommand::Build { which, force } => build(&which, force),
        ImagesCommand::List => list().await,
    }
}

fn build(which: &[String], force: bool) -> anyhow::Result<i32> {
    for w in which {
        anyhow::ensure!(
            matches!(w.as_str(), "all" | "python" | "node" | "bash"),
            "unknown image {w:?}: expected all, python, node or bash"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("cordon-images-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    for (path, text) in RECIPE {
        let p = dir.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(dir.path().join("build.sh")).args(which);
    if force {
        cmd.arg("--force");
    }
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot run bash {}", Path::new("build.sh").display()))?;
    Ok(if status.success() {
        0
    } else {
        status.code().unwrap_or(1).max(1)
    })
}

async fn list() -> anyhow::Result<i32> {
    let backend = crate::sandbox::docker::DockerBackend::connect().await?;
    let mut missing = 0;
    for image in ["cordon/python:3.11", "cordon/node:18", "cordon/bash:5"] {
        match backend.image_info(image).await {
            Ok((id, labels)) => println!(
                "{image:<20} {} recipe {}",
                id.chars().take(19).collect::<String>(),
                labels
                    .get("dev.cordon.recipe-hash")
                    .map(|h| h.chars().take(12).collect::<String>())
                    .unwrap_or_else(|| "-".into())
            ),
            Err(e) => {
                missing += 1;
                println!("{image:<20} missing: {e}");
            }
        }
    }
    Ok(if missing == 0 { 0 } else { 1 })
}
