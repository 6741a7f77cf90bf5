-- ragd metadata store, schema version 3: the App API (apps, conversations, messages).
--
-- An app holds its flow's DSL; `workflow_id` names the version that runs. App keys live in api_keys
-- with `app_id` set (dataset keys have it NULL). Conversations belong to one app and one user; their
-- messages go with them. Run logs are NOT here: they have their own database (ragd-runlog).

CREATE TABLE apps (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    mode        TEXT NOT NULL,
    dsl         TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

ALTER TABLE api_keys ADD COLUMN app_id TEXT REFERENCES apps (id) ON DELETE CASCADE;

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY NOT NULL,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    inputs     TEXT NOT NULL,
    variables  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX conversations_by_user ON conversations (app_id, user_id, updated_at);

CREATE TABLE messages (
    id                        TEXT PRIMARY KEY NOT NULL,
    conversation_id           TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    app_id                    TEXT NOT NULL,
    user_id                   TEXT NOT NULL,
    parent_message_id         TEXT,
    inputs                    TEXT NOT NULL,
    query                     TEXT NOT NULL,
    answer                    TEXT NOT NULL,
    status                    TEXT NOT NULL,
    error                     TEXT,
    retriever_resources       TEXT NOT NULL,
    feedback                  TEXT,
    feedback_content          TEXT,
    message_tokens            INTEGER NOT NULL,
    answer_tokens             INTEGER NOT NULL,
    total_tokens              INTEGER NOT NULL,
    provider_response_latency REAL NOT NULL,
    workflow_run_id           TEXT,
    created_at                INTEGER NOT NULL,
    seq                       INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
