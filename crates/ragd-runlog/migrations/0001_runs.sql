-- Run logs: one row per workflow run, one per node execution. JSON values are stored as text; what
-- lists filter, sort or show (status, ids, timestamps, elapsed time, tokens, time to first token) are
-- real columns. Node executions have no foreign key to their run: a run's record may have been dropped
-- by a full queue while its nodes were kept, and retention deletes both explicitly.

CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    user_id TEXT NOT NULL,
    conversation_id TEXT,
    message_id TEXT,
    status TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL,
    error TEXT,
    elapsed_time REAL NOT NULL,
    total_steps INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    latency REAL NOT NULL,
    time_to_first_token REAL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);

-- Newest first, everywhere: (created_at, id) is the list order and the cursor.
CREATE INDEX runs_by_created ON runs (created_at, id);
CREATE INDEX runs_by_app ON runs (app_id, created_at, id);
CREATE INDEX runs_by_status ON runs (status, created_at, id);

CREATE TABLE node_executions (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    node_type TEXT NOT NULL,
    title TEXT NOT NULL,
    position INTEGER NOT NULL,
    predecessor_node_id TEXT,
    inputs TEXT NOT NULL,
    process_data TEXT NOT NULL,
    outputs TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    elapsed_time REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    latency REAL NOT NULL,
    time_to_first_token REAL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE INDEX node_executions_by_run ON node_executions (run_id, position);
CREATE INDEX node_executions_by_created ON node_executions (created_at);
