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
//!
//! The parts, one job each:
//! * [`config`] holds the run's settings ([`RunConfig`]) and the requests file's columns;
//! * [`plan`] loads the signing keys, pre-reads the requests and creates the output directories;
//! * [`state`] keeps `run.json`: the run id and the fingerprint a resume must match;
//! * [`chunk`] is the chunk loop (select, look up, process in parallel, commit);
//! * [`row`] turns one request row into its result, review and outbox rows;
//! * [`progress`] reports on stderr;
//! * [`summary`] counts over the committed chunks and writes `summary.json`.

mod chunk;
mod config;
mod plan;
mod progress;
mod row;
mod state;
mod summary;

pub use config::{ProgressMode, RunConfig, REQUEST_COLUMNS};
pub use row::MAX_QR_CHARS;
pub use state::{state_path, Fingerprint, RunState};

pub(crate) use plan::Signing;
pub(crate) use row::{issue, Holder, RowContext, SelfieBase};

use super::index::provinces_on_disk;
use super::lookup::GalleryReader;
use super::paths::InputDir;
use super::shard::Shard;
use super::storage::{is_remote, Location};
use super::{peak_rss_bytes, sha256_file, UsageError};
use anyhow::Context;
use chunk::ChunkLoop;
use ikd_engine::{Engine, ENGINE_VERSION};
use plan::{OutputDirs, RequestScan};
use progress::Progress;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// The result of [`run`].
#[derive(Debug)]
pub struct RunOutcome {
    pub summary: serde_json::Value,
    pub summary_path: PathBuf,
    /// Chunks that hit an engine fault (not committed; a rerun retries them).
    pub failed_chunks: Vec<u64>,
}

