//! Workflow run logs for ragd, kept apart from the metadata database: their own SQLite file, written by a
//! bounded, batched asynchronous writer off the response path, with retention by age and count.
