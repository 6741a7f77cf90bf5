//! The App API's runtime: loaded flows per app (parsed once per flow version), the running tasks that
//! the stop endpoints cancel, the run-log writer, and the in-process knowledge search that flows'
//! knowledge-retrieval nodes call (the same retrieval path as `POST /v1/datasets/{id}/retrieve`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ragd_core::app::App;
use ragd_core::retrieval::{MetadataFilter, RetrievalModel, SearchMethod, Weights};
use ragd_retrieve::RetrieveRequest;
use ragd_store::MetadataStore;
use ragd_workflow::{Flow, Knowledge, KnowledgeHit, KnowledgeQuery, Runtime};
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};

/// Everything the App API needs besides the Knowledge API's state.
pub struct AppRuntime {
    pub runtime: Runtime,
    pub runlog: Option<ragd_runlog::RunLogWriter>,
    pub runlog_reader: Option<ragd_runlog::RunLogReader>,
    /// Parsed flows by app id, with the flow version they were parsed from.
    flows: Mutex<HashMap<String, (String, Arc<Flow>)>>,
    /// Apps by id as last read from the store, trusted for [`crate::auth::KEY_CACHE_TTL`].
    apps: Mutex<HashMap<String, (App, Instant)>>,
    tasks: Mutex<HashMap<String, Task>>,
    /// Seconds between SSE keep-alive pings.
    pub ping_secs: u64,
}

struct Task {
    app_id: String,
    user: String,
    cancel: CancellationToken,
}

impl std::fmt::Debug for AppRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRuntime").finish_non_exhaustive()
    }
}

/// Removes a task from the registry when the run it tracks ends, however it ends.
pub struct TaskGuard {
    runtime: Arc<AppRuntime>,
    task_id: String,
    pub cancel: CancellationToken,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut tasks = self.runtime.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.remove(&self.task_id);
    }
}

impl AppRuntime {
    pub fn new(
        runtime: Runtime,
        runlog: Option<ragd_runlog::RunLogWriter>,
        runlog_reader: Option<ragd_runlog::RunLogReader>,
        ping_secs: u64,
    ) -> Self {
        AppRuntime {
            runtime,
            runlog,
            runlog_reader,
            flows: Mutex::default(),
            apps: Mutex::default(),
            tasks: Mutex::default(),
            ping_secs: ping_secs.max(1),
        }
    }

    /// The app with this id (cached briefly), or `None`.
    pub async fn app(&self, state: &crate::state::AppState, id: &str) -> ApiResult<Option<App>> {
        {
            let apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((app, at)) = apps.get(id)
                && at.elapsed() < crate::auth::KEY_CACHE_TTL
            {
                return Ok(Some(app.clone()));
            }
        }
        let lookup = id.to_owned();
        let found = state
            .blocking(move |s| Ok(s.store.get_app(&lookup)?))
            .await?;
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        match &found {
            Some(app) => {
                if apps.len() > 10_000 {
                    apps.clear();
                }
                apps.insert(id.to_owned(), (app.clone(), Instant::now()));
            }
            None => {
                apps.remove(id);
            }
        }
        Ok(found)
    }

    /// The app's flow, parsed once per flow version.
    pub fn flow(&self, app: &App) -> ApiResult<Arc<Flow>> {
        {
            let flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((version, flow)) = flows.get(&app.id)
                && *version == app.workflow_id
            {
                return Ok(flow.clone());
            }
        }
        let flow = Arc::new(Flow::from_yaml(&app.dsl).map_err(|e| {
            ApiError::internal(format!("stored flow of app {} does not load: {e}", app.id))
        })?);
        let mut flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
        flows.insert(app.id.clone(), (app.workflow_id.clone(), flow.clone()));
        Ok(flow)
    }

    /// Drops what is cached of a deleted app.
    pub fn forget(&self, app_id: &str) {
        self.flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(app_id);
        self.apps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(app_id);
    }

    /// Registers a running task that [`AppRuntime::stop`] can cancel until the guard is dropped.
    pub fn start_task(self: &Arc<Self>, task_id: &str, app_id: &str, user: &str) -> TaskGuard {
        let cancel = CancellationToken::new();
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.insert(
            task_id.to_owned(),
            Task {
                app_id: app_id.to_owned(),
                user: user.to_owned(),
                cancel: cancel.clone(),
            },
        );
        TaskGuard {
            runtime: self.clone(),
            task_id: task_id.to_owned(),
            cancel,
        }
    }

