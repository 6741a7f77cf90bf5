//! `ragd cache …`: inspect and tune the two-tier semantic cache.
//!
//! `ragd cache thresholds PAIRS.tsv` measures how right semantic hits would be at each similarity threshold,
//! on labelled sentence pairs (the MRPC paraphrase corpus's TSV format): both sentences of a pair are
//! normalized as cache keys are ([`ragd_cache::normalize_query`]), embedded one by one as queries are, and
//! compared by cosine. A label-1 pair (same meaning) at or above the threshold is a right hit; a label-0 pair
//! (different meaning) at or above it is a false hit, a cached answer served for another question.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{Cell, CellAlignment, Table};
use ragd_config::Config;
use ragd_embed::{Embedder, OnnxEmbedder, OnnxEmbedderOptions};
use serde::Serialize;

use super::ui::{progress, right, spinner};

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Measure how right semantic cache hits would be at each similarity threshold, on labelled
    /// sentence pairs (MRPC's TSV: Quality, #1 ID, #2 ID, #1 String, #2 String).
    Thresholds(ThresholdsArgs),
}

#[derive(Debug, Args)]
pub struct ThresholdsArgs {
    /// Tab-separated pairs with a header line: label (1 = same meaning, 0 = different), two ids, two
    /// sentences (e.g. MRPC's train.tsv). Lines are split on tabs only; quotes are plain text.
    pairs: PathBuf,

    /// Lowest threshold of the table.
    #[arg(long, default_value = "0.80")]
    from: f64,

    /// Highest threshold of the table (included when it is FROM plus a whole number of steps).
    #[arg(long, default_value = "0.99")]
    to: f64,

    /// Distance between thresholds (a multiple of 0.0001).
    #[arg(long, default_value = "0.01")]
    step: f64,

    /// Largest acceptable share of different-meaning pairs that hit; the recommended threshold is the
    /// smallest one whose false-hit share is below it.
    #[arg(long, default_value = "0.01")]
    max_false_hits: f64,

    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(command: CacheCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        CacheCommand::Thresholds(args) => thresholds(args, config),
    }
}

/// Thresholds are counted in these units, so that a range never drifts (0.80 + 19 × 0.01 is 0.99).
const UNITS_PER_ONE: f64 = 10_000.0;

/// The thresholds from `from` to `to` (both included when `to - from` is a whole number of steps) every
/// `step`, in ten-thousandths.
fn threshold_range(from: f64, to: f64, step: f64) -> anyhow::Result<Vec<u32>> {
    let units = |name: &str, value: f64| -> anyhow::Result<i64> {
        anyhow::ensure!(
            value.is_finite() && (0.0..=1.0).contains(&value),
            "--{name} must be between 0 and 1, got {value}"
        );
        let scaled = value * UNITS_PER_ONE;
        anyhow::ensure!(
            (scaled - scaled.round()).abs() < 1e-6,
            "--{name} must be a multiple of 0.0001, got {value}"
        );
        Ok(scaled.round() as i64)
    };
    let (from, to, step) = (units("from", from)?, units("to", to)?, units("step", step)?);
    anyhow::ensure!(step > 0, "--step must be above 0");
    anyhow::ensure!(from <= to, "--from must not be above --to");
    Ok((from..=to)
        .step_by(step as usize)
        .map(|t| t as u32)
        .collect())
}

/// A threshold in ten-thousandths as a number.
fn threshold_value(units: u32) -> f64 {
    f64::from(units) / UNITS_PER_ONE
}

/// A threshold with two decimals, or as many as it needs up to four (`0.95`, `0.955`).
fn threshold_label(units: u32) -> String {
    let text = format!("{:.4}", threshold_value(units));
    let trimmed = text.trim_end_matches('0');
    let decimals = trimmed.split_once('.').map_or(0, |(_, d)| d.len());
    if decimals < 2 {
        format!("{:.2}", threshold_value(units))
    } else {
        trimmed.to_owned()
    }
}

/// One labelled sentence pair.
#[derive(Debug, Clone, PartialEq)]
struct Pair {
    same_meaning: bool,
    first: String,
    second: String,
}

/// A line that is not a pair: its 1-based number and why.
#[derive(Debug, Clone, PartialEq)]
struct Malformed {
    line: usize,
    reason: String,
}

#[derive(Debug, Default, PartialEq)]
struct ParsedPairs {
    pairs: Vec<Pair>,
    malformed: Vec<Malformed>,
}

