//! The gallery's part files: what one holds and how it is written and read back.
//!
//! ```text
//! DIR/province=31/part-00000.parquet   nik, photo_path, photo_sha256, detector_model, detector_score,
//!                                      inter_eye_px, sharpness, created_at, and one column per
//!                                      embedder: emb_<id> (nullable), tagged with the model id
//!                                      (ikd.model) and its encoding (ikd.encoding: f32, f16 or
//!                                      int8, see `encoding`) in its field metadata
//! ```
//!
//! Each part file is one run sorted by NIK, in row groups of [`ROW_GROUP_ROWS`] rows and pages
//! of [`PAGE_ROWS`] rows with the Parquet page index (offset index on every column, column
//! index with min/max on `nik`). A compacted file names the runs it replaces in its footer
//! ([`COMPACTED_FROM_KEY`]). The build (`gallery`), the lookups (`lookup`), compaction
//! (`compact`) and synthetic provinces (`synthetic`) all read and write parts through here.

use super::encoding::{EmbeddingEncoding, ENCODING_KEY};
use super::part_files;
use super::results::write_parquet_atomic_with;
use anyhow::Context;
use arrow::array::{Array, ArrayRef, Float32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Field metadata key that tags an embedding column with its model id.
pub const MODEL_KEY: &str = "ikd.model";

/// The embedding column of a model: `emb_` and the id with `-` as `_`.
pub fn embedding_column(model: &str) -> String {
    format!("emb_{}", model.replace('-', "_"))
}

/// One embedding column of a gallery file: which model, how many values, how stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelColumn {
    pub model: String,
    pub dims: usize,
    pub encoding: EmbeddingEncoding,
}

impl ModelColumn {
    pub fn new(model: &str, dims: usize, encoding: EmbeddingEncoding) -> Self {
        ModelColumn {
            model: model.to_owned(),
            dims,
            encoding,
        }
    }

    fn field(&self) -> Field {
        Field::new(embedding_column(&self.model), self.encoding.data_type(self.dims), true).with_metadata(
            HashMap::from([
                (MODEL_KEY.to_owned(), self.model.clone()),
                (ENCODING_KEY.to_owned(), self.encoding.as_str().to_owned()),
            ]),
        )
    }
}

/// Rows per Parquet row group of a gallery file: its min/max NIK is the first filter, and its
/// page index (read per row group, on demand) the second.
pub const ROW_GROUP_ROWS: usize = 4096;
/// Rows per data page: a point lookup reads one page per column, i.e. this many entries.
pub const PAGE_ROWS: usize = 16;

/// Writer settings of gallery part files: sorted runs with small pages and the page index.
pub fn gallery_writer_properties(models: &[ModelColumn]) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(PAGE_ROWS)
        .set_dictionary_enabled(false)
        // Chunk statistics everywhere; page-level min/max (the column index) on `nik` only.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_column_statistics_enabled(ColumnPath::from("nik"), EnabledStatistics::Page);
    for m in models {
        // Embeddings are noise to a compressor: stored plain, read without decompression.
        let col = embedding_column(&m.model);
        let path = match m.encoding {
            EmbeddingEncoding::F32 => ColumnPath::new(vec![col, "list".into(), "item".into()]),
            _ => ColumnPath::from(col),
        };
        b = b.set_column_compression(path, Compression::UNCOMPRESSED);
    }
    b.build()
}

/// The schema of a gallery part file holding embeddings of `models`.
pub fn gallery_schema(models: &[ModelColumn]) -> SchemaRef {
    let mut fields = vec![
        Field::new("nik", DataType::Utf8, false),
        Field::new("photo_path", DataType::Utf8, false),
        Field::new("photo_sha256", DataType::Utf8, false),
        Field::new("detector_model", DataType::Utf8, false),
        Field::new("detector_score", DataType::Float32, false),
        Field::new("inter_eye_px", DataType::Float32, false),
        Field::new("sharpness", DataType::Float32, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ];
    fields.extend(models.iter().map(ModelColumn::field));
    Arc::new(Schema::new(fields))
}

/// The embedding columns a gallery file schema holds, with their column index.
pub fn embedding_columns(schema: &Schema) -> anyhow::Result<Vec<(ModelColumn, usize)>> {
    let mut out = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if let Some(m) = f.metadata().get(MODEL_KEY) {
            let (encoding, dims) = EmbeddingEncoding::of_field(f)?;
            out.push((ModelColumn::new(m, dims, encoding), i));
        }
    }
    Ok(out)
}

/// One gallery entry on its way to a part file.
pub(crate) struct Template {
    pub(crate) nik: String,
    pub(crate) photo_path: String,
    pub(crate) photo_sha256: String,
    pub(crate) detector_model: String,
    pub(crate) detector_score: f32,
    pub(crate) inter_eye_px: f32,
    pub(crate) sharpness: Option<f32>,
    pub(crate) created_at: i64,
    /// One per model of the file, in its order; `None` where the entry has none.
    pub(crate) embeddings: Vec<Option<Vec<f32>>>,
}

pub(crate) fn next_part(dir: &Path) -> anyhow::Result<u32> {
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

/// A part file's rows, decoded.
pub(crate) struct Part {
    pub(crate) models: Vec<ModelColumn>,
    pub(crate) templates: Vec<Template>,
}

pub(crate) fn read_part(file: &Path) -> anyhow::Result<Part> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file)?)
        .with_context(|| format!("reading {}", file.display()))?;
    let columns = embedding_columns(builder.schema()).with_context(|| format!("reading {}", file.display()))?;
    let models: Vec<ModelColumn> = columns.iter().map(|(m, _)| m.clone()).collect();
    let mut templates = Vec::new();
    for batch in builder.build()? {
        templates.extend(batch_templates(&batch?, &columns).with_context(|| format!("reading {}", file.display()))?);
    }
    Ok(Part { models, templates })
}

