//! `ikd run`: the nightly verification job. Chunked, parallel inside a chunk, resumable and
//! exactly-once (see docs/batch.md, "Resume").
//!
//! ```text
//! OUT/run.json                              run id, fingerprint of the arguments, issued_at
//! OUT/results/shard=I/part-CCCCCC.parquet   one file per input chunk (the commit marker)
//! OUT/review/shard=I/part-CCCCCC.parquet    rows for a person (rejected, near-threshold)
//! OUT/outbox/shard=I/part-CCCCCC.parquet    activation codes for the mailer (0600, dir 0700)
//! OUT/summary.json                          (OUT/summary-shard-I-of-N.json when sharded)
//! ```

use super::index::provinces_on_disk;
use super::lookup::{ChunkGallery, GalleryReader};
use super::paths::{InputDir, PathError};
use super::results::{
    outbox_batch, results_batch, review_batch, write_parquet_atomic, OutboxRow, ResultRow, ReviewRow,
};
use super::shard::Shard;
use super::table::{optional, required, TableReader};
use super::{create_dir, hash64, hex, nik_u64, part_files, peak_rss_bytes, remove_stray_tmp, sha256_file, UsageError};
use anyhow::Context;
use arrow::array::{Array, Float32Array, StringArray, UInt8Array};
use ikd_engine::credential::{
    ActivationSecret, CredentialIssuer, EncryptionKey, Gender, Identity, IssuerKey, Photo, PhotoFormat,
};
use ikd_engine::nik::{Nik, NikError};
use ikd_engine::{Decision, Embedding, Engine, ModelEmbedding, Reason, ENGINE_VERSION};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    Auto,
    /// Log lines only.
    Lines,
    /// Nothing.
    Quiet,
}

/// Settings of one run (of one shard).
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub requests: PathBuf,
    pub gallery: PathBuf,
    pub out: PathBuf,
    /// Key directory (`ikd keys generate`): issue credentials + activation codes for `match`.
    pub keys: Option<PathBuf>,
    /// AES key file (`ikd keys generate --kind aes256`): issue encrypted credentials.
    pub encrypt_key: Option<PathBuf>,
    /// Put the holder's portrait (from the gallery entry's KTP-el photo) into each credential,
    /// JPEG-compressed to at most this many bytes. `None`: no photo.
    pub photo_budget: Option<usize>,
    /// Directory that every `selfie_path` must lie in (relative paths are relative to it).
    /// Default: the requests file's directory.
    pub selfie_dir: Option<PathBuf>,
    pub chunk_size: usize,
    pub shard: Shard,
    pub threads: Option<usize>,
    /// CWT `iss` of issued credentials.
    pub issuer: String,
    pub validity_days: u64,
    /// `no_match` rows whose fused score lies within this distance below the threshold go to
    /// review (fused-score units).
    pub review_margin: f32,
    /// `iat` of the credentials; default: the time the run first started (kept in run.json).
    pub issued_at: Option<u64>,
    pub progress: ProgressMode,
    /// Byte budget of the gallery's page-index cache (see `lookup`).
    pub gallery_cache_bytes: usize,
}

impl RunConfig {
    pub fn new(requests: PathBuf, gallery: PathBuf, out: PathBuf) -> Self {
        RunConfig {
            requests,
            gallery,
            out,
            keys: None,
            encrypt_key: None,
            photo_budget: None,
            selfie_dir: None,
            chunk_size: 512,
            shard: Shard::default(),
            threads: None,
            issuer: "https://ikd.example.id".into(),
            validity_days: 5 * 365,
            gallery_cache_bytes: super::lookup::DEFAULT_CACHE_BYTES,
            review_margin: 1.0,
            issued_at: None,
            progress: ProgressMode::Auto,
        }
    }
}

/// What a run must not change between a crash and its resume. Shared by all shards (the shard
/// index is not part of it), so every shard of a job computes the same run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub input_sha256: String,
    pub gallery_fingerprint: String,
    pub chunk_size: usize,
    pub shards: u32,
    pub detector_model: String,
    pub matcher: String,
    /// The embedders that decide, in cascade order.
    pub embedders: Vec<String>,
    pub operating_point: String,
    pub cascade: bool,
    pub threshold: f32,
    pub engine_version: String,
    pub credential_kid: Option<String>,
    /// Kid of the AES key credentials are encrypted with (absent: signed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_kid: Option<String>,
    /// Byte budget of the holder's portrait in credentials (absent: no photo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_budget: Option<usize>,
    /// `--selfie-dir`, canonical (absent: the requests file's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selfie_dir: Option<String>,
    pub issuer: Option<String>,
    pub validity_days: Option<u64>,
    pub review_margin: f32,
    pub issued_at: Option<u64>,
}

