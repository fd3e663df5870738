//! `ikd gallery compact`: merges a partition's sorted runs (one per build flush) into one run,
//! streaming, so a lookup probes one file per partition instead of one per build.
//!
//! Crash safety: the merged file is written to a temp file and renamed into place with the
//! names of the runs it replaces in its footer (`ikd.compacted_from`); only then are the runs
//! deleted. A crash in between leaves both, and readers skip the replaced runs; the next build
//! or compaction deletes them ([`finish_interrupted`]).

use super::gallery_part::{batch_templates, embedding_columns, gallery_schema, gallery_writer_properties, next_part};
use super::gallery_part::{compacted_from, templates_batch, ModelColumn, Template, COMPACTED_FROM_KEY, ROW_GROUP_ROWS};
use super::index::{province_dir, provinces_on_disk};
use super::part_files;
use super::results::AtomicParquetWriter;
use anyhow::{bail, Context};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaDataReader;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};

/// What a compaction did.
#[derive(Debug, Default, serde::Serialize)]
pub struct CompactReport {
    /// Per province: runs merged into one.
    pub merged_runs: BTreeMap<String, usize>,
    pub entries: u64,
    /// Repeated NIKs dropped (the first run's entry kept).
    pub duplicates_dropped: u64,
    pub files_written: Vec<PathBuf>,
    pub files_removed: Vec<PathBuf>,
}

/// The runs a part file says it replaces.
fn replaced_by(file: &Path) -> anyhow::Result<Vec<String>> {
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&std::fs::File::open(file)?)
        .with_context(|| format!("reading the footer of {}", file.display()))?;
    Ok(compacted_from(meta.file_metadata()))
}

/// Deletes runs that a finished compaction replaced but a crash left behind.
pub fn finish_interrupted(gallery: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for p in provinces_on_disk(gallery)? {
        let dir = province_dir(gallery, p);
        let files = part_files(&dir)?;
        let mut replaced = BTreeSet::new();
        for f in &files {
            replaced.extend(replaced_by(f)?);
        }
        for f in files {
            if replaced.contains(f.file_name().and_then(|n| n.to_str()).unwrap_or_default()) {
                std::fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
                removed.push(f);
            }
        }
        if !removed.is_empty() {
            super::sync_dir(&dir);
        }
    }
    Ok(removed)
}

/// One run being merged: its reader and the entries of its current batch.
struct Run {
    reader: ParquetRecordBatchReader,
    columns: Vec<(ModelColumn, usize)>,
    pending: VecDeque<Template>,
}

impl Run {
    fn next(&mut self) -> anyhow::Result<Option<Template>> {
        while self.pending.is_empty() {
            match self.reader.next() {
                Some(batch) => self.pending.extend(batch_templates(&batch?, &self.columns)?),
                None => return Ok(None),
            }
        }
        Ok(self.pending.pop_front())
    }
}

/// Merges the runs of every partition (or only `province`) that has more than one.
pub fn compact(gallery: &Path, province: Option<u8>) -> anyhow::Result<CompactReport> {
    let mut report = CompactReport {
        files_removed: finish_interrupted(gallery)?,
        ..Default::default()
    };
    for p in provinces_on_disk(gallery)? {
        if province.is_some_and(|q| q != p) {
            continue;
        }
        let dir = province_dir(gallery, p);
        super::remove_stray_tmp(&dir)?;
        let runs = part_files(&dir)?;
        if runs.len() < 2 {
            continue;
        }
        let written = merge(&dir, &runs, &mut report).with_context(|| format!("compacting {}", dir.display()))?;
        report.merged_runs.insert(format!("{p:02}"), runs.len());
        report.files_written.push(written);
        for r in runs {
            std::fs::remove_file(&r).with_context(|| format!("removing {}", r.display()))?;
            report.files_removed.push(r);
        }
        super::sync_dir(&dir);
    }
    Ok(report)
}

fn merge(dir: &Path, runs: &[PathBuf], report: &mut CompactReport) -> anyhow::Result<PathBuf> {
    let mut sources = Vec::new();
    let mut models: Option<Vec<ModelColumn>> = None;
    for path in runs {
        let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)
            .with_context(|| format!("reading {}", path.display()))?;
        let columns = embedding_columns(builder.schema())?;
        let these: Vec<ModelColumn> = columns.iter().map(|(m, _)| m.clone()).collect();
        match &models {
            None => models = Some(these),
            Some(m) => {
                let ids = |v: &[ModelColumn]| v.iter().map(|c| (c.model.clone(), c.dims)).collect::<Vec<_>>();
                if ids(m) != ids(&these) {
                    bail!(
                        "{} holds other embedders than {}: run `ikd gallery build` to extend the gallery first",
                        path.display(),
                        runs[0].display()
                    );
                }
            }
        }
        sources.push(Run {
            reader: builder.with_batch_size(ROW_GROUP_ROWS).build()?,
            columns,
            pending: VecDeque::new(),
        });
    }
    // Every run keeps the layout of its first: same models, same encodings.
    let models = models.unwrap_or_default();
    let out = dir.join(format!("part-{:05}.parquet", next_part(dir)?));
    let names: Vec<String> = runs
        .iter()
        .filter_map(|r| r.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .collect();
    let mut writer = AtomicParquetWriter::create(
        &out,
        gallery_schema(&models),
        gallery_writer_properties(&models),
        &[(COMPACTED_FROM_KEY.to_owned(), names.join(","))],
    )?;
    // Min-heap on (NIK, run index): ties go to the earlier run, which a lookup would have found.
    let mut heap = BinaryHeap::new();
    let mut heads: Vec<Option<Template>> = Vec::with_capacity(sources.len());
    for (i, s) in sources.iter_mut().enumerate() {
        let t = s.next()?;
        if let Some(t) = &t {
            heap.push(std::cmp::Reverse((t.nik.clone(), i)));
        }
        heads.push(t);
    }
    let mut buf: Vec<Template> = Vec::with_capacity(ROW_GROUP_ROWS);
    let mut last: Option<String> = None;
    while let Some(std::cmp::Reverse((nik, i))) = heap.pop() {
        let t = heads[i].take().context("merge head missing")?;
        if let Some(next) = sources[i].next()? {
            anyhow::ensure!(next.nik > t.nik, "{} is not sorted by NIK", runs[i].display());
            heap.push(std::cmp::Reverse((next.nik.clone(), i)));
            heads[i] = Some(next);
        }
        if last.as_deref() == Some(nik.as_str()) {
            report.duplicates_dropped += 1;
            continue;
        }
        last = Some(nik);
        buf.push(t);
        if buf.len() == ROW_GROUP_ROWS {
            writer.write(&templates_batch(&models, &buf)?)?;
            report.entries += buf.len() as u64;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        writer.write(&templates_batch(&models, &buf)?)?;
        report.entries += buf.len() as u64;
    }
    writer.commit()?;
    Ok(out)
}
