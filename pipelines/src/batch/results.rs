//! Arrow schemas of the result, review and outbox tables, and atomic Parquet writes.

use super::storage::{Created, Location};
use super::{create_file, sync_dir, tmp_path};
use anyhow::Context;
use arrow::array::{
    ArrayRef, Float32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray, UInt64Array, UInt8Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use ikd_engine::ModelScore;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// One row of `OUT/results/`: one per input row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultRow {
    pub request_id: String,
    /// The NIK as given in the input (full: results are registry data; logs mask it).
    pub nik: String,
    /// 1-based data row number in the input file (the header is not counted).
    pub input_row: u64,
    /// `match`, `no_match` or `rejected`.
    pub decision: String,
    /// The fused score (mean z-score of the embedders that ran).
    pub score: Option<f32>,
    pub threshold: f32,
    /// `fmr-1e-3`, `fmr-1e-4` or `fmr-1e-5`: what the threshold was calibrated for.
    pub operating_point: String,
    /// Reason code (`Reason::as_str`) for `rejected` rows.
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub detector_model: String,
    /// The matcher that decided (manifest id).
    pub matcher: String,
    /// Each embedder that ran, with its cosine and z-score, in cascade order.
    pub model_scores: Vec<ModelScore>,
    /// How many embedders ran on the selfie (fewer than the matcher has when the cascade
    /// decided early; 0 when the row was refused before embedding).
    pub embedders_used: u8,
    pub selfie_sha256: Option<String>,
    pub gallery_photo_sha256: Option<String>,
    pub run_id: String,
    pub engine_version: String,
    pub decode_ms: Option<f32>,
    pub detect_ms: Option<f32>,
    pub align_ms: Option<f32>,
    pub embed_ms: Option<f32>,
    /// Claim 169 QR text (Base45), `match` rows of a run with `--keys` only.
    pub credential: Option<String>,
    pub credential_kid: Option<String>,
    /// Credential id (CWT `cti`, 32 hex digits): what `ikd credential revoke --id` takes.
    pub credential_id: Option<String>,
    /// Unix seconds.
    pub credential_expires_at: Option<i64>,
    /// Keyed hash of the activation code (never the code itself).
    pub activation_code_hash: Option<String>,
}

/// One row of `OUT/review/`: a row a person must look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewRow {
    pub request_id: String,
    pub nik: String,
    pub input_row: u64,
    pub selfie_path: String,
    pub decision: String,
    pub score: Option<f32>,
    pub threshold: f32,
    pub model_scores: Vec<ModelScore>,
    /// The reason code of a rejected row, or `near_threshold` for a close `no_match`.
    pub review_reason: String,
    pub detail: Option<String>,
    pub run_id: String,
}

/// One row of `OUT/outbox/`: what the mailer sends (plaintext activation code!).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxRow {
    pub request_id: String,
    pub nik: String,
    pub full_name: String,
    pub email: String,
    pub activation_code: String,
    pub credential: String,
    pub credential_kid: String,
    pub credential_expires_at: i64,
    pub run_id: String,
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn model_score_fields() -> Fields {
    Fields::from(vec![
        utf8("model", false),
        Field::new("cosine", DataType::Float32, false),
        Field::new("z", DataType::Float32, false),
    ])
}

fn model_scores_field() -> Field {
    Field::new(
        "model_scores",
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(model_score_fields()),
            false,
        ))),
        false,
    )
}