/// `OUT/run.json`, written once by the first process of a run (atomically, no-replace).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub fingerprint: Fingerprint,
    /// `iat` of every credential of the run: fixed at first start so a resume re-issues
    /// byte-identical Ed25519 credentials.
    pub issued_at: u64,
    pub created_at: u64,
}

/// The result of [`run`].
#[derive(Debug)]
pub struct RunOutcome {
    pub summary: serde_json::Value,
    pub summary_path: PathBuf,
    /// Chunks that hit an engine fault (not committed; a rerun retries them).
    pub failed_chunks: Vec<u64>,
}

/// The identity hasher for already-hashed keys (the duplicate set stores 64-bit hashes).
#[derive(Default)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type SeenSet = HashSet<u64, BuildHasherDefault<U64Hasher>>;

fn request_key(request_id: &str) -> u64 {
    hash64(b"ikd/request_id", request_id.as_bytes())
}

/// The columns of a requests file (also read by the fuzz target `requests_table`).
pub const REQUEST_COLUMNS: [super::table::Column; 7] = [
    required("request_id"),
    required("nik"),
    required("selfie_path"),
    optional("full_name"),
    optional("date_of_birth"),
    optional("gender"),
    optional("email"),
];

struct Work<'a> {
    row: &'a [String],
    input_row: u64,
    nik: Result<Nik, NikError>,
    duplicate: bool,
}

#[derive(Default)]
struct Processed {
    result: ResultRow,
    review: Option<ReviewRow>,
    outbox: Option<OutboxRow>,
}

struct Ctx<'a> {
    engine: &'a Engine,
    base: super::paths::InputDir,
    run_id: String,
    issuer: Option<&'a CredentialIssuer>,
    secret: Option<&'a ActivationSecret>,
    issued_at: u64,
    review_margin: f32,
    photo_budget: Option<usize>,
}

fn state_path(out: &Path) -> PathBuf {
    out.join("run.json")
}

