//! `ikd gallery build`: KTP-el photos -> templates in province-partitioned Parquet.
//!
//! ```text
//! DIR/province=31/part-00000.parquet   the templates (`gallery_part`: one column per embedder)
//! DIR/rejects/part-00000.parquet       nik, photo_path, input_row, reason, detail, created_at
//! ```
//!
//! Each part file is one run sorted by NIK, with the Parquet page index ([`super::gallery_part`]):
//! a run reads only the pages that can hold its NIKs (see `lookup`). `ikd gallery compact`
//! merges a partition's runs into one.
//!
//! Re-running reads the NIKs already present (all partitions) and embeds only new ones, into
//! new part files. Part files that lack one of the engine's embedders are extended in place:
//! the photo is read again from `photo_path`, checked against `photo_sha256`, embedded with the
//! missing embedders only, and the part file is rewritten atomically with the new column.
//! Rejected NIKs are not in the gallery, so a later build retries them.

use super::encoding::EmbeddingEncoding;
use super::gallery_part::{next_part, read_part, write_part, ModelColumn, Part, Template};
use super::index::province_dir;
use super::lookup::GalleryReader;
use super::paths::{InputDir, PathError};
use super::table::{required, TableReader};
use super::{nik_u64, part_files, remove_stray_tmp};
use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ikd_engine::nik::Nik;
use ikd_engine::{Engine, FacePolicy, Reason};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Settings of a gallery build.
#[derive(Debug, Clone)]
pub struct GalleryBuildConfig {
    /// CSV or Parquet with at least `nik,photo_path` (paths relative to the file).
    pub photos: PathBuf,
    pub out: PathBuf,
    /// Rows read and embedded (in parallel) at a time.
    pub chunk_size: usize,
    /// Buffered templates (all provinces) before part files are written.
    pub flush_rows: usize,
    /// Log a line per chunk to stderr.
    pub verbose: bool,
    /// How new embedding columns store their vectors.
    pub encoding: EmbeddingEncoding,
}

impl GalleryBuildConfig {
    pub fn new(photos: PathBuf, out: PathBuf) -> Self {
        GalleryBuildConfig {
            photos,
            out,
            chunk_size: 512,
            flush_rows: 50_000,
            verbose: false,
            encoding: EmbeddingEncoding::default(),
        }
    }
}

/// What a build did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GalleryBuildReport {
    pub rows: u64,
    pub added: u64,
    pub already_present: u64,
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub added_by_province: BTreeMap<String, u64>,
    /// Existing entries that got the embeddings of embedders they lacked, per model.
    pub extended_by_model: BTreeMap<String, u64>,
    /// Existing entries that could not be extended (photo gone or changed): they keep a null
    /// for that model, and a run reports them as `gallery_model_mismatch`.
    pub not_extended: u64,
    pub files_written: Vec<PathBuf>,
    pub seconds: f64,
}

pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("nik", DataType::Utf8, false),
        Field::new("photo_path", DataType::Utf8, false),
        Field::new("input_row", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]))
}

struct Reject {
    nik: String,
    photo_path: String,
    input_row: u64,
    reason: String,
    detail: String,
}

fn engine_models(engine: &Engine, encoding: EmbeddingEncoding) -> Vec<ModelColumn> {
    engine
        .embedders()
        .map(|e| ModelColumn::new(&e.id, e.dims, encoding))
        .collect()
}

/// The engine configuration for ID photos: `config` without the sharpness gate unless asked.
/// The registry photo is the only reference a citizen has (often a small scan), so a soft
/// photo is embedded anyway and its sharpness stored in the `sharpness` column.
pub fn id_photo_config(mut config: ikd_engine::EngineConfig, sharpness_gate: bool) -> ikd_engine::EngineConfig {
    if !sharpness_gate {
        config.quality.min_sharpness = 0.0;
    }
    config
}

