//! Apps, conversations and messages (the App API's entities).

use ragd_core::app::{App, Conversation, ConversationSort, Message, NewApp};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{new_id, now};
use crate::{StoreError, StoreResult};

const APP_COLUMNS: &str = "id, name, description, mode, dsl, workflow_id, created_at, updated_at";
const CONVERSATION_COLUMNS: &str =
    "id, app_id, user_id, name, inputs, variables, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, conversation_id, app_id, user_id, parent_message_id, inputs, \
     query, answer, status, error, retriever_resources, feedback, feedback_content, message_tokens, \
     answer_tokens, total_tokens, provider_response_latency, workflow_run_id, created_at";

fn json_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            error.to_string().into(),
        )
    })
}

fn app(row: &Row<'_>) -> rusqlite::Result<App> {
    Ok(App {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        mode: row.get(3)?,
        dsl: row.get(4)?,
        workflow_id: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

fn conversation(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: row.get(0)?,
        app_id: row.get(1)?,
        user: row.get(2)?,
        name: row.get(3)?,
        inputs: json_column(row, 4)?,
        variables: json_column(row, 5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        app_id: row.get(2)?,
        user: row.get(3)?,
        parent_message_id: row.get(4)?,
        inputs: json_column(row, 5)?,
        query: row.get(6)?,
        answer: row.get(7)?,
        status: row.get(8)?,
        error: row.get(9)?,
        retriever_resources: json_column(row, 10)?,
        feedback: row.get(11)?,
        feedback_content: row.get(12)?,
        message_tokens: row.get::<_, i64>(13)?.max(0) as u64,
        answer_tokens: row.get::<_, i64>(14)?.max(0) as u64,
        total_tokens: row.get::<_, i64>(15)?.max(0) as u64,
        provider_response_latency: row.get(16)?,
        workflow_run_id: row.get(17)?,
        created_at: row.get(18)?,
    })
}

pub(super) fn create_app(conn: &Connection, new: &NewApp) -> StoreResult<App> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(StoreError::Invalid(
            "App name must be between 1 and 255 characters.".to_owned(),
        ));
    }
    if !matches!(new.mode.as_str(), "workflow" | "advanced-chat") {
        return Err(StoreError::Invalid(format!(
            "App mode `{}` is not supported; expected workflow or advanced-chat.",
            new.mode
        )));
    }
    let id = new_id();
    let now = now();
    conn.prepare_cached(
        "INSERT INTO apps (id, name, description, mode, dsl, workflow_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        id,
        name,
        new.description,
        new.mode,
        new.dsl,
        new_id(),
        now
    ])?;
    get_app(conn, &id)?.ok_or_else(|| StoreError::not_found("app", id))
}

pub(super) fn get_app(conn: &Connection, id: &str) -> StoreResult<Option<App>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], app).optional()?)
}

pub(super) fn list_apps(conn: &Connection) -> StoreResult<Vec<App>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, rowid");
    Ok(conn
        .prepare_cached(&sql)?
        .query_map([], app)?
        .collect::<Result<_, _>>()?)
}

pub(super) fn delete_app(conn: &Connection, id: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM apps WHERE id = ?1")?
        .execute([id])?
        > 0)
}

pub(super) fn create_conversation(
    conn: &Connection,
    id: &str,
    app_id: &str,
    user: &str,
    name: &str,
    inputs: &Value,
    variables: &Value,
) -> StoreResult<Conversation> {
    let now = now();
    conn.prepare_cached(
        "INSERT INTO conversations (id, app_id, user_id, name, inputs, variables, created_at, \
         updated_at, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, \
         (SELECT COALESCE(MAX(seq), 0) + 1 FROM conversations))",
    )?
    .execute(params![
        id,
        app_id,
        user,
        name,
        inputs.to_string(),
        variables.to_string(),
        now
    ])?;
    get_conversation(conn, app_id, user, id)?
        .ok_or_else(|| StoreError::not_found("conversation", id))
}

pub(super) fn get_conversation(
    conn: &Connection,
    app_id: &str,
    user: &str,
    id: &str,
) -> StoreResult<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations \
         WHERE id = ?1 AND app_id = ?2 AND user_id = ?3"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id, app_id, user], conversation)
        .optional()?)
}

