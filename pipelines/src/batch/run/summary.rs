//! After the loop: counts over every committed chunk of the shard (also those of earlier
//! attempts) and `summary.json`.

use super::super::part_files;
use super::plan::OutputDirs;
use anyhow::Context;
use arrow::array::{Array, Float32Array, StringArray, UInt8Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::reader::ChunkReader;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Default)]
pub(super) struct Aggregate {
    pub rows: u64,
    pub decisions: BTreeMap<String, u64>,
    pub reasons: BTreeMap<String, u64>,
    pub review_rows: u64,
    pub credentials: u64,
    pub stage_ms: [f64; 4],
    pub embedders_used: Vec<u64>,
}

/// Counts over the committed result files of this shard (also those of earlier attempts), one
/// file at a time and only the columns needed.
pub(super) fn aggregate(dirs: &OutputDirs, n_chunks: u64) -> anyhow::Result<Aggregate> {
    let mut agg = Aggregate::default();
    for d in ["match", "no_match", "rejected"] {
        agg.decisions.insert(d.into(), 0);
    }
    if let Some(remote) = &dirs.remote {
        // Every committed part is read whole (one chunk's rows: small) once, after the loop.
        for (loc, review) in [(&remote.results, false), (&remote.review, true)] {
            for o in loc.list()? {
                if o.name.contains('/') || !chunk_in_range(Path::new(&o.name), n_chunks) {
                    continue;
                }
                let part = loc.join(&o.name);
                let bytes = part.read(None)?;
                let builder =
                    ParquetRecordBatchReaderBuilder::try_new(bytes).with_context(|| format!("reading {part}"))?;
                if review {
                    agg.review_rows += builder.metadata().file_metadata().num_rows().max(0) as u64;
                } else {
                    add_results(&mut agg, builder).with_context(|| format!("reading {part}"))?;
                }
            }
        }
        return Ok(agg);
    }
    let (results_dir, review_dir) = (&dirs.results, &dirs.review);
    for file in part_files(results_dir)? {
        if !chunk_in_range(&file, n_chunks) {
            continue;
        }
        let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?;
        add_results(&mut agg, builder)?;
    }
    for file in part_files(review_dir)? {
        if chunk_in_range(&file, n_chunks) {
            let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?;
            agg.review_rows += builder.metadata().file_metadata().num_rows().max(0) as u64;
        }
    }
    Ok(agg)
}

/// Adds one results part's counts.
fn add_results<R: ChunkReader + 'static>(
    agg: &mut Aggregate,
    builder: ParquetRecordBatchReaderBuilder<R>,
) -> anyhow::Result<()> {
    let wanted = [
        "decision",
        "reason",
        "credential",
        "embedders_used",
        "decode_ms",
        "detect_ms",
        "align_ms",
        "embed_ms",
    ];
    {
        let idx: Vec<usize> = wanted
            .iter()
            .filter_map(|c| builder.schema().index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let s = |n: &str| {
                batch
                    .column_by_name(n)
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
            };
            let f = |n: &str| {
                batch
                    .column_by_name(n)
                    .and_then(|c| c.as_any().downcast_ref::<Float32Array>().cloned())
            };
            agg.rows += batch.num_rows() as u64;
            if let Some(d) = s("decision") {
                for v in d.iter().flatten() {
                    *agg.decisions.entry(v.to_string()).or_default() += 1;
                }
            }
            if let Some(r) = s("reason") {
                for v in r.iter().flatten() {
                    *agg.reasons.entry(v.to_string()).or_default() += 1;
                }
            }
            if let Some(c) = s("credential") {
                agg.credentials += (c.len() - c.null_count()) as u64;
            }
            if let Some(u) = batch
                .column_by_name("embedders_used")
                .and_then(|c| c.as_any().downcast_ref::<UInt8Array>().cloned())
            {
                for v in u.iter().flatten() {
                    let v = usize::from(v);
                    if agg.embedders_used.len() <= v {
                        agg.embedders_used.resize(v + 1, 0);
                    }
                    agg.embedders_used[v] += 1;
                }
            }
            for (i, n) in ["decode_ms", "detect_ms", "align_ms", "embed_ms"].iter().enumerate() {
                if let Some(a) = f(n) {
                    agg.stage_ms[i] += a.iter().flatten().map(f64::from).sum::<f64>();
                }
            }
        }
    }
    Ok(())
}

fn chunk_in_range(file: &Path, n_chunks: u64) -> bool {
    file.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("part-"))
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|c| c < n_chunks)
}