/// The entries of one record batch of a part file whose embedding columns are `columns`.
pub(crate) fn batch_templates(batch: &RecordBatch, columns: &[(ModelColumn, usize)]) -> anyhow::Result<Vec<Template>> {
    let s = |name: &str| -> anyhow::Result<StringArray> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
            .with_context(|| format!("no string column {name}"))
    };
    let f = |name: &str| -> anyhow::Result<Float32Array> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<Float32Array>().cloned())
            .with_context(|| format!("no float column {name}"))
    };
    let (nik, path, sha, det) = (s("nik")?, s("photo_path")?, s("photo_sha256")?, s("detector_model")?);
    let (score, eyes, sharp) = (f("detector_score")?, f("inter_eye_px")?, f("sharpness")?);
    let created = batch
        .column_by_name("created_at")
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>().cloned())
        .context("no created_at")?;
    Ok((0..batch.num_rows())
        .map(|r| Template {
            nik: nik.value(r).to_owned(),
            photo_path: path.value(r).to_owned(),
            photo_sha256: sha.value(r).to_owned(),
            detector_model: det.value(r).to_owned(),
            detector_score: score.value(r),
            inter_eye_px: eyes.value(r),
            sharpness: sharp.is_valid(r).then(|| sharp.value(r)),
            created_at: created.value(r),
            embeddings: columns
                .iter()
                .map(|(m, i)| m.encoding.decode(batch.column(*i).as_ref(), m.dims, r))
                .collect(),
        })
        .collect())
}

/// The record batch of gallery entries (one column per model of `models`).
pub(crate) fn templates_batch(models: &[ModelColumn], rows: &[Template]) -> anyhow::Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|t| t.nik.as_str()))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|t| t.photo_path.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|t| t.photo_sha256.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|t| t.detector_model.as_str()),
        )),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|t| t.detector_score))),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|t| t.inter_eye_px))),
        Arc::new(rows.iter().map(|t| t.sharpness).collect::<Float32Array>()),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|t| t.created_at)).with_timezone("+00:00"),
        ),
    ];
    for (k, m) in models.iter().enumerate() {
        let vectors: Vec<Option<&[f32]>> = rows
            .iter()
            .map(|t| t.embeddings.get(k).and_then(|e| e.as_deref()))
            .collect();
        cols.push(m.encoding.encode_column(m.dims, &vectors)?);
    }
    Ok(RecordBatch::try_new(gallery_schema(models), cols)?)
}

pub(crate) fn write_part(path: &Path, part: &Part) -> anyhow::Result<()> {
    let batch = templates_batch(&part.models, &part.templates)?;
    write_parquet_atomic_with(path, &batch, None, gallery_writer_properties(&part.models), &[])
}

/// A synthetic gallery entry (for scale measurements: `ikd gallery synthesize`).
pub struct SyntheticEntry {
    pub nik: String,
    /// One per model, in the writer's order.
    pub embeddings: Vec<Vec<f32>>,
}

/// Writes one sorted run of synthetic entries (already sorted by NIK) to `path`, streaming
/// row group by row group.
pub fn write_synthetic_part(
    path: &Path,
    models: &[ModelColumn],
    entries: impl Iterator<Item = SyntheticEntry>,
) -> anyhow::Result<u64> {
    let created_at = super::unix_now() as i64 * 1_000_000;
    let mut writer = super::results::AtomicParquetWriter::create(
        path,
        gallery_schema(models),
        gallery_writer_properties(models),
        &[],
    )?;
    let mut buf = Vec::with_capacity(ROW_GROUP_ROWS);
    let mut n = 0u64;
    let mut last: Option<String> = None;
    for e in entries {
        anyhow::ensure!(
            last.as_ref().is_none_or(|l| *l < e.nik),
            "synthetic entries must come sorted by NIK and unique"
        );
        last = Some(e.nik.clone());
        let sha = ikd_engine::sha256_hex(e.nik.as_bytes());
        buf.push(Template {
            nik: e.nik,
            photo_path: "synthetic".into(),
            photo_sha256: sha,
            detector_model: "synthetic".into(),
            detector_score: 1.0,
            inter_eye_px: 60.0,
            sharpness: None,
            created_at,
            embeddings: e.embeddings.into_iter().map(Some).collect(),
        });
        if buf.len() == ROW_GROUP_ROWS {
            writer.write(&templates_batch(models, &buf)?)?;
            n += buf.len() as u64;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        writer.write(&templates_batch(models, &buf)?)?;
        n += buf.len() as u64;
    }
    writer.commit()?;
    Ok(n)
}

/// Footer key of a compacted part file: the comma-separated names of the runs it replaces.
pub const COMPACTED_FROM_KEY: &str = "ikd.compacted_from";

/// The runs a part file's footer says it replaces (`ikd.compacted_from`).
pub fn compacted_from(meta: &parquet::file::metadata::FileMetaData) -> Vec<String> {
    meta.key_value_metadata()
        .into_iter()
        .flatten()
        .filter(|kv| kv.key == COMPACTED_FROM_KEY)
        .filter_map(|kv| kv.value.as_deref())
        .flat_map(|v| v.split(','))
        .map(str::to_owned)
        .collect()
}