/// `model_scores`: one list of (model, cosine, z) per row.
fn model_scores_array<'a>(rows: impl Iterator<Item = &'a [ModelScore]>) -> ArrayRef {
    let (mut models, mut cosines, mut zs, mut lengths) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for scores in rows {
        lengths.push(scores.len());
        for s in scores {
            models.push(s.model.as_str());
            cosines.push(s.cosine);
            zs.push(s.z);
        }
    }
    let items = StructArray::new(
        model_score_fields(),
        vec![
            Arc::new(StringArray::from(models)) as ArrayRef,
            Arc::new(Float32Array::from(cosines)),
            Arc::new(Float32Array::from(zs)),
        ],
        None,
    );
    let item = Arc::new(Field::new("item", DataType::Struct(model_score_fields()), false));
    Arc::new(ListArray::new(
        item,
        OffsetBuffer::from_lengths(lengths),
        Arc::new(items),
        None,
    ))
}

pub fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("request_id", false),
        utf8("nik", false),
        Field::new("input_row", DataType::UInt64, false),
        utf8("decision", false),
        Field::new("score", DataType::Float32, true),
        Field::new("threshold", DataType::Float32, false),
        utf8("operating_point", false),
        utf8("reason", true),
        utf8("detail", true),
        utf8("detector_model", false),
        utf8("matcher", false),
        model_scores_field(),
        Field::new("embedders_used", DataType::UInt8, false),
        utf8("selfie_sha256", true),
        utf8("gallery_photo_sha256", true),
        utf8("run_id", false),
        utf8("engine_version", false),
        Field::new("decode_ms", DataType::Float32, true),
        Field::new("detect_ms", DataType::Float32, true),
        Field::new("align_ms", DataType::Float32, true),
        Field::new("embed_ms", DataType::Float32, true),
        utf8("credential", true),
        utf8("credential_kid", true),
        utf8("credential_id", true),
        Field::new("credential_expires_at", DataType::Int64, true),
        utf8("activation_code_hash", true),
    ]))
}

pub fn review_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("request_id", false),
        utf8("nik", false),
        Field::new("input_row", DataType::UInt64, false),
        utf8("selfie_path", false),
        utf8("decision", false),
        Field::new("score", DataType::Float32, true),
        Field::new("threshold", DataType::Float32, false),
        model_scores_field(),
        utf8("review_reason", false),
        utf8("detail", true),
        utf8("run_id", false),
    ]))
}

pub fn outbox_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("request_id", false),
        utf8("nik", false),
        utf8("full_name", false),
        utf8("email", false),
        utf8("activation_code", false),
        utf8("credential", false),
        utf8("credential_kid", false),
        Field::new("credential_expires_at", DataType::Int64, false),
        utf8("run_id", false),
    ]))
}

fn s<T>(rows: &[T], f: impl Fn(&T) -> &str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
}

fn os<T>(rows: &[T], f: impl Fn(&T) -> Option<&str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

fn of32<T>(rows: &[T], f: impl Fn(&T) -> Option<f32>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Float32Array>())
}

pub fn results_batch(rows: &[ResultRow]) -> anyhow::Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        s(rows, |r| &r.request_id),
        s(rows, |r| &r.nik),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.input_row))),
        s(rows, |r| &r.decision),
        of32(rows, |r| r.score),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.threshold))),
        s(rows, |r| &r.operating_point),
        os(rows, |r| r.reason.as_deref()),
        os(rows, |r| r.detail.as_deref()),
        s(rows, |r| &r.detector_model),
        s(rows, |r| &r.matcher),
        model_scores_array(rows.iter().map(|r| r.model_scores.as_slice())),
        Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.embedders_used))),
        os(rows, |r| r.selfie_sha256.as_deref()),
        os(rows, |r| r.gallery_photo_sha256.as_deref()),
        s(rows, |r| &r.run_id),
        s(rows, |r| &r.engine_version),
        of32(rows, |r| r.decode_ms),
        of32(rows, |r| r.detect_ms),
        of32(rows, |r| r.align_ms),
        of32(rows, |r| r.embed_ms),
        os(rows, |r| r.credential.as_deref()),
        os(rows, |r| r.credential_kid.as_deref()),
        os(rows, |r| r.credential_id.as_deref()),
        Arc::new(rows.iter().map(|r| r.credential_expires_at).collect::<Int64Array>()),
        os(rows, |r| r.activation_code_hash.as_deref()),
    ];
    Ok(RecordBatch::try_new(result_schema(), cols)?)
}

