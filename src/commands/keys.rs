//! `ragd keys create|list|revoke`: dataset API keys (`dataset-…`), stored hashed in the data dir's store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::Table;
use ragd_config::Config;
use ragd_store::{MetadataStore, SqliteStore};
use serde_json::json;

use crate::engine::STORE_FILE;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,

    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key; the token is printed once and only its hash is kept.
    Create {
        /// A name to recognize the key by.
        #[arg(long, default_value = "api key")]
        name: String,
        /// Limit the key to this dataset (name or id); repeat for several. Default: every dataset.
        #[arg(long)]
        dataset: Vec<String>,
        /// Print `{"id", "name", "prefix", "datasets", "key"}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their tokens).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or prefix (as `list` shows it). Servers stop accepting it within 5 s.
    Revoke { id_or_prefix: String },
}

pub fn run(args: KeysArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.as_deref().unwrap_or(&config.data_dir);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
    let store = SqliteStore::open(&data_dir.join(STORE_FILE))
        .with_context(|| format!("opening the metadata store in {}", data_dir.display()))?;
    match args.command {
        KeysCommand::Create {
            name,
            dataset,
            json,
        } => {
            let mut ids = Vec::new();
            for name_or_id in &dataset {
                let found = match store.dataset_by_name(name_or_id)? {
                    Some(d) => Some(d),
                    None => store.dataset(name_or_id)?,
                };
                let d = found.with_context(|| format!("dataset {name_or_id:?} not found"))?;
                ids.push(d.id);
            }
            let (key, token) =
                ragd_server::auth::create_key(&store, &name, ids).map_err(anyhow::Error::msg)?;
            if json {
                println!(
                    "{}",
                    json!({"id": key.id, "name": key.name, "prefix": key.prefix, "datasets": key.datasets, "key": token})
                );
            } else {
                println!("{token}");
                eprintln!(
                    "created key {:?} ({}), {}; the token above is shown only this once",
                    key.name,
                    key.prefix,
                    if key.datasets.is_empty() {
                        "for every dataset".to_owned()
                    } else {
                        format!("for {} dataset(s)", key.datasets.len())
                    }
                );
            }
        }
        KeysCommand::List { json } => {
            let keys = store.list_api_keys()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else if keys.is_empty() {
                println!("no keys yet: create one with `ragd keys create --name NAME`");
            } else {
                let mut table = Table::new();
                table.set_header([
                    "id",
                    "name",
                    "prefix",
                    "datasets",
                    "created",
                    "last used",
                    "state",
                ]);
                for k in keys {
                    table.add_row(vec![
                        k.id,
                        k.name,
                        format!("{}…", k.prefix),
                        if k.datasets.is_empty() {
                            "all".into()
                        } else {
                            k.datasets.join(", ")
                        },
                        k.created_at.to_string(),
                        k.last_used_at.map_or("never".into(), |t| t.to_string()),
                        if k.revoked_at.is_some() {
                            "revoked".into()
                        } else {
                            "active".into()
                        },
                    ]);
                }
                println!("{table}");
            }
        }
        KeysCommand::Revoke { id_or_prefix } => {
            let prefix = id_or_prefix.trim_end_matches('…');
            if store.revoke_api_key(prefix)? {
                println!("revoked {prefix}");
            } else {
                anyhow::bail!("no active key with id or prefix {prefix:?} (see `ragd keys list`)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