/// Runs (or resumes) one shard of a verification job.
pub fn run(engine: &Engine, cfg: &RunConfig) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let chunk_size = cfg.chunk_size.max(1);
    let remote_out = is_remote(&cfg.out);
    // A requests table on object storage is copied to a local temp file first (the CSV and
    // Parquet readers and the input hash read a file); removed when the run returns.
    let staged = if is_remote(&cfg.requests) {
        Some(StagedRequests::download(&cfg.requests)?)
    } else {
        if !cfg.requests.is_file() {
            return Err(UsageError(format!("requests file {} does not exist", cfg.requests.display())).into());
        }
        None
    };
    let local_cfg;
    let cfg_in = match &staged {
        Some(s) => {
            local_cfg = RunConfig {
                requests: s.path.clone(),
                ..cfg.clone()
            };
            &local_cfg
        }
        None => cfg,
    };
    if !is_remote(&cfg.gallery) && !cfg.gallery.is_dir() {
        return Err(UsageError(format!("gallery {} is not a directory", cfg.gallery.display())).into());
    }
    let signing = Signing::load(cfg)?;
    check_outbox(cfg, signing.issuer.is_some())?;
    if !remote_out {
        std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    }
    let selfie_dir = match &cfg.selfie_dir {
        Some(dir) if is_remote(dir) => SelfieBase::Remote(Location::from_path(dir)?),
        Some(dir) => {
            SelfieBase::Local(InputDir::new(dir).with_context(|| format!("selfie directory {}", dir.display()))?)
        }
        None if is_remote(&cfg.requests) => SelfieBase::Remote(Location::from_path(&cfg.requests)?.parent()),
        None => SelfieBase::Local(
            InputDir::of_file(&cfg.requests).with_context(|| format!("the directory of {}", cfg.requests.display()))?,
        ),
    };
    let fp = fingerprint(engine, cfg_in, &signing, &selfie_dir)?;
    let (state, resumed) = state::open_state(&cfg.out, &fp)?;
    let label = if cfg.shard.count > 1 {
        format!("ikd run {} shard {}", state.run_id, cfg.shard)
    } else {
        format!("ikd run {}", state.run_id)
    };

    let scan = RequestScan::read(&cfg_in.requests, cfg.shard)?;
    let n_chunks = scan.total_rows.div_ceil(chunk_size as u64);
    let t_open = Instant::now();
    let models: Vec<(String, usize)> = engine.embedders().map(|e| (e.id.clone(), e.dims)).collect();
    let gallery = if cfg.photo_budget.is_some() {
        GalleryReader::open_with_photo_paths(&cfg.gallery, &scan.provinces, &models)?
    } else {
        GalleryReader::open(&cfg.gallery, &scan.provinces, &models)?
    };
    let mut gallery = gallery.with_cache_bytes(cfg.gallery_cache_bytes);
    let open_secs = t_open.elapsed().as_secs_f64();
    let opened = gallery.stats();
    let dirs = if remote_out {
        OutputDirs::create_remote(&cfg.out, cfg.shard, cfg.outbox.as_deref())?
    } else {
        OutputDirs::create(&cfg.out, cfg.shard, signing.issuer.is_some())?
    };

    let mut progress = Progress::new(cfg.progress, scan.my_rows, label.clone());
    progress.log(&format!(
        "{label}: {} {} rows in {n_chunks} chunks of {chunk_size}; this shard: {} rows, {} provinces, \
         gallery {} entries in {} files / {} row groups (footers {:.1} MiB, {open_secs:.2} s){}",
        if resumed { "resuming" } else { "starting" },
        scan.total_rows,
        scan.my_rows,
        scan.provinces.len(),
        opened.entries,
        opened.part_files,
        opened.row_groups,
        opened.footer_bytes_in_memory as f64 / (1 << 20) as f64,
        if resumed {
            format!(
                "; {} chunks already committed, {} temp files removed",
                dirs.committed_before, dirs.stray_removed
            )
        } else {
            String::new()
        },
    ));

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads.unwrap_or(0))
        .build()?;
    let ctx = RowContext {
        engine,
        base: selfie_dir,
        run_id: state.run_id.clone(),
        issuer: signing.issuer.as_ref(),
        secret: signing.secret.as_ref(),
        issued_at: state.issued_at,
        review_margin: cfg.review_margin,
        photo_budget: cfg.photo_budget,
    };
    let executed = ChunkLoop {
        cfg: cfg_in,
        ctx: &ctx,
        pool: &pool,
        dirs: &dirs,
        label: &label,
        n_chunks,
    }
    .execute(&mut gallery, &mut progress)?;
    progress.finish();

    let agg = summary::aggregate(&dirs, n_chunks)?;
    let wall = started.elapsed().as_secs_f64();
    let loop_secs = executed.seconds;
    let rows_processed_now = executed.rows_processed;
    let failed_chunks = executed.failed_chunks;
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
        "input": {"path": cfg.requests.display().to_string(), "sha256": fp.input_sha256, "rows": scan.total_rows, "chunks": n_chunks, "chunk_size": chunk_size},
        "rows": agg.rows,
        "rows_expected": scan.my_rows,
        "complete": failed_chunks.is_empty() && agg.rows == scan.my_rows,
        "decisions": agg.decisions,
        "reasons": agg.reasons,
        "review_rows": agg.review_rows,
        "credentials_issued": agg.credentials,
        // Rows by the number of embedders that ran on the selfie (index 0: refused before any).
        "decided_after_embedders": agg.embedders_used,
        "failed_chunks": failed_chunks,
        "resumed": resumed,
        "chunks_committed_before_start": dirs.committed_before,
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
    let summary_path = summary_path(&cfg.out, cfg.shard);
    let text = serde_json::to_string_pretty(&summary)?;
    if remote_out {
        Location::from_path(&summary_path)?.put_overwrite(text.into_bytes().into())?;
    } else {
        super::write_atomic(&summary_path, text.as_bytes(), None)
            .with_context(|| format!("writing {}", summary_path.display()))?;
    }
    drop(staged);
    Ok(RunOutcome {
        summary,
        summary_path,
        failed_chunks,
    })
}

