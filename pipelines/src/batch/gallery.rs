//! `ikd gallery build`: KTP-el photos -> templates in province-partitioned Parquet.
//!
//! ```text
//! DIR/province=31/part-00000.parquet   nik, embedding (FixedSizeList<Float32, dims>), embedder_model,
//!                                      detector_model, detector_score, inter_eye_px, sharpness,
//!                                      photo_sha256, created_at
//! DIR/rejects/part-00000.parquet       nik, photo_path, input_row, reason, detail, created_at
//! ```
//!
//! Re-running reads the NIKs already present (all partitions) and embeds only new ones, into
//! new part files. Rejected NIKs are not in the gallery, so a later build retries them.

use super::index::province_dir;
use super::table::{required, TableReader};
use super::{hex, nik_u64, part_files, remove_stray_tmp, results::write_parquet_atomic};
use anyhow::Context;
use arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ikd_engine::nik::Nik;
use ikd_engine::{Engine, FacePolicy};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
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
}

impl GalleryBuildConfig {
    pub fn new(photos: PathBuf, out: PathBuf) -> Self {
        GalleryBuildConfig {
            photos,
            out,
            chunk_size: 512,
            flush_rows: 50_000,
            verbose: false,
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
    pub files_written: Vec<PathBuf>,
    pub seconds: f64,
}

pub fn gallery_schema(dims: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("nik", DataType::Utf8, false),
        Field::new(
            "embedding",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), dims as i32),
            false,
        ),
        Field::new("embedder_model", DataType::Utf8, false),
        Field::new("detector_model", DataType::Utf8, false),
        Field::new("detector_score", DataType::Float32, false),
        Field::new("inter_eye_px", DataType::Float32, false),
        Field::new("sharpness", DataType::Float32, true),
        Field::new("photo_sha256", DataType::Utf8, false),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]))
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

struct Template {
    nik: String,
    embedding: Vec<f32>,
    detector_score: f32,
    inter_eye_px: f32,
    sharpness: Option<f32>,
    photo_sha256: String,
}

struct Reject {
    nik: String,
    photo_path: String,
    input_row: u64,
    reason: String,
    detail: String,
}

/// NIKs already in the gallery (every partition), sorted.
pub fn existing_niks(out: &Path) -> anyhow::Result<Vec<u64>> {
    let mut niks = Vec::new();
    for p in super::index::provinces_on_disk(out)? {
        for file in part_files(&province_dir(out, p))? {
            let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?;
            let i = builder
                .schema()
                .index_of("nik")
                .with_context(|| format!("{}: no nik column", file.display()))?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), [i]);
            for batch in builder.with_projection(mask).build()? {
                let batch = batch?;
                let col = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .context("nik is not a string")?;
                niks.extend(
                    col.iter()
                        .flatten()
                        .filter_map(|s| Nik::parse(s).ok())
                        .map(|n| nik_u64(&n)),
                );
            }
        }
    }
    niks.sort_unstable();
    niks.dedup();
    Ok(niks)
}

fn next_part(dir: &Path) -> anyhow::Result<u32> {
    let mut next = 0;
    for f in part_files(dir)? {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(n) = name.strip_prefix("part-").and_then(|n| n.parse::<u32>().ok()) {
            next = next.max(n + 1);
        }
    }
    Ok(next)
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
    let existing = existing_niks(&cfg.out)?;
    let base = cfg.photos.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut reader = TableReader::open(&cfg.photos, &[required("nik"), required("photo_path")], cfg.chunk_size)?;
    let mut report = GalleryBuildReport::default();
    let mut added_now: HashSet<u64> = HashSet::new();
    let mut buffered: BTreeMap<u8, Vec<Template>> = BTreeMap::new();
    let mut n_buffered = 0usize;
    let mut rejects: Vec<Reject> = Vec::new();
    let mut row_no = 0u64;
    let dims = engine.embedding_dims();
    loop {
        let chunk = reader.next_chunk(cfg.chunk_size.max(1))?;
        if chunk.is_empty() {
            break;
        }
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
                    if existing.binary_search(&key).is_ok() {
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
                let bytes = match std::fs::read(base.join(path)) {
                    Ok(b) => b,
                    Err(e) => return Err(reject("file_not_found", format!("cannot read photo: {e}"))),
                };
                match engine.template(&bytes, FacePolicy::Single) {
                    Ok(t) => {
                        if t.embedding.len() != dims {
                            return Err(reject("gallery_model_mismatch", "embedding length differs".into()));
                        }
                        Ok((
                            nik.province_code(),
                            Template {
                                nik: nik.to_string(),
                                embedding: t.embedding.as_slice().to_vec(),
                                detector_score: t.face.detection.score,
                                inter_eye_px: t.face.quality.inter_eye_px,
                                sharpness: t.face.quality.sharpness,
                                photo_sha256: t.image.sha256,
                            },
                        ))
                    }
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
            flush(engine, cfg, &mut buffered, created_at, dims, &mut report)?;
            n_buffered = 0;
        }
        if rejects.len() >= cfg.flush_rows {
            flush_rejects(cfg, &mut rejects, created_at, &mut report)?;
        }
    }
    flush(engine, cfg, &mut buffered, created_at, dims, &mut report)?;
    flush_rejects(cfg, &mut rejects, created_at, &mut report)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn flush(
    engine: &Engine,
    cfg: &GalleryBuildConfig,
    buffered: &mut BTreeMap<u8, Vec<Template>>,
    created_at: i64,
    dims: usize,
    report: &mut GalleryBuildReport,
) -> anyhow::Result<()> {
    for (province, rows) in std::mem::take(buffered) {
        if rows.is_empty() {
            continue;
        }
        let dir = province_dir(&cfg.out, province);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("part-{:05}.parquet", next_part(&dir)?));
        let values = Float32Array::from_iter_values(rows.iter().flat_map(|t| t.embedding.iter().copied()));
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let emb = FixedSizeListArray::try_new(item, dims as i32, Arc::new(values), None)?;
        let n = rows.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|t| t.nik.as_str()))),
            Arc::new(emb),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                engine.embedder_id(),
                n,
            ))),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                engine.detector_id(),
                n,
            ))),
            Arc::new(Float32Array::from_iter_values(rows.iter().map(|t| t.detector_score))),
            Arc::new(Float32Array::from_iter_values(rows.iter().map(|t| t.inter_eye_px))),
            Arc::new(rows.iter().map(|t| t.sharpness).collect::<Float32Array>()),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|t| t.photo_sha256.as_str()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(created_at, n)).with_timezone("+00:00"),
            ),
        ];
        let batch = RecordBatch::try_new(gallery_schema(dims), cols)?;
        write_parquet_atomic(&path, &batch, None)?;
        report.added += n as u64;
        *report.added_by_province.entry(format!("{province:02}")).or_default() += n as u64;
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
    write_parquet_atomic(&path, &RecordBatch::try_new(rejects_schema(), cols)?, None)?;
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
        for f in part_files(&province_dir(gallery, p))? {
            let len = std::fs::metadata(&f)?.len();
            ctx.update(format!("{p:02}/{}:{len}\n", f.file_name().unwrap_or_default().to_string_lossy()).as_bytes());
        }
    }
    Ok(hex(ctx.finish().as_ref()))
}
