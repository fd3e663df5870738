//! The officers' side of the double track: what the engine could not decide goes to a person.
//!
//! * [`store`]: the review database (officers, sessions, adjudications, photo-view log);
//! * [`queue`]: a finished run's review queue and where its photos are;
//! * [`web`]: `ikd review serve`, the page officers use;
//! * [`issue()`]: `ikd review issue`, credentials for approved rows, exactly once;
//! * [`export()`]: `ikd review export`, the decisions as Parquet next to the run's results.
//!
//! See docs/review.md.

pub mod queue;
pub mod store;
pub mod web;

use crate::batch::lookup::GalleryReader;
use crate::batch::results::{outbox_batch, read_results, read_review, results_batch, write_parquet_atomic, ResultRow};
use crate::batch::run::{issue as issue_row, Holder, RowContext, RunConfig, RunState, Signing, REQUEST_COLUMNS};
use crate::batch::table::TableReader;
use crate::batch::{create_dir, nik_u64, part_files, sha256_file, unhex32, UsageError};
use anyhow::Context;
use arrow::array::{ArrayRef, Float32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use ikd_engine::nik::Nik;
use ikd_engine::{Decision, Engine};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{Adjudication, PhotoView, Store};

/// `OUT/adjudicated/`: the result rows of credentials issued after an officer's approval (the
/// results schema; `decision` is `match`, `detail` names the adjudication). Written last: the
/// commit marker of an `ikd review issue` call.
pub fn adjudicated_dir(out: &Path) -> PathBuf {
    out.join("adjudicated")
}

/// `OUT/outbox/adjudicated/`: their activation codes for the mailer, beside the run's outbox
/// parts (0700 / 0600).
pub fn adjudicated_outbox_dir(out: &Path) -> PathBuf {
    out.join("outbox").join("adjudicated")
}

/// Settings of `ikd review issue`.
#[derive(Debug, Clone)]
pub struct IssueConfig {
    pub out: PathBuf,
    pub db: PathBuf,
    pub keys: PathBuf,
    pub encrypt_key: Option<PathBuf>,
    /// The gallery (only needed when the run put the holder's portrait into credentials).
    pub gallery: Option<PathBuf>,
    /// The run's requests file, if it moved since the run (checked against its SHA-256).
    pub requests: Option<PathBuf>,
}

/// What `ikd review issue` did.
#[derive(Debug, Default, PartialEq)]
pub struct IssueOutcome {
    /// Rows whose latest decision is `approve`.
    pub approved: usize,
    /// Issued by earlier calls (skipped).
    pub issued_before: usize,
    /// Issued now.
    pub issued_now: usize,
    /// Approved rows that could not be issued now (request id, why); a later call retries.
    pub failed: Vec<(String, String)>,
    /// The part file written, if any.
    pub part: Option<PathBuf>,
    /// Requests issued after an approval whose latest decision is no longer `approve` (request
    /// id, decision): their credentials stay valid until revoked (`ikd credential revoke`).
    pub withdrawn_after_issue: Vec<(String, String)>,
}

/// Request ids already issued through review (every committed `OUT/adjudicated/` part).
fn issued_before(out: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    let dir = adjudicated_dir(out);
    if dir.is_dir() {
        for part in part_files(&dir)? {
            ids.extend(read_results(&part)?.into_iter().map(|r| r.request_id));
        }
    }
    Ok(ids)
}

/// The engine's result rows of the approved requests (first occurrence of each request id),
/// found through the review queue's parts.
fn approved_results(out: &Path, approved: &BTreeMap<String, Adjudication>) -> anyhow::Result<Vec<ResultRow>> {
    let mut rows = Vec::new();
    let review_root = out.join("review");
    let Ok(shards) = std::fs::read_dir(&review_root) else {
        return Ok(rows);
    };
    let mut shards: Vec<PathBuf> = shards.filter_map(|e| e.ok().map(|e| e.path())).collect();
    shards.sort();
    for shard in shards {
        for part in part_files(&shard)? {
            let wanted: BTreeSet<u64> = read_review(&part)?
                .into_iter()
                .filter(|r| approved.contains_key(&r.request_id) && r.review_reason != "duplicate_request")
                .map(|r| r.input_row)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let results = out
                .join("results")
                .join(shard.file_name().unwrap_or_default())
                .join(part.file_name().unwrap_or_default());
            rows.extend(
                read_results(&results)?
                    .into_iter()
                    .filter(|r| wanted.contains(&r.input_row)),
            );
        }
    }
    rows.sort_by_key(|r| r.input_row);
    Ok(rows)
}

/// The requests file's rows at the given input rows (1-based), in `REQUEST_COLUMNS` order.
fn request_rows(requests: &Path, wanted: &BTreeSet<u64>) -> anyhow::Result<HashMap<u64, Vec<String>>> {
    let mut out = HashMap::new();
    let mut reader = TableReader::open(requests, &REQUEST_COLUMNS, 4096)?;
    let mut n = 0u64;
    loop {
        let rows = reader.next_chunk(4096)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            n += 1;
            if wanted.contains(&n) {
                out.insert(n, row);
            }
        }
    }
    Ok(out)
}

