-- ragd metadata store, schema version 1.
--
-- Ids are UUID v4 text. Documents and chunks also have integer keys that the BM25 and vector indexes
-- refer to; they are never reused: documents.key is AUTOINCREMENT, chunk keys (segments and child
-- chunks share one sequence) come from key_sequences. Enums are stored as their Dify wire names,
-- JSON values as text, timestamps as Unix seconds, booleans as 0/1.

CREATE TABLE datasets (
    id                       TEXT PRIMARY KEY NOT NULL,
    name                     TEXT NOT NULL UNIQUE,
    description              TEXT NOT NULL,
    indexing_technique       TEXT,
    permission               TEXT NOT NULL,
    provider                 TEXT NOT NULL,
    embedding_model          TEXT,
    embedding_model_provider TEXT,
    retrieval_model          TEXT,
    lexical_analyzer         TEXT NOT NULL,
    doc_form                 TEXT NOT NULL,
    built_in_field_enabled   INTEGER NOT NULL,
    enable_api               INTEGER NOT NULL,
    process_rule             TEXT,
    version                  INTEGER NOT NULL,
    created_by               TEXT NOT NULL,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX datasets_by_creation ON datasets (created_at);

CREATE TABLE documents (
    key                    INTEGER PRIMARY KEY AUTOINCREMENT,
    id                     TEXT NOT NULL UNIQUE,
    dataset_id             TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position               INTEGER NOT NULL,
    name                   TEXT NOT NULL,
    data_source_type       TEXT NOT NULL,
    source                 TEXT,
    content_hash           TEXT NOT NULL,
    batch                  TEXT NOT NULL,
    created_from           TEXT NOT NULL,
    created_by             TEXT NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    indexing_status        TEXT NOT NULL,
    error                  TEXT,
    processing_started_at  INTEGER,
    parsing_completed_at   INTEGER,
    cleaning_completed_at  INTEGER,
    splitting_completed_at INTEGER,
    completed_at           INTEGER,
    paused_at              INTEGER,
    stopped_at             INTEGER,
    disabled_at            INTEGER,
    disabled_by            TEXT,
    enabled                INTEGER NOT NULL,
    archived               INTEGER NOT NULL,
    word_count             INTEGER NOT NULL,
    tokens                 INTEGER NOT NULL,
    segment_count          INTEGER NOT NULL,
    completed_segments     INTEGER NOT NULL,
    total_segments         INTEGER NOT NULL,
    doc_form               TEXT NOT NULL,
    doc_language           TEXT NOT NULL,
    process_rule           TEXT
);
CREATE INDEX documents_by_position ON documents (dataset_id, position);
CREATE INDEX documents_by_hash ON documents (dataset_id, content_hash);
CREATE INDEX documents_by_batch ON documents (dataset_id, batch);
CREATE INDEX documents_by_status ON documents (indexing_status);

-- The parsed source text, apart so that document rows stay light.
CREATE TABLE document_texts (
    document_key INTEGER PRIMARY KEY REFERENCES documents (key) ON DELETE CASCADE,
    text         TEXT NOT NULL
);

-- Explicit sequences: `last` is the last key handed out.
CREATE TABLE key_sequences (
    name TEXT PRIMARY KEY NOT NULL,
    last INTEGER NOT NULL
);
INSERT INTO key_sequences (name, last) VALUES ('chunk', 0);

CREATE TABLE segments (
    key             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    dataset_id      TEXT NOT NULL,
    document_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    content         TEXT NOT NULL,
    answer          TEXT,
    word_count      INTEGER NOT NULL,
    tokens          INTEGER NOT NULL,
    keywords        TEXT NOT NULL,
    index_node_id   TEXT NOT NULL,
    index_node_hash TEXT NOT NULL,
    hit_count       INTEGER NOT NULL,
    enabled         INTEGER NOT NULL,
    disabled_at     INTEGER,
    disabled_by     TEXT,
    status          TEXT NOT NULL,
    error           TEXT,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    indexing_at     INTEGER,
    completed_at    INTEGER
);
CREATE INDEX segments_by_document ON segments (document_id, position);

CREATE TABLE child_chunks (
    key             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    segment_id      TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    document_id     TEXT NOT NULL,
    dataset_id      TEXT NOT NULL,
    position        INTEGER NOT NULL,
    content         TEXT NOT NULL,
    word_count      INTEGER NOT NULL,
    tokens          INTEGER NOT NULL,
    index_node_hash TEXT NOT NULL,
    kind            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX child_chunks_by_segment ON child_chunks (segment_id, position);
CREATE INDEX child_chunks_by_document ON child_chunks (document_id);

CREATE TABLE metadata_fields (
    id         TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    field_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (dataset_id, name)
);

CREATE TABLE document_metadata (
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    field_id    TEXT NOT NULL REFERENCES metadata_fields (id) ON DELETE CASCADE,
    value       TEXT NOT NULL,
    PRIMARY KEY (document_id, field_id)
) WITHOUT ROWID;
CREATE INDEX document_metadata_by_field ON document_metadata (field_id);

CREATE TABLE indexing_jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    dataset_id  TEXT NOT NULL,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX indexing_jobs_by_state ON indexing_jobs (state, seq);
CREATE INDEX indexing_jobs_by_document ON indexing_jobs (document_id, seq);