/// The outbox rule on object storage: credentials of an `s3://` run go only to a prefix given
/// explicitly with `--outbox`, never below OUT (where whoever reads results could read the
/// activation codes); a local run keeps `OUT/outbox` (0700 / 0600).
fn check_outbox(cfg: &RunConfig, issues: bool) -> anyhow::Result<()> {
    let Some(outbox) = &cfg.outbox else {
        if issues && is_remote(&cfg.out) {
            return Err(UsageError(
                "--out is on object storage and --keys issues credentials: give the outbox its own prefix with \
                 --outbox s3://BUCKET/PREFIX (not below --out; see the README, \"Object storage\")"
                    .into(),
            )
            .into());
        }
        return Ok(());
    };
    if !is_remote(outbox) || !is_remote(&cfg.out) {
        return Err(UsageError(
            "--outbox takes an s3:// prefix, for a run whose --out is s3:// (a local run's outbox is OUT/outbox, 0600)"
                .into(),
        )
        .into());
    }
    if !issues {
        return Err(UsageError("--outbox without --keys: no credentials to put there".into()).into());
    }
    let (o, out) = (Location::from_path(outbox)?, Location::from_path(&cfg.out)?);
    let inside = |a: &Location, b: &Location| {
        a.bucket() == b.bucket()
            && (b.key().is_empty() || a.key() == b.key() || a.key().starts_with(&format!("{}/", b.key())))
    };
    if inside(&o, &out) || inside(&out, &o) {
        return Err(UsageError(format!("--outbox {o} must not lie inside --out {out} (nor contain it)")).into());
    }
    Ok(())
}

/// A requests table copied from object storage to a local temp file, removed on drop.
struct StagedRequests {
    path: PathBuf,
}

impl StagedRequests {
    fn download(url: &std::path::Path) -> anyhow::Result<StagedRequests> {
        let loc = Location::from_path(url)?;
        let name = loc.name().to_string();
        let dir = std::env::temp_dir().join(format!("ikd-requests-{}-{}", std::process::id(), super::unix_now()));
        super::create_dir(&dir, Some(0o700)).with_context(|| format!("creating {}", dir.display()))?;
        let staged = StagedRequests { path: dir.join(name) };
        match loc.download_to(&staged.path) {
            Ok(_) => Ok(staged),
            Err(super::storage::StorageError::NotFound(what)) => {
                Err(UsageError(format!("requests file {what} does not exist")).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for StagedRequests {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `OUT/summary.json`, or `OUT/summary-shard-I-of-N.json` for one shard of several.
pub fn summary_path(out: &std::path::Path, shard: Shard) -> PathBuf {
    if shard.count > 1 {
        out.join(format!("summary-shard-{}-of-{}.json", shard.index, shard.count))
    } else {
        out.join("summary.json")
    }
}

/// Everything a resume must match (see [`Fingerprint`]).
fn fingerprint(
    engine: &Engine,
    cfg: &RunConfig,
    signing: &Signing,
    selfie_dir: &SelfieBase,
) -> anyhow::Result<Fingerprint> {
    let issuer = signing.issuer.as_ref();
    let all_provinces = provinces_on_disk(&cfg.gallery)?;
    Ok(Fingerprint {
        input_sha256: sha256_file(&cfg.requests).with_context(|| format!("hashing {}", cfg.requests.display()))?,
        gallery_fingerprint: super::gallery::fingerprint(&cfg.gallery, &all_provinces)?,
        chunk_size: cfg.chunk_size.max(1),
        shards: cfg.shard.count,
        detector_model: engine.detector_id().into(),
        matcher: engine.matcher_id().into(),
        embedders: engine.embedders().map(|e| e.id.clone()).collect(),
        operating_point: engine.operating_point().as_str().into(),
        cascade: engine.cascades(),
        threshold: engine.threshold(),
        engine_version: ENGINE_VERSION.into(),
        credential_kid: issuer.map(|i| i.key().kid().to_string()),
        encryption_kid: issuer.and_then(|i| i.encryption_kid().map(str::to_string)),
        photo_budget: cfg.photo_budget,
        selfie_dir: cfg.selfie_dir.as_ref().map(|_| selfie_dir.display()),
        issuer: issuer.map(|_| cfg.issuer.clone()),
        validity_days: issuer.map(|_| cfg.validity_days),
        review_margin: cfg.review_margin,
        issued_at: cfg.issued_at,
    })
}