/// Parses MRPC-style TSV by splitting each line on tabs (no quoting: MRPC's sentences hold unbalanced
/// quotes). The first line is a header when its first field is not a label; blank lines are ignored.
fn parse_pairs(text: &str) -> ParsedPairs {
    let mut parsed = ParsedPairs::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let label = fields[0].trim();
        if index == 0 && label != "0" && label != "1" {
            continue;
        }
        let malformed = |reason: String| Malformed {
            line: index + 1,
            reason,
        };
        if fields.len() != 5 {
            parsed.malformed.push(malformed(format!(
                "{} tab-separated fields, expected 5",
                fields.len()
            )));
            continue;
        }
        let same_meaning = match label {
            "1" => true,
            "0" => false,
            other => {
                parsed
                    .malformed
                    .push(malformed(format!("label {other:?} is neither 0 nor 1")));
                continue;
            }
        };
        let (first, second) = (fields[3].trim(), fields[4].trim());
        if first.is_empty() || second.is_empty() {
            parsed.malformed.push(malformed("an empty sentence".into()));
            continue;
        }
        parsed.pairs.push(Pair {
            same_meaning,
            first: first.to_owned(),
            second: second.to_owned(),
        });
    }
    parsed
}

/// Hits at one threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct ThresholdRow {
    threshold: f64,
    /// Share of same-meaning pairs whose cosine is at or above the threshold (0 when there are none).
    same_meaning_hit_rate: f64,
    /// Share of different-meaning pairs whose cosine is at or above the threshold (0 when there are none).
    false_hit_rate: f64,
    same_meaning_hits: usize,
    false_hits: usize,
    #[serde(skip)]
    units: u32,
}

/// The rows of the table: for each threshold (in ten-thousandths), the hits among `(same meaning, cosine)`
/// pairs.
fn threshold_rows(labelled: &[(bool, f32)], thresholds: &[u32]) -> Vec<ThresholdRow> {
    let same_total = labelled.iter().filter(|(same, _)| *same).count();
    let different_total = labelled.len() - same_total;
    let share = |hits: usize, total: usize| {
        if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        }
    };
    thresholds
        .iter()
        .map(|&units| {
            let threshold = threshold_value(units);
            // In f32, as the cache compares (`cache.semantic_threshold` is an f32): 0.95 as f32 is the
            // f32 nearest 0.95, so a cosine of 0.95f32 hits at 0.95 (it would not against 0.95f64).
            let at_least = threshold as f32;
            let hit = |cosine: f32| cosine >= at_least;
            let same_meaning_hits = labelled
                .iter()
                .filter(|&&(same, cosine)| same && hit(cosine))
                .count();
            let false_hits = labelled
                .iter()
                .filter(|&&(same, cosine)| !same && hit(cosine))
                .count();
            ThresholdRow {
                threshold,
                same_meaning_hit_rate: share(same_meaning_hits, same_total),
                false_hit_rate: share(false_hits, different_total),
                same_meaning_hits,
                false_hits,
                units,
            }
        })
        .collect()
}

/// The smallest threshold whose false-hit share is below `max_false_hits`, if any.
fn recommend(rows: &[ThresholdRow], max_false_hits: f64) -> Option<&ThresholdRow> {
    rows.iter()
        .filter(|r| r.false_hit_rate < max_false_hits)
        .min_by_key(|r| r.units)
}

#[derive(Debug, Serialize)]
struct ThresholdsReport {
    pairs: usize,
    same_meaning: usize,
    different: usize,
    skipped: usize,
    rows: Vec<ThresholdRow>,
    recommended: Option<f64>,
}