pub(super) fn list_conversations(
    conn: &Connection,
    app_id: &str,
    user: &str,
    last_id: Option<&str>,
    limit: u32,
    sort: ConversationSort,
) -> StoreResult<(Vec<Conversation>, bool)> {
    let (column, descending) = match sort {
        ConversationSort::CreatedAt => ("created_at", false),
        ConversationSort::CreatedAtDesc => ("created_at", true),
        ConversationSort::UpdatedAt => ("updated_at", false),
        ConversationSort::UpdatedAtDesc => ("updated_at", true),
    };
    let (order, compare) = if descending {
        ("DESC", "<")
    } else {
        ("ASC", ">")
    };
    // Keyset paging on (column, seq): the page after `last_id` in the chosen order.
    let after = match last_id {
        Some(last_id) => {
            let found: Option<(i64, i64)> = conn
                .prepare_cached(&format!(
                    "SELECT {column}, seq FROM conversations WHERE id = ?1 AND app_id = ?2 AND user_id = ?3"
                ))?
                .query_row([last_id, app_id, user], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            match found {
                Some(found) => Some(found),
                None => return Err(StoreError::not_found("conversation", last_id)),
            }
        }
        None => None,
    };
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE app_id = ?1 AND user_id = ?2 \
         AND (?3 IS NULL OR ({column}, seq) {compare} (?3, ?4)) \
         ORDER BY {column} {order}, seq {order} LIMIT ?5"
    );
    let mut rows: Vec<Conversation> = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                app_id,
                user,
                after.map(|a| a.0),
                after.map(|a| a.1),
                i64::from(limit) + 1
            ],
            conversation,
        )?
        .collect::<Result<_, _>>()?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, has_more))
}

pub(super) fn rename_conversation(
    conn: &Connection,
    app_id: &str,
    user: &str,
    id: &str,
    name: &str,
) -> StoreResult<Conversation> {
    let updated = conn
        .prepare_cached(
            "UPDATE conversations SET name = ?4, updated_at = ?5 \
             WHERE id = ?1 AND app_id = ?2 AND user_id = ?3",
        )?
        .execute(params![id, app_id, user, name, now()])?;
    if updated == 0 {
        return Err(StoreError::not_found("conversation", id));
    }
    get_conversation(conn, app_id, user, id)?
        .ok_or_else(|| StoreError::not_found("conversation", id))
}

pub(super) fn delete_conversation(
    conn: &Connection,
    app_id: &str,
    user: &str,
    id: &str,
) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM conversations WHERE id = ?1 AND app_id = ?2 AND user_id = ?3")?
        .execute([id, app_id, user])?
        > 0)
}

pub(super) fn add_message(
    conn: &Connection,
    message: &Message,
    variables: Option<&Value>,
) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO messages ({MESSAGE_COLUMNS}, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
         ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
         (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages))"
    ))?
    .execute(params![
        message.id,
        message.conversation_id,
        message.app_id,
        message.user,
        message.parent_message_id,
        message.inputs.to_string(),
        message.query,
        message.answer,
        message.status,
        message.error,
        message.retriever_resources.to_string(),
        message.feedback,
        message.feedback_content,
        message.message_tokens as i64,
        message.answer_tokens as i64,
        message.total_tokens as i64,
        message.provider_response_latency,
        message.workflow_run_id,
        message.created_at,
    ])?;
    let updated = match variables {
        Some(variables) => conn
            .prepare_cached(
                "UPDATE conversations SET updated_at = ?2, variables = ?3 WHERE id = ?1",
            )?
            .execute(params![
                message.conversation_id,
                now(),
                variables.to_string()
            ])?,
        None => conn
            .prepare_cached("UPDATE conversations SET updated_at = ?2 WHERE id = ?1")?
            .execute(params![message.conversation_id, now()])?,
    };
    if updated == 0 {
        return Err(StoreError::not_found(
            "conversation",
            &message.conversation_id,
        ));
    }
    Ok(())
}

pub(super) fn get_message(
    conn: &Connection,
    app_id: &str,
    id: &str,
) -> StoreResult<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND app_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id, app_id], message)
        .optional()?)
}

/// The `limit` messages before `first_id` (or the newest), oldest first, and whether older ones exist.
pub(super) fn list_messages(
    conn: &Connection,
    conversation_id: &str,
    first_id: Option<&str>,
    limit: u32,
) -> StoreResult<(Vec<Message>, bool)> {
    let before: Option<i64> = match first_id {
        Some(first_id) => Some(
            conn.prepare_cached("SELECT seq FROM messages WHERE id = ?1 AND conversation_id = ?2")?
                .query_row([first_id, conversation_id], |row| row.get(0))
                .optional()?
                .ok_or_else(|| StoreError::not_found("message", first_id))?,
        ),
        None => None,
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 \
         AND (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?3"
    );
    let mut rows: Vec<Message> = conn
        .prepare_cached(&sql)?
        .query_map(
            params![conversation_id, before, i64::from(limit) + 1],
            message,
        )?
        .collect::<Result<_, _>>()?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    rows.reverse();
    Ok((rows, has_more))
}

pub(super) fn set_feedback(
    conn: &Connection,
    app_id: &str,
    message_id: &str,
    rating: Option<&str>,
    content: Option<&str>,
) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE messages SET feedback = ?3, feedback_content = ?4 WHERE id = ?1 AND app_id = ?2",
        )?
        .execute(params![message_id, app_id, rating, content])?
        > 0)
}
