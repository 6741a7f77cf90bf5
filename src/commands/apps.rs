//! `ragd apps create|list|delete|key`: apps (a Dify DSL flow served by the App API) in the data dir's store.

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
pub struct AppsArgs {
    #[command(subcommand)]
    command: AppsCommand,

    /// A data dir other than the configured one.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// Create an app from a Dify DSL file (workflow or advanced-chat) and print its first `app-…` key.
    Create {
        /// The flow: Dify's exported YAML.
        flow: PathBuf,
        /// The app's name (default: the file's `app.name`).
        #[arg(long)]
        name: Option<String>,
        /// Print `{"id", "name", "mode", "workflow_id", "api_key"}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List apps.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an app (by id or name) with its keys, conversations and messages.
    Delete { app: String },
    /// Issue another key for an app (by id or name).
    Key {
        app: String,
        #[arg(long)]
        json: bool,
    },
}

/// An app by id, else by name (the only one with it).
pub fn find_app(
    store: &dyn MetadataStore,
    id_or_name: &str,
) -> anyhow::Result<ragd_core::app::App> {
    if let Some(app) = store.get_app(id_or_name)? {
        return Ok(app);
    }
    let apps = store.list_apps()?;
    let named: Vec<_> = apps.iter().filter(|a| a.name == id_or_name).collect();
    match named.as_slice() {
        [app] => Ok((*app).clone()),
        [] => {
            let known: Vec<_> = apps
                .iter()
                .map(|a| format!("{} ({})", a.name, a.id))
                .collect();
            anyhow::bail!(
                "no app `{id_or_name}`; {}",
                if known.is_empty() {
                    "there are none yet: `ragd apps create FLOW.yml`".to_owned()
                } else {
                    format!("apps: {}", known.join(", "))
                }
            )
        }
        several => anyhow::bail!(
            "{} apps are named `{id_or_name}`; use the id",
            several.len()
        ),
    }
}

pub fn run(args: AppsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.as_deref().unwrap_or(&config.data_dir);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
    let store = SqliteStore::open(&data_dir.join(STORE_FILE))
        .with_context(|| format!("opening the metadata store in {}", data_dir.display()))?;
    match args.command {
        AppsCommand::Create { flow, name, json } => {
            let dsl = std::fs::read_to_string(&flow)
                .with_context(|| format!("reading {}", flow.display()))?;
            let created = ragd_server::apps::create_app(&store, &dsl, name.as_deref())
                .map_err(|e| anyhow::anyhow!("{}: {}", flow.display(), e.message))?;
            let app = &created.app;
            if json {
                println!(
                    "{}",
                    json!({"id": app.id, "name": app.name, "mode": app.mode,
                           "workflow_id": app.workflow_id, "api_key": created.token})
                );
            } else {
                println!(
                    "Created {} app `{}` ({}).\nIts key, shown only this once:\n\n    {}\n\n\
                     Chat: `ragd chat {}`; over HTTP: POST /v1/{} with `Authorization: Bearer <key>`.",
                    app.mode,
                    app.name,
                    app.id,
                    created.token,
                    app.id,
                    if app.mode == "workflow" {
                        "workflows/run"
                    } else {
                        "chat-messages"
                    }
                );
            }
        }
        AppsCommand::List { json } => {
            let apps = store.list_apps()?;
            if json {
                let list: Vec<_> = apps
                    .iter()
                    .map(|a| json!({"id": a.id, "name": a.name, "mode": a.mode, "workflow_id": a.workflow_id, "created_at": a.created_at}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if apps.is_empty() {
                println!("no apps yet: `ragd apps create FLOW.yml`");
            } else {
                let mut table = Table::new();
                table.set_header(["id", "name", "mode", "created"]);
                for a in &apps {
                    table.add_row([
                        a.id.clone(),
                        a.name.clone(),
                        a.mode.clone(),
                        a.created_at.to_string(),
                    ]);
                }
                println!("{table}");
            }
        }
        AppsCommand::Delete { app } => {
            let found = find_app(&store, &app)?;
            store.delete_app(&found.id)?;
            println!("deleted app `{}` ({})", found.name, found.id);
        }
        AppsCommand::Key { app, json } => {
            let found = find_app(&store, &app)?;
            let (key, token) = ragd_server::auth::create_app_key(
                &store,
                &format!("{} key", found.name),
                &found.id,
            )
            .map_err(anyhow::Error::msg)?;
            if json {
                println!(
                    "{}",
                    json!({"id": key.id, "prefix": key.prefix, "api_key": token})
                );
            } else {
                println!("{token}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