fn thresholds(args: ThresholdsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let thresholds = threshold_range(args.from, args.to, args.step)?;
    anyhow::ensure!(
        args.max_false_hits.is_finite() && (0.0..=1.0).contains(&args.max_false_hits),
        "--max-false-hits must be between 0 and 1, got {}",
        args.max_false_hits
    );
    let bytes =
        std::fs::read(&args.pairs).with_context(|| format!("reading {}", args.pairs.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let ParsedPairs { pairs, malformed } = parse_pairs(&text);
    for m in malformed.iter().take(5) {
        eprintln!(
            "skipping {} line {}: {}",
            args.pairs.display(),
            m.line,
            m.reason
        );
    }
    if malformed.len() > 5 {
        eprintln!("… and {} more malformed lines", malformed.len() - 5);
    }
    let same_meaning = pairs.iter().filter(|p| p.same_meaning).count();
    let different = pairs.len() - same_meaning;
    anyhow::ensure!(
        same_meaning > 0 && different > 0,
        "{} needs pairs of both labels: it has {same_meaning} same-meaning (1) and {different} \
         different (0) pairs ({} malformed lines skipped)",
        args.pairs.display(),
        malformed.len()
    );

    // Every distinct normalized sentence, embedded once.
    let normalized: Vec<(bool, String, String)> = pairs
        .iter()
        .map(|p| {
            (
                p.same_meaning,
                ragd_cache::normalize_query(&p.first),
                ragd_cache::normalize_query(&p.second),
            )
        })
        .collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut sentences: Vec<&str> = Vec::new();
    for (_, a, b) in &normalized {
        for s in [a.as_str(), b.as_str()] {
            index.entry(s).or_insert_with(|| {
                sentences.push(s);
                sentences.len() - 1
            });
        }
    }

    let loading = spinner("loading the embedding model");
    let embedder = OnnxEmbedder::load(&OnnxEmbedderOptions::from_config(
        &config.models,
        &config.embed,
    ))
    .context("loading the embedding model")?;
    loading.finish_and_clear();
    let bar = progress(sentences.len() as u64, "embedding", "sentences");
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let mut vectors = Vec::with_capacity(sentences.len());
    for s in &sentences {
        vectors.push(
            embedder
                .embed_query(s)
                .with_context(|| format!("embedding {s:?}"))?,
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    let embed_seconds = started.elapsed().as_secs_f64();

    let labelled: Vec<(bool, f32)> = normalized
        .iter()
        .map(|(same, a, b)| {
            let cosine = ragd_embed::cosine_similarity(
                &vectors[index[a.as_str()]],
                &vectors[index[b.as_str()]],
            );
            (*same, cosine)
        })
        .collect();
    let rows = threshold_rows(&labelled, &thresholds);
    let recommended = recommend(&rows, args.max_false_hits).cloned();

    if args.json {
        let report = ThresholdsReport {
            pairs: pairs.len(),
            same_meaning,
            different,
            skipped: malformed.len(),
            recommended: recommended.as_ref().map(|r| r.threshold),
            rows,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }

    let mut table = Table::new();
    table.set_header([
        "threshold",
        "same-meaning hits",
        "false hits",
        "same-meaning hits (n)",
        "false hits (n)",
    ]);
    let percent =
        |rate: f64| Cell::new(format!("{:.1}%", rate * 100.0)).set_alignment(CellAlignment::Right);
    for r in &rows {
        table.add_row(vec![
            Cell::new(threshold_label(r.units)),
            percent(r.same_meaning_hit_rate),
            percent(r.false_hit_rate),
            right(r.same_meaning_hits),
            right(r.false_hits),
        ]);
    }
    println!("{table}");
    println!(
        "{} pairs ({same_meaning} same meaning, {different} different; {} malformed line{} skipped), \
         {} distinct sentences embedded with {} in {embed_seconds:.1} s",
        pairs.len(),
        malformed.len(),
        if malformed.len() == 1 { "" } else { "s" },
        sentences.len(),
        embedder.model_id(),
    );
    let limit = format!("{:.1}%", args.max_false_hits * 100.0);
    match recommended {
        Some(r) => println!(
            "recommended threshold: {} (false hits {:.1}% < {limit}; same-meaning pairs hit {:.1}%)",
            threshold_label(r.units),
            r.false_hit_rate * 100.0,
            r.same_meaning_hit_rate * 100.0
        ),
        None => println!(
            "no threshold from {} to {} keeps false hits below {limit}",
            threshold_label(thresholds[0]),
            threshold_label(thresholds[thresholds.len() - 1])
        ),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds_of(rows: &[ThresholdRow]) -> Vec<f64> {
        rows.iter().map(|r| r.threshold).collect()
    }

    #[test]
    fn the_range_includes_both_ends_without_drift() {
        let range = threshold_range(0.80, 0.99, 0.01).unwrap();
        assert_eq!(range.len(), 20);
        assert_eq!(range.first(), Some(&8000));
        assert_eq!(range.last(), Some(&9900));
        assert_eq!(threshold_label(9900), "0.99");
        assert_eq!(threshold_range(0.9, 0.9, 0.05).unwrap(), [9000]);
        // `to` is not a whole number of steps away: the range stops before it.
        assert_eq!(threshold_range(0.9, 0.99, 0.05).unwrap(), [9000, 9500]);
        assert_eq!(
            threshold_range(0.95, 0.96, 0.005).unwrap(),
            [9500, 9550, 9600]
        );
        assert_eq!(threshold_label(9550), "0.955");
        assert!(threshold_range(0.9, 0.8, 0.01).is_err());
        assert!(threshold_range(0.8, 0.9, 0.0).is_err());
        assert!(threshold_range(0.8, 1.5, 0.01).is_err());
        assert!(threshold_range(0.8, 0.9, 0.00001).is_err());
    }

    #[test]
    fn rows_count_hits_at_or_above_each_threshold() {
        // Same meaning: 0.95, 0.90, 0.85, 0.70; different: 0.92, 0.80, 0.60, 0.50, 0.40.
        let labelled = [
            (true, 0.95),
            (true, 0.90),
            (true, 0.85),
            (true, 0.70),
            (false, 0.92),
            (false, 0.80),
            (false, 0.60),
            (false, 0.50),
            (false, 0.40),
        ];
        let rows = threshold_rows(&labelled, &threshold_range(0.80, 0.95, 0.05).unwrap());
        assert_eq!(thresholds_of(&rows), [0.80, 0.85, 0.90, 0.95]);
        let counts: Vec<(usize, usize)> = rows
            .iter()
            .map(|r| (r.same_meaning_hits, r.false_hits))
            .collect();
        // A cosine equal to the threshold is a hit (0.80 at 0.80; 0.95, the last threshold, at 0.95).
        assert_eq!(counts, [(3, 2), (3, 1), (2, 1), (1, 0)]);
        assert_eq!(rows[0].same_meaning_hit_rate, 0.75);
        assert_eq!(rows[0].false_hit_rate, 0.4);
        assert_eq!(rows[2].same_meaning_hit_rate, 0.5);
        assert_eq!(rows[2].false_hit_rate, 0.2);
        assert_eq!(rows[3].same_meaning_hit_rate, 0.25);
        assert_eq!(rows[3].false_hit_rate, 0.0);

        // The smallest threshold strictly below the limit.
        assert_eq!(recommend(&rows, 0.01).map(|r| r.threshold), Some(0.95));
        assert_eq!(recommend(&rows, 0.25).map(|r| r.threshold), Some(0.85));
        // 0.2 is not below 0.2.
        assert_eq!(recommend(&rows, 0.2).map(|r| r.threshold), Some(0.95));
        assert_eq!(recommend(&rows, 0.5).map(|r| r.threshold), Some(0.80));
    }

    #[test]
    fn no_threshold_qualifies_when_false_hits_stay_high() {
        let labelled = [(true, 0.99), (false, 0.99), (false, 0.10)];
        let rows = threshold_rows(&labelled, &threshold_range(0.80, 0.99, 0.01).unwrap());
        assert_eq!(rows.len(), 20);
        assert!(
            rows.iter()
                .all(|r| r.false_hits == 1 && r.false_hit_rate == 0.5)
        );
        assert!(rows.iter().all(|r| r.same_meaning_hit_rate == 1.0));
        assert_eq!(recommend(&rows, 0.01), None);
        assert_eq!(recommend(&rows, 0.5), None);
        assert_eq!(recommend(&rows, 0.51).map(|r| r.threshold), Some(0.80));
    }

    #[test]
    fn pairs_are_split_on_tabs_and_malformed_lines_are_counted() {
        let text = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n\
                    1\t1\t2\tHe said \"yes.\tHe said yes.\r\n\
                    0\t3\t4\tA cat.\tA \"dog\" barks\n\
                    \n\
                    0\t5\t6\tOnly four fields\n\
                    2\t7\t8\tA.\tB.\n\
                    1\t9\t10\t \tB.\n\
                    0\t1\t2\tA.\tB.0\t3\t4\tC.\tD.\n";
        let parsed = parse_pairs(text);
        assert_eq!(
            parsed.pairs,
            [
                Pair {
                    same_meaning: true,
                    first: "He said \"yes.".into(),
                    second: "He said yes.".into(),
                },
                Pair {
                    same_meaning: false,
                    first: "A cat.".into(),
                    second: "A \"dog\" barks".into(),
                },
            ]
        );
        let lines: Vec<usize> = parsed.malformed.iter().map(|m| m.line).collect();
        assert_eq!(lines, [5, 6, 7, 8]);
        assert!(
            parsed.malformed[0]
                .reason
                .contains("4 tab-separated fields")
        );
        assert!(
            parsed.malformed[3]
                .reason
                .contains("9 tab-separated fields")
        );
        // Without a header, the first line is a pair.
        assert_eq!(parse_pairs("1\t1\t2\tA.\tB.").pairs.len(), 1);
    }
}
