//! The optional JSON lines sink: every record the writer takes, as one `{"kind": "run" | "node", …}`
//! object per line, on stdout or appended to a file (for a log shipper to tail).
//!
//! Threads: used only from the writer's blocking calls, one batch at a time; each batch is flushed
//! whole, so a reader of the file sees complete lines.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::{LogRecord, RunLogError, RunLogResult};

/// Where JSON lines go.
#[derive(Debug)]
pub(crate) enum JsonLinesSink {
    Stdout,
    File {
        path: PathBuf,
        file: BufWriter<File>,
    },
}

impl JsonLinesSink {
    /// The sink a `runlog.jsonl` setting names: `None` when empty, stdout for `-`, else the file
    /// (created if needed, appended to).
    pub(crate) fn open(setting: &str) -> RunLogResult<Option<Self>> {
        match setting {
            "" => Ok(None),
            "-" => Ok(Some(JsonLinesSink::Stdout)),
            path => {
                let path = PathBuf::from(path);
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent).map_err(|source| RunLogError::Io {
                        path: parent.to_path_buf(),
                        source,
                    })?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|source| RunLogError::Io {
                        path: path.clone(),
                        source,
                    })?;
                Ok(Some(JsonLinesSink::File {
                    path,
                    file: BufWriter::new(file),
                }))
            }
        }
    }

    /// Writes one line per record and flushes.
    pub(crate) fn write_batch(&mut self, records: &[LogRecord]) -> RunLogResult<()> {
        match self {
            JsonLinesSink::Stdout => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                write_lines(&mut out, records).map_err(|source| RunLogError::Io {
                    path: PathBuf::from("<stdout>"),
                    source,
                })
            }
            JsonLinesSink::File { path, file } => {
                write_lines(file, records).map_err(|source| RunLogError::Io {
                    path: path.clone(),
                    source,
                })
            }
        }
    }
}

fn write_lines(out: &mut impl Write, records: &[LogRecord]) -> std::io::Result<()> {
    for record in records {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
