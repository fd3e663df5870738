//! A run's figures, gathered from what it committed: counts per decision and reason, fused
//! scores per decision, time per stage, embedders run, rows committed over time, the review
//! queue. Only the columns the report needs are read.

use crate::batch::run::RunState;
use crate::batch::{part_files, UsageError};
use anyhow::Context;
use arrow::array::{Array, Float32Array, StringArray, UInt8Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the page shows, gathered from the committed result parts.
#[derive(Default)]
pub struct RunFigures {
    pub rows: u64,
    pub decisions: BTreeMap<String, u64>,
    pub reasons: BTreeMap<String, u64>,
    /// Fused scores per decision.
    pub scores: BTreeMap<String, Vec<f32>>,
    pub threshold: Option<f32>,
    /// Milliseconds per stage (decode, detect, align, embed), one value per row that ran it.
    pub stage_ms: [Vec<f32>; 4],
    /// Rows by embedders run (index 0: refused before any).
    pub embedders_used: Vec<u64>,
    /// (seconds since the run started, rows committed by then), one point per chunk.
    pub progress: Vec<(f64, u64)>,
    pub review_rows: u64,
    pub review_reasons: BTreeMap<String, u64>,
}

/// The stages timed per row, in the order of [`RunFigures::stage_ms`].
pub const STAGES: [&str; 4] = ["decode", "detect", "align", "embed"];

/// Reads the figures of the run in `out`.
pub fn figures(out: &Path) -> anyhow::Result<RunFigures> {
    let state = RunState::read(out).map_err(|e| UsageError(format!("{e:#}")))?;
    let mut f = RunFigures::default();
    let mut commits: Vec<(std::time::SystemTime, u64)> = Vec::new();
    let results = out.join("results");
    for shard in sorted_dirs(&results)? {
        for part in part_files(&shard)? {
            let n = read_part(&part, &mut f)?;
            commits.push((std::fs::metadata(&part)?.modified()?, n));
        }
    }
    commits.sort();
    let start = std::time::UNIX_EPOCH + std::time::Duration::from_secs(state.created_at);
    let mut total = 0;
    for (t, n) in commits {
        total += n;
        let secs = t.duration_since(start).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        f.progress.push((secs, total));
    }
    for shard in sorted_dirs(&out.join("review"))? {
        for part in part_files(&shard)? {
            for r in crate::batch::results::read_review(&part)? {
                f.review_rows += 1;
                *f.review_reasons.entry(r.review_reason).or_default() += 1;
            }
        }
    }
    Ok(f)
}

fn sorted_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("shard="))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    v.sort();
    Ok(v)
}

/// Adds one result part's rows (only the columns the page needs are read).
fn read_part(part: &Path, f: &mut RunFigures) -> anyhow::Result<u64> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(part)?)
        .with_context(|| format!("reading {}", part.display()))?;
    let wanted = [
        "decision",
        "reason",
        "score",
        "threshold",
        "embedders_used",
        "decode_ms",
        "detect_ms",
        "align_ms",
        "embed_ms",
    ];
    let idx: Vec<usize> = wanted
        .iter()
        .filter_map(|c| builder.schema().index_of(c).ok())
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
    let mut n = 0;
    for batch in builder.with_projection(mask).build()? {
        let b = batch?;
        n += b.num_rows() as u64;
        let s = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
        };
        let fl = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<Float32Array>().cloned())
        };
        let (Some(decision), reason, score) = (s("decision"), s("reason"), fl("score")) else {
            anyhow::bail!("{} has no decision column", part.display());
        };
        if let Some(t) = fl("threshold") {
            if !t.is_empty() && t.is_valid(0) {
                f.threshold = Some(t.value(0));
            }
        }
        for i in 0..b.num_rows() {
            let d = decision.value(i).to_string();
            *f.decisions.entry(d.clone()).or_default() += 1;
            if let Some(r) = reason.as_ref().filter(|r| r.is_valid(i)) {
                *f.reasons.entry(r.value(i).to_string()).or_default() += 1;
            }
            if let Some(sc) = score.as_ref().filter(|s| s.is_valid(i)) {
                f.scores.entry(d).or_default().push(sc.value(i));
            }
        }
        for (k, stage) in STAGES.iter().enumerate() {
            if let Some(a) = fl(&format!("{stage}_ms")) {
                f.stage_ms[k].extend(a.iter().flatten());
            }
        }
        if let Some(u) = b
            .column_by_name("embedders_used")
            .and_then(|c| c.as_any().downcast_ref::<UInt8Array>())
        {
            for v in u.iter().flatten() {
                let v = usize::from(v);
                if f.embedders_used.len() <= v {
                    f.embedders_used.resize(v + 1, 0);
                }
                f.embedders_used[v] += 1;
            }
        }
    }
    f.rows += n;
    Ok(n)
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f32]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    f64::from(s[s.len() / 2])
}