pub fn review_batch(rows: &[ReviewRow]) -> anyhow::Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        s(rows, |r| &r.request_id),
        s(rows, |r| &r.nik),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.input_row))),
        s(rows, |r| &r.selfie_path),
        s(rows, |r| &r.decision),
        of32(rows, |r| r.score),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.threshold))),
        model_scores_array(rows.iter().map(|r| r.model_scores.as_slice())),
        s(rows, |r| &r.review_reason),
        os(rows, |r| r.detail.as_deref()),
        s(rows, |r| &r.run_id),
    ];
    Ok(RecordBatch::try_new(review_schema(), cols)?)
}

pub fn outbox_batch(rows: &[OutboxRow]) -> anyhow::Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        s(rows, |r| &r.request_id),
        s(rows, |r| &r.nik),
        s(rows, |r| &r.full_name),
        s(rows, |r| &r.email),
        s(rows, |r| &r.activation_code),
        s(rows, |r| &r.credential),
        s(rows, |r| &r.credential_kid),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.credential_expires_at),
        )),
        s(rows, |r| &r.run_id),
    ];
    Ok(RecordBatch::try_new(outbox_schema(), cols)?)
}

/// Writer settings shared by every table: zstd, statistics on (default).
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build()
}

/// Writes one record batch to `path` as a Parquet file, atomically: a dot-named temp file in
/// the same directory, fsync, rename over `path`, fsync of the directory. A reader (or a
/// restarted run) sees either no file or the complete file, never a torn one.
pub fn write_parquet_atomic(path: &Path, batch: &RecordBatch, mode: Option<u32>) -> anyhow::Result<()> {
    write_parquet_atomic_with(path, batch, mode, writer_properties(), &[])
}

/// [`write_parquet_atomic`] with other writer settings and key-value metadata in the footer.
pub fn write_parquet_atomic_with(
    path: &Path,
    batch: &RecordBatch,
    mode: Option<u32>,
    props: WriterProperties,
    key_values: &[(String, String)],
) -> anyhow::Result<()> {
    let write = || -> anyhow::Result<()> {
        let mut w = AtomicParquetWriter::create_with_mode(path, batch.schema(), props, key_values, mode)?;
        w.write(batch)?;
        w.commit()
    };
    write().with_context(|| format!("writing {}", path.display()))
}

/// A Parquet file written batch by batch into a temp file and renamed into place on
/// [`commit`](Self::commit); dropped uncommitted, it leaves only a temp file that the next
/// run removes (`remove_stray_tmp`).
pub struct AtomicParquetWriter {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    file: std::fs::File,
    writer: ArrowWriter<std::fs::File>,
}

impl AtomicParquetWriter {
    pub fn create(
        path: &Path,
        schema: arrow::datatypes::SchemaRef,
        props: WriterProperties,
        key_values: &[(String, String)],
    ) -> anyhow::Result<Self> {
        Self::create_with_mode(path, schema, props, key_values, None)
    }

    fn create_with_mode(
        path: &Path,
        schema: arrow::datatypes::SchemaRef,
        props: WriterProperties,
        key_values: &[(String, String)],
        mode: Option<u32>,
    ) -> anyhow::Result<Self> {
        let tmp = tmp_path(path);
        let file = create_file(&tmp, mode).with_context(|| format!("creating {}", tmp.display()))?;
        let mut writer = ArrowWriter::try_new(file.try_clone()?, schema, Some(props))?;
        for (k, v) in key_values {
            writer.append_key_value_metadata(parquet::file::metadata::KeyValue::new(k.clone(), v.clone()));
        }
        Ok(AtomicParquetWriter {
            path: path.to_path_buf(),
            tmp,
            file,
            writer,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer.write(batch)?;
        Ok(())
    }

    /// Closes the file, fsyncs it, renames it over the final path and fsyncs the directory.
    pub fn commit(self) -> anyhow::Result<()> {
        self.writer.close()?;
        self.file.sync_all()?;
        drop(self.file);
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming {} to {}", self.tmp.display(), self.path.display()))?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")));
        Ok(())
    }
}