/// Builds or extends the gallery under `cfg.out`.
pub fn build(engine: &Engine, cfg: &GalleryBuildConfig) -> anyhow::Result<GalleryBuildReport> {
    let started = std::time::Instant::now();
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    for p in super::index::provinces_on_disk(&cfg.out)? {
        remove_stray_tmp(&province_dir(&cfg.out, p))?;
    }
    remove_stray_tmp(&cfg.out.join("rejects"))?;
    let mut report = GalleryBuildReport::default();
    extend_existing(engine, cfg, &mut report)?;
    super::compact::finish_interrupted(&cfg.out)?;
    // NIKs already present are found with the same point lookups a run uses (nik column only).
    let mut existing = GalleryReader::open_all(&cfg.out, &[])?;
    let base = InputDir::of_file(&cfg.photos).with_context(|| format!("the directory of {}", cfg.photos.display()))?;
    let mut reader = TableReader::open(&cfg.photos, &[required("nik"), required("photo_path")], cfg.chunk_size)?;
    let mut added_now: HashSet<u64> = HashSet::new();
    let mut buffered: BTreeMap<u8, Vec<Template>> = BTreeMap::new();
    let mut n_buffered = 0usize;
    let mut rejects: Vec<Reject> = Vec::new();
    let mut row_no = 0u64;
    let models = engine_models(engine, cfg.encoding);
    loop {
        let chunk = reader.next_chunk(cfg.chunk_size.max(1))?;
        if chunk.is_empty() {
            break;
        }
        let keys: Vec<u64> = chunk
            .iter()
            .filter_map(|row| Nik::parse(&row[0]).ok())
            .map(|n| nik_u64(&n))
            .collect();
        let present = existing.lookup(&keys)?;
        // Decide sequentially what needs embedding (existing / repeated / invalid NIKs).
        let mut todo: Vec<(u64, Nik, &str, &str)> = Vec::new();
        for row in &chunk {
            row_no += 1;
            let (nik_s, path) = (row[0].as_str(), row[1].as_str());
            report.rows += 1;
            let reject = |reason: &str, detail: String| Reject {
                nik: nik_s.to_string(),
                photo_path: path.to_string(),
                input_row: row_no,
                reason: reason.to_string(),
                detail,
            };
            match Nik::parse(nik_s) {
                Err(e) => rejects.push(reject("invalid_nik", e.to_string())),
                Ok(nik) => {
                    let key = nik_u64(&nik);
                    if present.contains(key) {
                        report.already_present += 1;
                    } else if !added_now.insert(key) {
                        rejects.push(reject(
                            "duplicate_nik",
                            "NIK appears more than once in the input".into(),
                        ));
                    } else {
                        todo.push((row_no, nik, nik_s, path));
                    }
                }
            }
        }
        let results: Vec<Result<(u8, Template), Reject>> = todo
            .par_iter()
            .map(|&(input_row, nik, nik_s, path)| {
                let reject = |reason: &str, detail: String| Reject {
                    nik: nik_s.to_string(),
                    photo_path: path.to_string(),
                    input_row,
                    reason: reason.to_string(),
                    detail,
                };
                if path.trim().is_empty() {
                    return Err(reject("file_not_found", "photo_path is empty".into()));
                }
                // The gallery remembers where the photo lives (canonical, absolute), so that
                // embedders added later can be computed and officers can see the photo.
                let stored_path = match base.resolve(path.trim()) {
                    Ok(p) => p,
                    Err(PathError::Outside(why)) => {
                        return Err(reject(Reason::PathOutsideBase.as_str(), format!("photo_path: {why}")))
                    }
                    Err(PathError::Unreadable(e)) => {
                        return Err(reject("file_not_found", format!("cannot read photo: {e}")))
                    }
                };
                let bytes = match std::fs::read(&stored_path) {
                    Ok(b) => b,
                    Err(e) => return Err(reject("file_not_found", format!("cannot read photo: {e}"))),
                };
                match engine.template(&bytes, FacePolicy::Single) {
                    Ok(t) => Ok((
                        nik.province_code(),
                        Template {
                            nik: nik.to_string(),
                            photo_path: stored_path.to_string_lossy().into_owned(),
                            photo_sha256: t.image.sha256.clone(),
                            detector_model: engine.detector_id().to_owned(),
                            detector_score: t.face.detection.score,
                            inter_eye_px: t.face.quality.inter_eye_px,
                            sharpness: t.face.quality.sharpness,
                            created_at,
                            embeddings: models
                                .iter()
                                .map(|m| t.embedding(&m.model).map(|e| e.as_slice().to_vec()))
                                .collect(),
                        },
                    )),
                    Err(e) => {
                        let code = e.reason().map(|r| r.as_str()).unwrap_or("engine_error");
                        Err(reject(code, e.to_string()))
                    }
                }
            })
            .collect();
        for r in results {
            match r {
                Ok((province, t)) => {
                    buffered.entry(province).or_default().push(t);
                    n_buffered += 1;
                }
                Err(rej) => {
                    added_now.remove(&Nik::parse(&rej.nik).map(|n| nik_u64(&n)).unwrap_or(0));
                    rejects.push(rej);
                }
            }
        }
        if cfg.verbose {
            eprintln!(
                "ikd gallery: {} rows read, {} templates buffered, {} rejects",
                report.rows,
                n_buffered,
                rejects.len()
            );
        }
        if n_buffered >= cfg.flush_rows {
            flush(cfg, &mut buffered, &models, &mut report)?;
            n_buffered = 0;
        }
        if rejects.len() >= cfg.flush_rows {
            flush_rejects(cfg, &mut rejects, created_at, &mut report)?;
        }
    }
    flush(cfg, &mut buffered, &models, &mut report)?;
    flush_rejects(cfg, &mut rejects, created_at, &mut report)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Rewrites every part file that lacks one of the engine's embedders with that embedder's
/// column added: only the missing embedders run, on the photo the entry was built from.
fn extend_existing(engine: &Engine, cfg: &GalleryBuildConfig, report: &mut GalleryBuildReport) -> anyhow::Result<()> {
    let wanted = engine_models(engine, cfg.encoding);
    for p in super::index::provinces_on_disk(&cfg.out)? {
        for file in part_files(&province_dir(&cfg.out, p))? {
            let mut rows = read_part(&file)?;
            let missing: Vec<&ModelColumn> = wanted
                .iter()
                .filter(|w| !rows.models.iter().any(|h| h.model == w.model))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let missing_ids: Vec<&str> = missing.iter().map(|m| m.model.as_str()).collect();
            if cfg.verbose {
                eprintln!(
                    "ikd gallery: extending {} ({} entries) with {}",
                    file.display(),
                    rows.templates.len(),
                    missing_ids.join(", ")
                );
            }
            let computed: Vec<Option<ikd_engine::FaceTemplate>> = rows
                .templates
                .par_iter()
                .map(|t| {
                    let bytes = std::fs::read(&t.photo_path).ok()?;
                    if ikd_engine::sha256_hex(&bytes) != t.photo_sha256 {
                        return None;
                    }
                    engine.template_with(&bytes, FacePolicy::Single, &missing_ids).ok()
                })
                .collect();
            for (t, c) in rows.templates.iter_mut().zip(&computed) {
                match c {
                    Some(c) => {
                        for m in &missing_ids {
                            t.embeddings.push(c.embedding(m).map(|e| e.as_slice().to_vec()));
                            *report.extended_by_model.entry((*m).to_owned()).or_default() += 1;
                        }
                    }
                    None => {
                        report.not_extended += 1;
                        t.embeddings.extend(missing.iter().map(|_| None));
                    }
                }
            }
            rows.models.extend(missing.into_iter().cloned());
            write_part(&file, &rows)?;
            report.files_written.push(file);
        }
    }
    Ok(())
}

fn flush(
    cfg: &GalleryBuildConfig,
    buffered: &mut BTreeMap<u8, Vec<Template>>,
    models: &[ModelColumn],
    report: &mut GalleryBuildReport,
) -> anyhow::Result<()> {
    for (province, mut rows) in std::mem::take(buffered) {
        if rows.is_empty() {
            continue;
        }
        let dir = province_dir(&cfg.out, province);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("part-{:05}.parquet", next_part(&dir)?));
        // Each part file is a run sorted by NIK.
        rows.sort_by(|a, b| a.nik.cmp(&b.nik));
        let n = rows.len() as u64;
        write_part(
            &path,
            &Part {
                models: models.to_vec(),
                templates: rows,
            },
        )?;
        report.added += n;
        *report.added_by_province.entry(format!("{province:02}")).or_default() += n;
        report.files_written.push(path);
    }
    Ok(())
}