    /// Cancels the task if it is this app's and this user's and still running; true if it was.
    pub fn stop(&self, task_id: &str, app_id: &str, user: &str) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        match tasks.get(task_id) {
            Some(task) if task.app_id == app_id && task.user == user => {
                task.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Hands a record to the run-log writer (never waits; a full queue drops and counts).
    pub fn log(&self, record: ragd_runlog::LogRecord) {
        if let Some(writer) = &self.runlog {
            writer.record(record);
        }
    }
}

/// Knowledge search for flows: the Knowledge API's retrieval, in process.
pub struct ServerKnowledge {
    pub store: Arc<dyn MetadataStore>,
    /// Flows' retrievals go through the same cache as the Knowledge API's.
    pub cache: Arc<ragd_cache::RetrievalCache>,
}

#[async_trait::async_trait]
impl Knowledge for ServerKnowledge {
    async fn retrieve(&self, query: KnowledgeQuery) -> Result<Vec<KnowledgeHit>, String> {
        if query.dataset_ids.is_empty() {
            return Err("the knowledge retrieval node names no dataset".to_owned());
        }
        let store = self.store.clone();
        let ids = query.dataset_ids.clone();
        let datasets = tokio::task::spawn_blocking(move || {
            ids.iter()
                .map(|id| match store.dataset(id) {
                    Ok(Some(d)) => Ok(d),
                    Ok(None) => Err(format!("dataset {id} not found")),
                    Err(e) => Err(e.to_string()),
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .await
        .map_err(|e| e.to_string())??;
        let mut model = match query.weights {
            Some((vector_weight, _)) => {
                let mut model = RetrievalModel::for_method(SearchMethod::HybridSearch);
                model.weights = Some(Weights::customized(vector_weight.clamp(0.0, 1.0)));
                model
            }
            None => crate::views::stored_retrieval_model(&datasets[0])
                .unwrap_or_else(|| RetrievalModel::for_method(SearchMethod::HybridSearch)),
        };
        model.top_k = query.top_k.max(1) as i64;
        model.score_threshold_enabled = query.score_threshold.is_some();
        model.score_threshold = query.score_threshold;
        model.metadata_filtering_conditions = match query.metadata_filter {
            Some(filter) => Some(
                serde_json::from_value::<MetadataFilter>(filter)
                    .map_err(|e| format!("invalid metadata filter: {e}"))?,
            ),
            None => None,
        };
        let settings = model.resolve().map_err(|e| e.to_string())?;
        let method = settings.method.as_str();
        let names: HashMap<String, String> = datasets
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect();
        let versions: Vec<(String, u64)> =
            datasets.iter().map(|d| (d.id.clone(), d.version)).collect();
        let request = RetrieveRequest::new(query.dataset_ids, query.query, settings);
        let started = Instant::now();
        let answer = self
            .cache
            .retrieve(request, &versions, ragd_cache::CacheMode::Use)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(timings) = &answer.timings {
            crate::metrics::record_retrieval(method, started.elapsed(), timings);
        }
        Ok(answer
            .entry
            .records
            .iter()
            .map(|r| KnowledgeHit {
                content: r.segment.content.clone(),
                score: f64::from(r.score),
                dataset_id: r.dataset_id.clone(),
                dataset_name: names.get(&r.dataset_id).cloned().unwrap_or_default(),
                document_id: r.document.id.clone(),
                document_name: r.document.name.clone(),
                data_source_type: r.document.data_source_type.clone(),
                segment_id: r.segment.id.clone(),
                segment_position: i64::from(r.segment.position),
                hit_count: r.segment.hit_count as i64,
                word_count: i64::from(r.segment.word_count),
                index_node_hash: r.segment.index_node_hash.clone(),
                created_at: r.segment.created_at,
            })
            .collect())
    }
}

/// An app as created: the stored record and its first key's token (shown once).
#[derive(Debug)]
pub struct CreatedApp {
    pub app: App,
    pub key: ragd_core::dataset::ApiKey,
    pub token: String,
}

/// Validates a flow's DSL (it loads, and the datasets its knowledge nodes name exist), stores the app and
/// creates its first key. Used by `POST /v1/apps` and `ragd apps create`.
pub fn create_app(
    store: &dyn MetadataStore,
    dsl: &str,
    name: Option<&str>,
) -> ApiResult<CreatedApp> {
    let flow = Flow::from_yaml(dsl).map_err(|e| ApiError::invalid_param(e.to_string()))?;
    for dataset_id in flow.dataset_ids() {
        if store.dataset(&dataset_id)?.is_none() {
            return Err(ApiError::invalid_param(format!(
                "the flow's knowledge retrieval uses dataset {dataset_id}, which does not exist"
            )));
        }
    }
    let name = name
        .map(str::to_owned)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| flow.name().to_owned());
    let app = store.create_app(&ragd_core::app::NewApp {
        name: if name.trim().is_empty() {
            "Untitled app".to_owned()
        } else {
            name
        },
        description: flow.description().to_owned(),
        mode: flow.mode().as_str().to_owned(),
        dsl: dsl.to_owned(),
    })?;
    let (key, token) = crate::auth::create_app_key(store, &format!("{} key", app.name), &app.id)
        .map_err(ApiError::internal)?;
    Ok(CreatedApp { app, key, token })
}