/// The footer key that names what an object commits (`RUN_ID/KIND/shard=I/part-CCCCCC`): how a
/// create-only put that finds its key taken tells an earlier attempt of the same chunk (fine)
/// from another run's or another chunk's object (a conflict).
pub const COMMIT_KEY: &str = "ikd.commit";

/// One record batch as the bytes of a complete Parquet file, with `key_values` in its footer.
pub fn parquet_bytes(batch: &RecordBatch, key_values: &[(String, String)]) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(writer_properties()))?;
    for (k, v) in key_values {
        writer.append_key_value_metadata(parquet::file::metadata::KeyValue::new(k.clone(), v.clone()));
    }
    writer.write(batch)?;
    writer.close()?;
    Ok(buf)
}

/// The [`COMMIT_KEY`] in the footer of a Parquet file's bytes, if it is one and has it.
pub fn commit_id_of(bytes: &bytes::Bytes) -> Option<String> {
    let meta = super::guard_parser(String::new, || {
        Ok(parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(bytes)?)
    })
    .ok()?;
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == COMMIT_KEY)
        .and_then(|kv| kv.value.clone())
}

/// Commits one record batch as the object `loc`, exactly once on storage without rename: one
/// create-only put of the whole encoded file (a reader sees all of it or no object), its
/// footer naming `commit_id`. When the key is taken, the object there is read back: the same
/// `commit_id` is an earlier attempt of this very chunk (a killed or retried shard, two shards
/// given one index, or this put's own try whose reply was lost), and it stands; anything else
/// is a conflict and an error. Returns whether this call created the object.
pub fn commit_parquet_remote(loc: &Location, batch: &RecordBatch, commit_id: &str) -> anyhow::Result<bool> {
    let bytes = parquet_bytes(batch, &[(COMMIT_KEY.to_string(), commit_id.to_string())])?;
    match loc.put_create(bytes::Bytes::from(bytes))? {
        Created::New => Ok(true),
        Created::Existing(there) => match commit_id_of(&there) {
            Some(id) if id == commit_id => Ok(false),
            Some(id) => anyhow::bail!(
                "{loc} exists and commits {id}, not {commit_id}: another run wrote here (use another --out)"
            ),
            None => anyhow::bail!("{loc} exists and is not a part this program committed: refusing to treat it as one"),
        },
    }
}

/// Writes `rows` to a Parquet file (for benches and tools).
pub fn write_results(path: &Path, rows: &[ResultRow]) -> anyhow::Result<()> {
    write_parquet_atomic(path, &results_batch(rows)?, None)
}

/// Reads a table this module wrote back into rows (the review tools and the run report read
/// the run's own output; a file of another schema is refused).
fn read_batches(path: &Path, schema: &SchemaRef) -> anyhow::Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("reading {}", path.display()))?;
    if reader.schema().fields() != schema.fields() {
        anyhow::bail!("{} is not a table of this kind (other columns)", path.display());
    }
    let batches = reader.build()?.collect::<Result<Vec<_>, _>>()?;
    Ok(batches)
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    // The schema was checked against ours, so every column exists with its type.
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .expect("schema checked")
}

fn str_at(batch: &RecordBatch, name: &str, i: usize) -> String {
    col::<StringArray>(batch, name).value(i).to_string()
}