/// Issues credentials and activation codes for the rows whose latest adjudication is
/// `approve`, through the run's own issuing code (same keys, same `iat`, same credential ids
/// and codes), exactly once: rows already in `OUT/adjudicated/` are skipped, and one call
/// commits one new part (outbox first, then the results part as the marker). A second call on
/// the same run while one is working is refused (a lock on `OUT/adjudicated/.issue.lock`).
pub fn issue(engine: &Engine, cfg: &IssueConfig) -> anyhow::Result<IssueOutcome> {
    let state = RunState::read(&cfg.out)?;
    let fp = &state.fingerprint;
    let requests = match &cfg.requests {
        Some(p) => p.clone(),
        None => queue::requests_path(&cfg.out)?,
    };
    let sha = sha256_file(&requests).with_context(|| format!("hashing {}", requests.display()))?;
    if sha != fp.input_sha256 {
        return Err(UsageError(format!(
            "{} is not the requests file run {} read (its SHA-256 differs)",
            requests.display(),
            state.run_id
        ))
        .into());
    }
    let mut run_cfg = RunConfig::new(
        requests.clone(),
        cfg.gallery.clone().unwrap_or_default(),
        cfg.out.clone(),
    );
    run_cfg.keys = Some(cfg.keys.clone());
    run_cfg.encrypt_key.clone_from(&cfg.encrypt_key);
    run_cfg.photo_budget = fp.photo_budget;
    if let Some(iss) = &fp.issuer {
        run_cfg.issuer.clone_from(iss);
    }
    if let Some(days) = fp.validity_days {
        run_cfg.validity_days = days;
    }
    let signing = Signing::load(&run_cfg)?;
    let issuer = signing.issuer.as_ref().ok_or_else(|| anyhow::anyhow!("no issuer"))?;
    if let Some(kid) = &fp.credential_kid {
        if issuer.key().kid() != kid {
            return Err(UsageError(format!(
                "run {} issued with key {kid}, --keys holds {}: use the run's keys",
                state.run_id,
                issuer.key().kid()
            ))
            .into());
        }
    }
    if fp.encryption_kid.as_deref() != issuer.encryption_kid() {
        return Err(UsageError(format!(
            "run {} encrypted its credentials with {:?}; this call would use {:?} (--encrypt-key)",
            state.run_id,
            fp.encryption_kid,
            issuer.encryption_kid()
        ))
        .into());
    }
    let engine_models: Vec<String> = engine.embedders().map(|e| e.id.clone()).collect();
    if fp.photo_budget.is_some() && engine_models != fp.embedders {
        return Err(UsageError(format!(
            "run {} used the embedders {:?}, this engine has {engine_models:?} (use the run's --matcher)",
            state.run_id, fp.embedders
        ))
        .into());
    }

    let store = Store::open(&cfg.db)?;
    let (approved, withdrawn): (BTreeMap<String, Adjudication>, BTreeMap<String, Adjudication>) = store
        .latest_decisions(&state.run_id)?
        .into_iter()
        .partition(|(_, a)| a.officer_decision == "approve");
    // One `issue` at a time per run: what was issued before is read under the lock, so two
    // calls cannot both issue the same approval. (Released when `lock` drops, on every return.)
    let dir = adjudicated_dir(&cfg.out);
    create_dir(&dir, None)?;
    let lock_path = dir.join(".issue.lock");
    let lock = std::fs::File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(UsageError(format!(
                "another `ikd review issue` is working on {} (it holds {})",
                cfg.out.display(),
                lock_path.display()
            ))
            .into())
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", lock_path.display()))
        }
    }
    let done = issued_before(&cfg.out)?;
    let mut outcome = IssueOutcome {
        approved: approved.len(),
        issued_before: approved.keys().filter(|id| done.contains(*id)).count(),
        withdrawn_after_issue: withdrawn
            .values()
            .filter(|a| done.contains(&a.request_id))
            .map(|a| (a.request_id.clone(), a.officer_decision.clone()))
            .collect(),
        ..Default::default()
    };
    let todo: BTreeMap<String, Adjudication> = approved.into_iter().filter(|(id, _)| !done.contains(id)).collect();
    if todo.is_empty() {
        return Ok(outcome);
    }
    let engine_rows = approved_results(&cfg.out, &todo)?;
    let wanted: BTreeSet<u64> = engine_rows.iter().map(|r| r.input_row).collect();
    let inputs = request_rows(&requests, &wanted)?;

    // The holders' KTP-el photo paths, when credentials carry the portrait.
    let mut photo_paths: HashMap<u64, String> = HashMap::new();
    if fp.photo_budget.is_some() {
        let gallery = cfg.gallery.as_ref().ok_or_else(|| {
            UsageError("the run put the holder's portrait into credentials: --gallery is needed".into())
        })?;
        let niks: Vec<u64> = engine_rows
            .iter()
            .filter_map(|r| Nik::parse(&r.nik).ok().map(|n| nik_u64(&n)))
            .collect();
        let provinces: BTreeSet<u8> = engine_rows
            .iter()
            .filter_map(|r| Nik::parse(&r.nik).ok().map(|n| n.province_code()))
            .collect();
        let models: Vec<(String, usize)> = engine.embedders().map(|e| (e.id.clone(), e.dims)).collect();
        let found = GalleryReader::open_with_photo_paths(gallery, &provinces, &models)?.lookup(&niks)?;
        for n in niks {
            if let Some(p) = found.get(n).and_then(|e| e.photo_path) {
                photo_paths.insert(n, p.to_string());
            }
        }
    }

    let base = crate::batch::paths::InputDir::of_file(&requests)?;
    let ctx = RowContext {
        engine,
        base: crate::batch::run::SelfieBase::Local(base),
        run_id: state.run_id.clone(),
        issuer: signing.issuer.as_ref(),
        secret: signing.secret.as_ref(),
        issued_at: state.issued_at,
        review_margin: fp.review_margin,
        photo_budget: fp.photo_budget,
    };
    let mut results = Vec::new();
    let mut outbox = Vec::new();
    for engine_row in engine_rows {
        let id = engine_row.request_id.clone();
        let a = &todo[&id];
        let (Some(row), Ok(nik), Some(photo_sha256)) = (
            inputs.get(&engine_row.input_row),
            Nik::parse(&engine_row.nik),
            engine_row.gallery_photo_sha256.as_deref().and_then(unhex32),
        ) else {
            outcome.failed.push((
                id,
                "no gallery entry or no requests row for this row: cannot be issued".into(),
            ));
            continue;
        };
        let holder = Holder {
            nik: nik.to_string(),
            photo_path: photo_paths.get(&nik_u64(&nik)).cloned(),
            photo_sha256,
        };
        let mut r = ResultRow {
            decision: Decision::Match.as_str().into(),
            reason: None,
            detail: None,
            ..engine_row.clone()
        };
        match issue_row(&ctx, &mut r, row, holder) {
            Some(o) => {
                r.detail = Some(format!(
                    "approved by officer {} (adjudication {}, {}); engine: {} {}",
                    a.officer_id,
                    a.id,
                    a.decided_at_ms,
                    engine_row.decision,
                    engine_row.reason.as_deref().unwrap_or("")
                ));
                results.push(r);
                outbox.push(o);
            }
            None => outcome.failed.push((id, r.detail.unwrap_or_default())),
        }
    }
    for id in todo.keys() {
        if !results.iter().any(|r| &r.request_id == id) && !outcome.failed.iter().any(|(f, _)| f == id) {
            outcome
                .failed
                .push((id.clone(), "not in this run's review queue".into()));
        }
    }
    if results.is_empty() {
        return Ok(outcome);
    }
    let outbox_dir = adjudicated_outbox_dir(&cfg.out);
    create_dir(&cfg.out.join("outbox"), Some(0o700))?;
    create_dir(&outbox_dir, Some(0o700))?;
    crate::batch::remove_stray_tmp(&dir)?;
    crate::batch::remove_stray_tmp(&outbox_dir)?;
    // The next part number: an outbox part without its results part (a crash in between) is
    // overwritten by the same rows.
    let name = format!("part-{:06}.parquet", part_files(&dir)?.len());
    write_parquet_atomic(&outbox_dir.join(&name), &outbox_batch(&outbox)?, Some(0o600))?;
    let part = dir.join(&name);
    write_parquet_atomic(&part, &results_batch(&results)?, None)?;
    outcome.issued_now = results.len();
    outcome.part = Some(part);
    Ok(outcome)
}

