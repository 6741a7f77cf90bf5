//! What the commands share: chunking flags, progress bars, spinners, table cells, file discovery.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use comfy_table::{Cell, CellAlignment, Table};
use globset::GlobSet;
use indicatif::{ProgressBar, ProgressStyle};
use ragd_core::ProcessRule;
use ragd_ingest::DocumentFormat;

/// How documents are chunked: a Dify process rule file, or a custom rule from flags (default: automatic).
#[derive(Debug, Args)]
pub struct ChunkingArgs {
    /// A Dify process rule as a JSON file (`{"mode": "custom", "rules": {...}}`); default: automatic.
    #[arg(long, value_name = "FILE", conflicts_with = "chunk_size")]
    process_rule: Option<PathBuf>,

    /// Use a custom rule with this many tokens per chunk at most.
    #[arg(long, value_name = "TOKENS")]
    chunk_size: Option<usize>,

    /// Tokens shared by consecutive chunks (with --chunk-size).
    #[arg(
        long,
        value_name = "TOKENS",
        requires = "chunk_size",
        default_value_t = 0
    )]
    overlap: usize,

    /// Separator for --chunk-size (`\n` is a newline).
    #[arg(long, requires = "chunk_size", default_value = "\\n\\n")]
    separator: String,
}

impl ChunkingArgs {
    /// The process rule the flags describe, checked (it resolves).
    pub fn process_rule(&self) -> anyhow::Result<ProcessRule> {
        let rule = if let Some(path) = &self.process_rule {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading process rule {}", path.display()))?;
            serde_json::from_str::<ProcessRule>(&text)
                .with_context(|| format!("{} is not a valid Dify process rule", path.display()))?
        } else if let Some(max_tokens) = self.chunk_size {
            let mut rule = ProcessRule::custom(max_tokens, self.overlap);
            if let Some(segmentation) = rule.rules.as_mut().and_then(|r| r.segmentation.as_mut()) {
                segmentation.separator = Some(self.separator.clone());
            }
            rule
        } else {
            ProcessRule::automatic()
        };
        rule.resolve()?;
        Ok(rule)
    }
}

/// Files found under the given paths, and what was skipped (by extension, or `(filtered)`).
#[derive(Debug, Default)]
pub struct FoundFiles {
    pub files: Vec<PathBuf>,
    pub skipped: BTreeMap<String, usize>,
}

/// Expands folders (recursively, sorted, hidden entries skipped, unsupported types counted as skipped);
/// explicit files are kept whatever their type, so an unsupported one is reported as an error. In
/// folders, `include` (when non-empty) and `exclude` glob sets filter paths relative to the folder.
pub fn collect_files(
    paths: &[PathBuf],
    include: Option<&GlobSet>,
    exclude: Option<&GlobSet>,
) -> FoundFiles {
    let mut found = FoundFiles::default();
    for path in paths {
        if !path.is_dir() {
            found.files.push(path.clone());
            continue;
        }
        let walker = walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker.filter_map(Result::ok) {
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(path).unwrap_or(entry.path());
            let wanted = include.is_none_or(|g| g.is_match(relative))
                && !exclude.is_some_and(|g| g.is_match(relative));
            if !wanted {
                *found.skipped.entry("(filtered)".to_owned()).or_insert(0) += 1;
            } else if DocumentFormat::from_path(entry.path()).is_some() {
                found.files.push(entry.into_path());
            } else {
                let extension = entry.path().extension().map_or_else(
                    || "(none)".to_owned(),
                    |e| format!(".{}", e.to_string_lossy()),
                );
                *found.skipped.entry(extension).or_insert(0) += 1;
            }
        }
    }
    found
}

/// Builds a glob set from patterns (`**/*.md`); `None` when there are none.
pub fn glob_set(patterns: &[String]) -> anyhow::Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = globset::GlobSetBuilder::new();
    for p in patterns {
        builder.add(
            globset::GlobBuilder::new(p)
                .literal_separator(false)
                .build()
                .map_err(|e| anyhow::anyhow!("invalid glob {p:?}: {e}"))?,
        );
    }
    Ok(Some(builder.build()?))
}

pub fn right(n: usize) -> Cell {
    Cell::new(n).set_alignment(CellAlignment::Right)
}

pub fn progress(len: u64, verb: &str, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template =
        format!("{verb:>10} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}})");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

pub fn spinner(message: &'static str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

/// The file name of a path (the whole path when it has none), as import summaries show it.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The per-file error table of the import summaries: file, documents, failed, error (nothing when
/// there are no rows).
pub fn print_file_errors<'a>(
    rows: impl Iterator<Item = (&'a Path, usize, usize, Option<&'a str>)>,
) {
    let mut table = Table::new();
    table.set_header(["file", "documents", "failed", "error"]);
    let mut any = false;
    for (path, documents, failed, error) in rows {
        any = true;
        table.add_row(vec![
            Cell::new(path.display()),
            right(documents),
            right(failed),
            Cell::new(error.unwrap_or("")),
        ]);
    }
    if any {
        println!("{table}");
    }
}