fn flush_rejects(
    cfg: &GalleryBuildConfig,
    rejects: &mut Vec<Reject>,
    created_at: i64,
    report: &mut GalleryBuildReport,
) -> anyhow::Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    let rows = std::mem::take(rejects);
    let dir = cfg.out.join("rejects");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("part-{:05}.parquet", next_part(&dir)?));
    let n = rows.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.nik.as_str()))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.photo_path.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.input_row))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.reason.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.detail.as_str()))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(created_at, n)).with_timezone("+00:00"),
        ),
    ];
    super::results::write_parquet_atomic(&path, &RecordBatch::try_new(rejects_schema(), cols)?, None)?;
    for r in &rows {
        *report.rejects_by_reason.entry(r.reason.clone()).or_default() += 1;
    }
    report.rejected += n as u64;
    report.files_written.push(path);
    Ok(())
}

/// Hex SHA-256 over the names and sizes of every part file of the given provinces (used in
/// a run's fingerprint: a gallery extended between a crash and a resume is detected).
pub fn fingerprint(gallery: &Path, provinces: &std::collections::BTreeSet<u8>) -> anyhow::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for &p in provinces {
        if super::storage::is_remote(gallery) {
            for (loc, len) in super::index::remote_part_files(&province_dir(gallery, p))? {
                ctx.update(format!("{p:02}/{}:{len}\n", loc.name()).as_bytes());
            }
            continue;
        }
        for f in part_files(&province_dir(gallery, p))? {
            let len = std::fs::metadata(&f)?.len();
            ctx.update(format!("{p:02}/{}:{len}\n", f.file_name().unwrap_or_default().to_string_lossy()).as_bytes());
        }
    }
    Ok(super::hex(ctx.finish().as_ref()))
}