/// `OUT/adjudications.parquet`: every decision recorded for the run (oldest first, all
/// columns of the database's table); `OUT/photo_views.parquet`: who saw which photos when.
pub fn export(out: &Path, db: &Path) -> anyhow::Result<(PathBuf, usize)> {
    let state = RunState::read(out)?;
    let store = Store::open(db)?;
    let rows = store.adjudications(Some(&state.run_id))?;
    let s =
        |f: &dyn Fn(&Adjudication) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(rows.iter().map(f))) };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("request_id", DataType::Utf8, false),
        Field::new("officer_id", DataType::Utf8, false),
        Field::new("decided_at_ms", DataType::Int64, false),
        Field::new("engine_decision", DataType::Utf8, false),
        Field::new("engine_reason", DataType::Utf8, false),
        Field::new("engine_score", DataType::Float32, true),
        Field::new("threshold", DataType::Float32, false),
        Field::new("officer_decision", DataType::Utf8, false),
        Field::new("comment", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|a| a.id))),
            s(&|a| &a.run_id),
            s(&|a| &a.request_id),
            s(&|a| &a.officer_id),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|a| a.decided_at_ms))),
            s(&|a| &a.engine_decision),
            s(&|a| &a.engine_reason),
            Arc::new(rows.iter().map(|a| a.engine_score).collect::<Float32Array>()),
            Arc::new(Float32Array::from_iter_values(rows.iter().map(|a| a.threshold))),
            s(&|a| &a.officer_decision),
            s(&|a| &a.comment),
        ],
    )?;
    let path = out.join("adjudications.parquet");
    write_parquet_atomic(&path, &batch, None)?;

    let views: Vec<_> = store
        .photo_views()?
        .into_iter()
        .filter(|v| v.run_id == state.run_id)
        .collect();
    let vs =
        |f: &dyn Fn(&PhotoView) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(views.iter().map(f))) };
    let vschema = Arc::new(Schema::new(vec![
        Field::new("officer_id", DataType::Utf8, false),
        Field::new("viewed_at_ms", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("request_id", DataType::Utf8, false),
        Field::new("photo", DataType::Utf8, false),
    ]));
    let vbatch = RecordBatch::try_new(
        vschema,
        vec![
            vs(&|v| &v.officer_id),
            Arc::new(Int64Array::from_iter_values(views.iter().map(|v| v.viewed_at_ms))),
            vs(&|v| &v.run_id),
            vs(&|v| &v.request_id),
            vs(&|v| &v.photo),
        ],
    )?;
    write_parquet_atomic(&out.join("photo_views.parquet"), &vbatch, None)?;
    Ok((path, rows.len()))
}
