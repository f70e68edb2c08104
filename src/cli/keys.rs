//! `cordon keys create|list|revoke`: API keys of `cordon serve`, stored (as
//! hashes only) next to the audit log. The secret is printed once, at creation.

use anyhow::Context;
use clap::Subcommand;

use crate::server::store::{Role, ServerStore};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints the secret once (only its hash is stored).
    Create {
        /// Tenant the key belongs to ('*' for an auditor or admin of every tenant).
        #[arg(long)]
        tenant: String,
        /// submitter | reviewer | auditor | admin
        #[arg(long)]
        role: String,
        /// A note to recognise the key by in `keys list`.
        #[arg(long)]
        label: Option<String>,
        /// Print a JSON object instead of the bare key.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never the secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id: it stops working at once.
    Revoke {
        /// Key id (from `keys list`).
        id: String,
    },
}

pub async fn run(c: KeysCommand, audit: &super::audit::AuditArgs) -> anyhow::Result<i32> {
    let url = audit.config().resolved_url()?;
    let store = ServerStore::open(&url)
        .await
        .context("cannot open the key store (the audit database)")?;
    let code = match c {
        KeysCommand::Create {
            tenant,
            role,
            label,
            json,
        } => {
            let role: Role = role.parse()?;
            let created = store.create_key(&tenant, role, label.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                eprintln!(
                    "cordon: created key {} (tenant {}, role {}); it is shown only this once:",
                    created.key.id, created.key.tenant, created.key.role
                );
                println!("{}", created.secret);
            }
            0
        }
        KeysCommand::List { json } => {
            let keys = store.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!(
                    "{:<14} {:<16} {:<10} {:<28} {:<10} LABEL",
                    "ID", "TENANT", "ROLE", "CREATED", "STATE"
                );
                for k in keys {
                    println!(
                        "{:<14} {:<16} {:<10} {:<28} {:<10} {}",
                        k.id,
                        k.tenant,
                        k.role,
                        k.created_at,
                        if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                        k.label.unwrap_or_default()
                    );
                }
            }
            0
        }
        KeysCommand::Revoke { id } => {
            if store.revoke_key(&id).await? {
                eprintln!("cordon: revoked key {id}");
                0
            } else {
                eprintln!("cordon: no active key {id}");
                1
            }
        }
    };
    store.close().await;
    Ok(code)
}