fn opt_str_at(batch: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let a = col::<StringArray>(batch, name);
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn opt_f32_at(batch: &RecordBatch, name: &str, i: usize) -> Option<f32> {
    let a = col::<Float32Array>(batch, name);
    a.is_valid(i).then(|| a.value(i))
}

fn model_scores_at(batch: &RecordBatch, i: usize) -> Vec<ModelScore> {
    let list = col::<ListArray>(batch, "model_scores").value(i);
    let Some(items) = list.as_any().downcast_ref::<StructArray>() else {
        return Vec::new();
    };
    let (Some(models), Some(cosines), Some(zs)) = (
        items.column(0).as_any().downcast_ref::<StringArray>(),
        items.column(1).as_any().downcast_ref::<Float32Array>(),
        items.column(2).as_any().downcast_ref::<Float32Array>(),
    ) else {
        return Vec::new();
    };
    (0..items.len())
        .map(|k| ModelScore {
            model: models.value(k).to_string(),
            cosine: cosines.value(k),
            z: zs.value(k),
        })
        .collect()
}

use arrow::array::Array as _;

/// Reads an `OUT/results/` part file.
pub fn read_results(path: &Path) -> anyhow::Result<Vec<ResultRow>> {
    let mut rows = Vec::new();
    for b in read_batches(path, &result_schema())? {
        for i in 0..b.num_rows() {
            rows.push(ResultRow {
                request_id: str_at(&b, "request_id", i),
                nik: str_at(&b, "nik", i),
                input_row: col::<UInt64Array>(&b, "input_row").value(i),
                decision: str_at(&b, "decision", i),
                score: opt_f32_at(&b, "score", i),
                threshold: col::<Float32Array>(&b, "threshold").value(i),
                operating_point: str_at(&b, "operating_point", i),
                reason: opt_str_at(&b, "reason", i),
                detail: opt_str_at(&b, "detail", i),
                detector_model: str_at(&b, "detector_model", i),
                matcher: str_at(&b, "matcher", i),
                model_scores: model_scores_at(&b, i),
                embedders_used: col::<UInt8Array>(&b, "embedders_used").value(i),
                selfie_sha256: opt_str_at(&b, "selfie_sha256", i),
                gallery_photo_sha256: opt_str_at(&b, "gallery_photo_sha256", i),
                run_id: str_at(&b, "run_id", i),
                engine_version: str_at(&b, "engine_version", i),
                decode_ms: opt_f32_at(&b, "decode_ms", i),
                detect_ms: opt_f32_at(&b, "detect_ms", i),
                align_ms: opt_f32_at(&b, "align_ms", i),
                embed_ms: opt_f32_at(&b, "embed_ms", i),
                credential: opt_str_at(&b, "credential", i),
                credential_kid: opt_str_at(&b, "credential_kid", i),
                credential_id: opt_str_at(&b, "credential_id", i),
                credential_expires_at: {
                    let a = col::<Int64Array>(&b, "credential_expires_at");
                    a.is_valid(i).then(|| a.value(i))
                },
                activation_code_hash: opt_str_at(&b, "activation_code_hash", i),
            });
        }
    }
    Ok(rows)
}

/// Reads an `OUT/review/` part file.
pub fn read_review(path: &Path) -> anyhow::Result<Vec<ReviewRow>> {
    let mut rows = Vec::new();
    for b in read_batches(path, &review_schema())? {
        for i in 0..b.num_rows() {
            rows.push(ReviewRow {
                request_id: str_at(&b, "request_id", i),
                nik: str_at(&b, "nik", i),
                input_row: col::<UInt64Array>(&b, "input_row").value(i),
                selfie_path: str_at(&b, "selfie_path", i),
                decision: str_at(&b, "decision", i),
                score: opt_f32_at(&b, "score", i),
                threshold: col::<Float32Array>(&b, "threshold").value(i),
                model_scores: model_scores_at(&b, i),
                review_reason: str_at(&b, "review_reason", i),
                detail: opt_str_at(&b, "detail", i),
                run_id: str_at(&b, "run_id", i),
            });
        }
    }
    Ok(rows)
}