/// Reads `run.json` or creates it atomically (hard link of a complete temp file, which fails
/// if another shard created it first; then that one is read). Refuses a different fingerprint.
fn open_state(out: &Path, fp: &Fingerprint) -> anyhow::Result<(RunState, bool)> {
    let path = state_path(out);
    let read = || -> anyhow::Result<RunState> {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    };
    let check = |state: RunState| -> anyhow::Result<RunState> {
        if &state.fingerprint != fp {
            let a = serde_json::to_value(&state.fingerprint)?;
            let b = serde_json::to_value(fp)?;
            let diff: Vec<String> = match (a.as_object(), b.as_object()) {
                (Some(a), Some(b)) => a
                    .iter()
                    .filter(|(k, v)| b.get(*k) != Some(*v))
                    .map(|(k, v)| format!("{k}: was {v}, now {}", b[k]))
                    .collect(),
                _ => vec![],
            };
            return Err(UsageError(format!(
                "{} belongs to run {} with other arguments or input ({}); use another --out to start a new run",
                out.display(),
                state.run_id,
                diff.join("; ")
            ))
            .into());
        }
        Ok(state)
    };
    if path.exists() {
        return Ok((check(read()?)?, true));
    }
    // The run id leaves the shard count out: N shards of a job and one single run of the same
    // input and arguments carry the same run id (the table is the same).
    let fp_bytes = serde_json::to_vec(&Fingerprint {
        shards: 0,
        ..fp.clone()
    })?;
    let run_id = format!("run-{}", &ikd_engine::sha256_hex(&fp_bytes)[..16]);
    let now = super::unix_now();
    let state = RunState {
        run_id,
        fingerprint: fp.clone(),
        issued_at: fp.issued_at.unwrap_or(now),
        created_at: now,
    };
    let tmp = out.join(format!(".run.json.{}.tmp", std::process::id()));
    super::write_atomic(&tmp, serde_json::to_string_pretty(&state)?.as_bytes(), None)
        .with_context(|| format!("writing {}", path.display()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            super::sync_dir(out);
            Ok((state, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((check(read()?)?, true)),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn gender(s: &str) -> Option<Gender> {
    match s.trim().to_ascii_lowercase().as_str() {
        "male" | "m" | "l" | "laki-laki" | "pria" => Some(Gender::Male),
        "female" | "f" | "p" | "perempuan" | "wanita" => Some(Gender::Female),
        "" => None,
        _ => Some(Gender::Other),
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn ms(d: Duration) -> f32 {
    (d.as_secs_f64() * 1e3) as f32
}

/// The most alphanumeric characters a QR code holds (version 40, EC level M): a longer
/// credential cannot be shown, so it is not issued.
pub const MAX_QR_CHARS: usize = 3391;

/// The holder's portrait for a credential, from the KTP-el photo the gallery entry was built
/// from (checked against the entry's SHA-256, so a replaced file is refused).
fn holder_photo(engine: &Engine, path: Option<&str>, sha256: &[u8; 32], budget: usize) -> Result<Photo, String> {
    let path = path.ok_or("holder photo: the gallery entry has no photo_path")?;
    let bytes = std::fs::read(path).map_err(|e| format!("holder photo: cannot read the KTP-el photo: {e}"))?;
    if ikd_engine::sha256_hex(&bytes) != hex(sha256) {
        return Err("holder photo: the KTP-el photo changed since the gallery was built".into());
    }
    let portrait = engine
        .portrait(&bytes, ikd_engine::FacePolicy::Single, budget)
        .map_err(|e| format!("holder photo: {e}"))?;
    Ok(Photo {
        format: PhotoFormat::Jpeg,
        bytes: portrait.jpeg,
    })
}

fn process_row(ctx: &Ctx<'_>, gallery: &ChunkGallery, w: &Work<'_>) -> anyhow::Result<Processed> {
    let e = ctx.engine;
    let row = w.row;
    let mut r = ResultRow {
        request_id: row[0].clone(),
        nik: row[1].clone(),
        input_row: w.input_row,
        decision: Decision::Rejected.as_str().into(),
        threshold: e.threshold(),
        operating_point: e.operating_point().as_str().into(),
        detector_model: e.detector_id().into(),
        matcher: e.matcher_id().into(),
        run_id: ctx.run_id.clone(),
        engine_version: ENGINE_VERSION.into(),
        ..Default::default()
    };
    let reject = |r: &mut ResultRow, reason: Reason, detail: String| {
        r.decision = Decision::Rejected.as_str().into();
        r.reason = Some(reason.as_str().into());
        r.detail = Some(detail);
    };
    let mut identity = None;
    if w.duplicate {
        reject(
            &mut r,
            Reason::DuplicateRequest,
            "request_id already seen at an earlier input row".into(),
        );
    } else {
        match &w.nik {
            Err(err) => reject(&mut r, Reason::InvalidNik, err.to_string()),
            Ok(nik) => match gallery.get(nik_u64(nik)) {
                None => reject(
                    &mut r,
                    Reason::NotInGallery,
                    "NIK has no template in the gallery".into(),
                ),
                Some(entry) => {
                    r.gallery_photo_sha256 = Some(hex(entry.photo_sha256));
                    let reference: Option<Vec<ModelEmbedding>> = e
                        .embedders()
                        .zip(&entry.embeddings)
                        .map(|(info, emb)| {
                            Some(ModelEmbedding {
                                model: info.id.clone(),
                                embedding: Embedding::from_raw((*emb)?)?,
                            })
                        })
                        .collect();
                    match reference {
                        Some(reference) => {
                            verify(ctx, &mut r, row, &reference)?;
                            if r.decision == Decision::Match.as_str() {
                                identity = Some((
                                    nik.to_string(),
                                    entry.photo_path.map(str::to_owned),
                                    *entry.photo_sha256,
                                ));
                            }
                        }
                        None => {
                            let missing: Vec<&str> = e
                                .embedders()
                                .zip(&entry.embeddings)
                                .filter(|(_, emb)| emb.is_none())
                                .map(|(info, _)| info.id.as_str())
                                .collect();
                            reject(
                                &mut r,
                                Reason::GalleryModelMismatch,
                                format!(
                                    "the gallery entry has no {} embedding; extend the gallery with `ikd gallery build`",
                                    missing.join(", ")
                                ),
                            )
                        }
                    }
                }
            },
        }
    }
    let mut out = Processed::default();
    if let (Some((nik, photo_path, photo_sha256)), Some(issuer), Some(secret)) = (identity, ctx.issuer, ctx.secret) {
        let photo = match ctx.photo_budget {
            None => Ok(None),
            Some(budget) => holder_photo(ctx.engine, photo_path.as_deref(), &photo_sha256, budget).map(Some),
        };
        let id = Identity {
            id: nik.clone(),
            full_name: row[3].trim().to_string(),
            date_of_birth: non_empty(&row[4]),
            gender: gender(&row[5]),
            email: non_empty(&row[6]),
            photo: photo.as_ref().ok().cloned().flatten(),
            ..Default::default()
        };
        let credential_id = secret.credential_id(&r.request_id);
        match photo.and_then(|_| {
            issuer
                .issue_with_id(&id, ctx.issued_at, &credential_id)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    if c.text.len() <= MAX_QR_CHARS {
                        Ok(c)
                    } else {
                        Err(format!(
                            "{} characters do not fit a QR code ({MAX_QR_CHARS} at EC level M); lower --photo-budget",
                            c.text.len()
                        ))
                    }
                })
        }) {
            Ok(c) => {
                let code = secret.code(&r.request_id, &nik);
                r.activation_code_hash = Some(secret.stored_hash(&r.request_id, &nik, &code));
                r.credential = Some(c.text.clone());
                r.credential_kid = Some(c.kid.clone());
                r.credential_id = Some(credential_id.to_string());
                r.credential_expires_at = Some(c.expires_at as i64);
                out.outbox = Some(OutboxRow {
                    request_id: r.request_id.clone(),
                    nik,
                    full_name: id.full_name.clone(),
                    email: id.email.clone().unwrap_or_default(),
                    activation_code: code.as_str().to_string(),
                    credential: c.text,
                    credential_kid: c.kid,
                    credential_expires_at: c.expires_at as i64,
                    run_id: ctx.run_id.clone(),
                });
            }
            Err(err) => r.detail = Some(format!("credential not issued: {err}")),
        }
    }
    let review_reason = match (r.decision.as_str(), r.score) {
        ("rejected", _) => r.reason.clone(),
        ("no_match", Some(s)) if s >= r.threshold - ctx.review_margin => Some("near_threshold".into()),
        ("match", _) if ctx.issuer.is_some() && r.credential.is_none() => Some("credential_not_issued".into()),
        _ => None,
    };
    out.review = review_reason.map(|review_reason| ReviewRow {
        request_id: r.request_id.clone(),
        nik: r.nik.clone(),
        input_row: r.input_row,
        selfie_path: row[2].clone(),
        decision: r.decision.clone(),
        score: r.score,
        threshold: r.threshold,
        model_scores: r.model_scores.clone(),
        review_reason,
        detail: r.detail.clone(),
        run_id: r.run_id.clone(),
    });
    out.result = r;
    Ok(out)
}

/// Reads the selfie and runs the engine; file problems and refusals become reasons.
fn verify(ctx: &Ctx<'_>, r: &mut ResultRow, row: &[String], reference: &[ModelEmbedding]) -> anyhow::Result<()> {
    let e = ctx.engine;
    let rel = row[2].trim();
    let reject = |r: &mut ResultRow, reason: Reason, detail: String| {
        r.decision = Decision::Rejected.as_str().into();
        r.reason = Some(reason.as_str().into());
        r.detail = Some(detail);
    };
    if rel.is_empty() {
        reject(r, Reason::FileNotFound, "selfie_path is empty".into());
        return Ok(());
    }
    let path = match ctx.base.resolve(rel) {
        Ok(p) => p,
        Err(PathError::Outside(why)) => {
            reject(r, Reason::PathOutsideBase, format!("selfie_path: {why}"));
            return Ok(());
        }
        Err(PathError::Unreadable(err)) => {
            reject(r, Reason::FileNotFound, format!("selfie file: {err}"));
            return Ok(());
        }
    };
    let max = e.config().limits.max_bytes as u64;
    match std::fs::metadata(&path) {
        Err(err) => {
            reject(r, Reason::FileNotFound, format!("selfie file: {err}"));
            return Ok(());
        }
        Ok(m) if !m.is_file() => {
            reject(r, Reason::FileNotFound, "selfie path is not a regular file".into());
            return Ok(());
        }
        Ok(m) if m.len() > max => {
            reject(
                r,
                Reason::ImageTooLarge,
                format!("selfie file has {} bytes, limit {max}", m.len()),
            );
            return Ok(());
        }
        Ok(_) => {}
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(err) => {
            reject(r, Reason::FileNotFound, format!("selfie file: {err}"));
            return Ok(());
        }
    };
    r.selfie_sha256 = Some(ikd_engine::sha256_hex(&bytes));
    let (verdict, analysis) = e
        .verify_embeddings(&bytes, reference)
        .map_err(|err| anyhow::anyhow!("engine fault: {err}"))?;
    r.decision = verdict.decision.as_str().into();
    r.score = verdict.score;
    r.threshold = verdict.threshold;
    r.operating_point = verdict.operating_point.as_str().into();
    r.reason = verdict.reason.map(|x| x.as_str().to_string());
    r.detail = verdict.detail;
    r.detector_model = verdict.detector_model;
    r.matcher = verdict.matcher;
    r.embedders_used = verdict.model_scores.len() as u8;
    r.model_scores = verdict.model_scores;
    let t = analysis.timings;
    r.decode_ms = Some(ms(t.decode));
    r.detect_ms = Some(ms(t.detect));
    r.align_ms = Some(ms(t.align));
    r.embed_ms = Some(ms(t.embed));
    Ok(())
}

struct Progress {
    bar: Option<indicatif::ProgressBar>,
    mode: ProgressMode,
    last_line: Instant,
    started: Instant,
    total: u64,
    done: u64,
    processed_now: u64,
    label: String,
}

impl Progress {
    fn new(mode: ProgressMode, total: u64, label: String) -> Progress {
        let bar = (mode == ProgressMode::Auto && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix} {elapsed_precise} [{wide_bar}] {pos}/{len} rows  {per_sec}  ETA {eta}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(label.clone());
            bar
        });
        Progress {
            bar,
            mode,
            last_line: Instant::now() - Duration::from_secs(60),
            started: Instant::now(),
            total,
            done: 0,
            processed_now: 0,
            label,
        }
    }

    fn log(&self, msg: &str) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(msg),
            (None, ProgressMode::Quiet) => {}
            (None, _) => eprintln!("{msg}"),
        }
    }

    fn advance(&mut self, rows: u64, processed: bool, chunk: u64, chunks: u64) {
        self.done += rows;
        if processed {
            self.processed_now += rows;
        }
        if let Some(bar) = &self.bar {
            if processed {
                bar.inc(rows);
            } else {
                // Rows committed by an earlier attempt: move the bar without counting them in the rate.
                bar.set_position(self.done);
                bar.reset_eta();
            }
            return;
        }
        if self.mode == ProgressMode::Quiet {
            return;
        }
        let last = chunk + 1 == chunks;
        if self.last_line.elapsed() < Duration::from_secs(5) && !last {
            return;
        }
        self.last_line = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = self.processed_now as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0} s", (self.total - self.done) as f64 / rate)
        } else {
            "?".into()
        };
        eprintln!(
            "{}: chunk {}/{chunks}: {}/{} rows, {rate:.1} rows/s, ETA {eta}",
            self.label,
            chunk + 1,
            self.done,
            self.total
        );
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Runs (or resumes) one shard of a verification job.
pub fn run(engine: &Engine, cfg: &RunConfig) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let chunk_size = cfg.chunk_size.max(1);
    if !cfg.requests.is_file() {
        return Err(UsageError(format!("requests file {} does not exist", cfg.requests.display())).into());
    }
    if !cfg.gallery.is_dir() {
        return Err(UsageError(format!("gallery {} is not a directory", cfg.gallery.display())).into());
    }
    let (issuer, secret) = match &cfg.keys {
        Some(dir) => {
            let key =
                IssuerKey::load(dir).with_context(|| format!("loading the signing key from {}", dir.display()))?;
            let secret = ActivationSecret::load(dir)
                .with_context(|| format!("loading the activation secret from {}", dir.display()))?;
            let validity = Duration::from_secs(cfg.validity_days.saturating_mul(86_400));
            let mut issuer = CredentialIssuer::new(key, cfg.issuer.clone(), validity);
            if let Some(file) = &cfg.encrypt_key {
                let key = EncryptionKey::load(file)
                    .with_context(|| format!("loading the encryption key from {}", file.display()))?;
                issuer = issuer.with_encryption(key);
            }
            (Some(issuer), Some(secret))
        }
        None if cfg.encrypt_key.is_some() => {
            return Err(UsageError("--encrypt-key needs --keys (the signing keys)".into()).into());
        }
        None if cfg.photo_budget.is_some() => {
            return Err(UsageError("--photo-budget needs --keys (it is a credential's photo)".into()).into());
        }
        None => (None, None),
    };
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;

    let all_provinces = provinces_on_disk(&cfg.gallery)?;
    let selfie_dir = match &cfg.selfie_dir {
        Some(dir) => InputDir::new(dir).with_context(|| format!("selfie directory {}", dir.display()))?,
        None => {
            InputDir::of_file(&cfg.requests).with_context(|| format!("the directory of {}", cfg.requests.display()))?
        }
    };
    let fp = Fingerprint {
        input_sha256: sha256_file(&cfg.requests).with_context(|| format!("hashing {}", cfg.requests.display()))?,
        gallery_fingerprint: super::gallery::fingerprint(&cfg.gallery, &all_provinces)?,
        chunk_size,
        shards: cfg.shard.count,
        detector_model: engine.detector_id().into(),
        matcher: engine.matcher_id().into(),
        embedders: engine.embedders().map(|e| e.id.clone()).collect(),
        operating_point: engine.operating_point().as_str().into(),
        cascade: engine.cascades(),
        threshold: engine.threshold(),
        engine_version: ENGINE_VERSION.into(),
        credential_kid: issuer.as_ref().map(|i| i.key().kid().to_string()),
        encryption_kid: issuer.as_ref().and_then(|i| i.encryption_kid().map(str::to_string)),
        photo_budget: cfg.photo_budget,
        selfie_dir: cfg.selfie_dir.as_ref().map(|_| selfie_dir.root().display().to_string()),
        issuer: issuer.as_ref().map(|_| cfg.issuer.clone()),
        validity_days: issuer.as_ref().map(|_| cfg.validity_days),
        review_margin: cfg.review_margin,
        issued_at: cfg.issued_at,
    };
    let (state, resumed) = open_state(&cfg.out, &fp)?;
    let label = if cfg.shard.count > 1 {
        format!("ikd run {} shard {}", state.run_id, cfg.shard)
    } else {
        format!("ikd run {}", state.run_id)
    };

    // Pre-pass over (request_id, nik) only: rows of this shard and the provinces they need.
    let mut total_rows = 0u64;
    let mut my_rows = 0u64;
    let mut provinces = BTreeSet::new();
    {
        let mut reader = TableReader::open(&cfg.requests, &[required("request_id"), required("nik")], 8192)?;
        loop {
            let rows = reader.next_chunk(8192)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                total_rows += 1;
                let nik = Nik::parse(&row[1]).ok();
                if cfg.shard.owns(&row[0], nik.as_ref()) {
                    my_rows += 1;
                    if let Some(n) = nik {
                        provinces.insert(n.province_code());
                    }
                }
            }
        }
    }
    let n_chunks = total_rows.div_ceil(chunk_size as u64);
    let t_index = Instant::now();
    let models: Vec<(String, usize)> = engine.embedders().map(|e| (e.id.clone(), e.dims)).collect();
    let gallery = if cfg.photo_budget.is_some() {
        GalleryReader::open_with_photo_paths(&cfg.gallery, &provinces, &models)?
    } else {
        GalleryReader::open(&cfg.gallery, &provinces, &models)?
    };
    let mut gallery = gallery.with_cache_bytes(cfg.gallery_cache_bytes);
    let open_secs = t_index.elapsed().as_secs_f64();
    let opened = gallery.stats();

    let shard_dir = format!("shard={}", cfg.shard.index);
    let results_dir = cfg.out.join("results").join(&shard_dir);
    let review_dir = cfg.out.join("review").join(&shard_dir);
    let outbox_dir = cfg.out.join("outbox").join(&shard_dir);
    create_dir(&results_dir, None)?;
    create_dir(&review_dir, None)?;
    if issuer.is_some() {
        create_dir(&cfg.out.join("outbox"), Some(0o700))?;
        create_dir(&outbox_dir, Some(0o700))?;
    }
    let mut stray = 0;
    for d in [&results_dir, &review_dir, &outbox_dir] {
        stray += remove_stray_tmp(d)?;
    }
    let committed_before = part_files(&results_dir)?.len();

    let mut progress = Progress::new(cfg.progress, my_rows, label.clone());
    progress.log(&format!(
        "{label}: {} {} rows in {n_chunks} chunks of {chunk_size}; this shard: {my_rows} rows, {} provinces, \
         gallery {} entries in {} files / {} row groups (footers {:.1} MiB, {open_secs:.2} s){}",
        if resumed { "resuming" } else { "starting" },
        total_rows,
        provinces.len(),
        opened.entries,
        opened.part_files,
        opened.row_groups,
        opened.footer_bytes_in_memory as f64 / (1 << 20) as f64,
        if resumed {
            format!("; {committed_before} chunks already committed, {stray} temp files removed")
        } else {
            String::new()
        },
    ));

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads.unwrap_or(0))
        .build()?;
    let ctx = Ctx {
        engine,
        base: selfie_dir,
        run_id: state.run_id.clone(),
        issuer: issuer.as_ref(),
        secret: secret.as_ref(),
        issued_at: state.issued_at,
        review_margin: cfg.review_margin,
        photo_budget: cfg.photo_budget,
    };
    let mut seen = SeenSet::default();
    let mut reader = TableReader::open(&cfg.requests, &REQUEST_COLUMNS, chunk_size)?;
    let mut failed_chunks = Vec::new();
    let mut chunk_no = 0u64;
    let mut rows_processed_now = 0u64;
    let t_loop = Instant::now();
    loop {
        let rows = reader.next_chunk(chunk_size)?;
        if rows.is_empty() {
            break;
        }
        let first = chunk_no * chunk_size as u64 + 1;
        let mut work = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            // Every shard tracks every id (in input order), so "first occurrence wins" is
            // decided identically whichever shard owns the duplicate.
            let duplicate = !seen.insert(request_key(&row[0]));
            let nik = Nik::parse(&row[1]);
            if cfg.shard.owns(&row[0], nik.as_ref().ok()) {
                work.push(Work {
                    row,
                    input_row: first + i as u64,
                    nik,
                    duplicate,
                });
            }
        }
        let name = format!("part-{chunk_no:06}.parquet");
        let result_path = results_dir.join(&name);
        if result_path.exists() {
            progress.advance(work.len() as u64, false, chunk_no, n_chunks);
            chunk_no += 1;
            continue;
        }
        // The chunk's gallery entries, read from disk in one sorted pass.
        let keys: Vec<u64> = work
            .iter()
            .filter(|w| !w.duplicate)
            .filter_map(|w| w.nik.as_ref().ok().map(nik_u64))
            .collect();
        let found = gallery.lookup(&keys)?;
        let processed: Vec<anyhow::Result<Processed>> =
            pool.install(|| work.par_iter().map(|w| process_row(&ctx, &found, w)).collect());
        let mut results = Vec::with_capacity(processed.len());
        let mut review = Vec::new();
        let mut outbox = Vec::new();
        let mut fault = None;
        for (p, w) in processed.into_iter().zip(&work) {
            match p {
                Ok(p) => {
                    results.push(p.result);
                    review.extend(p.review);
                    outbox.extend(p.outbox);
                }
                Err(e) => {
                    let who = w
                        .nik
                        .as_ref()
                        .map(|n| n.masked())
                        .unwrap_or_else(|_| "invalid NIK".into());
                    fault.get_or_insert(format!("input row {} ({who}): {e:#}", w.input_row));
                }
            }
        }
        if let Some(f) = fault {
            progress.log(&format!(
                "{label}: chunk {chunk_no} NOT committed (a rerun retries it): {f}"
            ));
            failed_chunks.push(chunk_no);
            progress.advance(work.len() as u64, true, chunk_no, n_chunks);
            chunk_no += 1;
            continue;
        }
        // Review and outbox first, results last: the results file is the commit marker.
        if !review.is_empty() {
            write_parquet_atomic(&review_dir.join(&name), &review_batch(&review)?, None)?;
        }
        if !outbox.is_empty() {
            write_parquet_atomic(&outbox_dir.join(&name), &outbox_batch(&outbox)?, Some(0o600))?;
        }
        write_parquet_atomic(&result_path, &results_batch(&results)?, None)?;
        rows_processed_now += results.len() as u64;
        progress.advance(work.len() as u64, true, chunk_no, n_chunks);
        chunk_no += 1;
    }
    progress.finish();
    let loop_secs = t_loop.elapsed().as_secs_f64();

    let summary_path = if cfg.shard.count > 1 {
        cfg.out
            .join(format!("summary-shard-{}-of-{}.json", cfg.shard.index, cfg.shard.count))
    } else {
        cfg.out.join("summary.json")
    };
    let agg = aggregate(&results_dir, &review_dir, n_chunks)?;
    let wall = started.elapsed().as_secs_f64();
    let summary = json!({
        "run_id": state.run_id,
        "engine_version": ENGINE_VERSION,
        "detector_model": engine.detector_id(),
        "matcher": engine.matcher_id(),
        "embedders": fp.embedders,
        "operating_point": engine.operating_point(),
        "cascade": engine.cascades(),
        "threshold": engine.threshold(),
        "shard": {"index": cfg.shard.index, "count": cfg.shard.count},
        "input": {"path": cfg.requests.display().to_string(), "sha256": fp.input_sha256, "rows": total_rows, "chunks": n_chunks, "chunk_size": chunk_size},
        "rows": agg.rows,
        "rows_expected": my_rows,
        "complete": failed_chunks.is_empty() && agg.rows == my_rows,
        "decisions": agg.decisions,
        "reasons": agg.reasons,
        "review_rows": agg.review_rows,
        "credentials_issued": agg.credentials,
        // Rows by the number of embedders that ran on the selfie (index 0: refused before any).
        "decided_after_embedders": agg.embedders_used,
        "failed_chunks": failed_chunks,
        "resumed": resumed,
        "chunks_committed_before_start": committed_before,
        "this_invocation": {
            "rows_processed": rows_processed_now,
            "wall_seconds": wall,
            "processing_seconds": loop_secs,
            "throughput_rows_per_second": if loop_secs > 0.0 { rows_processed_now as f64 / loop_secs } else { 0.0 },
            "threads": pool.current_num_threads(),
            "gallery_open_seconds": open_secs,
            "gallery": gallery.stats(),
            "peak_rss_bytes": peak_rss_bytes(),
        },
        "stage_seconds_sum": {
            "decode": agg.stage_ms[0] / 1e3,
            "detect": agg.stage_ms[1] / 1e3,
            "align": agg.stage_ms[2] / 1e3,
            "embed": agg.stage_ms[3] / 1e3,
        },
    });
    super::write_atomic(&summary_path, serde_json::to_string_pretty(&summary)?.as_bytes(), None)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    Ok(RunOutcome {
        summary,
        summary_path,
        failed_chunks,
    })
}

#[derive(Default)]
struct Aggregate {
    rows: u64,
    decisions: BTreeMap<String, u64>,
    reasons: BTreeMap<String, u64>,
    review_rows: u64,
    credentials: u64,
    stage_ms: [f64; 4],
    embedders_used: Vec<u64>,
}

/// Counts over the committed result files of this shard (also those of earlier attempts), one
/// file at a time and only the columns needed.
fn aggregate(results_dir: &Path, review_dir: &Path, n_chunks: u64) -> anyhow::Result<Aggregate> {
    let mut agg = Aggregate::default();
    for d in ["match", "no_match", "rejected"] {
        agg.decisions.insert(d.into(), 0);
    }
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
    for file in part_files(results_dir)? {
        if !chunk_in_range(&file, n_chunks) {
            continue;
        }
        let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?;
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
    for file in part_files(review_dir)? {
        if chunk_in_range(&file, n_chunks) {
            let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?;
            agg.review_rows += builder.metadata().file_metadata().num_rows().max(0) as u64;
        }
    }
    Ok(agg)
}

fn chunk_in_range(file: &Path, n_chunks: u64) -> bool {
    file.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("part-"))
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|c| c < n_chunks)
}
