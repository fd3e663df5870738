//! One request row → its result row, and the review and outbox rows it causes: the gallery
//! entry's checks, the selfie's verification, and (for a match) the credential and activation
//! code. No I/O other than reading the selfie and the holder's photo.

use super::super::paths::{InputDir, PathError};
use super::super::results::{OutboxRow, ResultRow, ReviewRow};
use super::super::storage::{Location, StorageError};
use super::super::{hex, nik_u64};
use crate::batch::lookup::ChunkGallery;
use ikd_engine::credential::{ActivationSecret, CredentialIssuer, Gender, Identity, Photo, PhotoFormat};
use ikd_engine::nik::{Nik, NikError};
use ikd_engine::{Decision, Embedding, Engine, ModelEmbedding, Reason, ENGINE_VERSION};
use std::time::Duration;

/// The most alphanumeric characters a QR code holds (version 40, EC level M): a longer
/// credential cannot be shown, so it is not issued.
pub const MAX_QR_CHARS: usize = 3391;

/// One input row of this shard, as the chunk loop hands it over.
pub(super) struct Work<'a> {
    /// The row's fields in `REQUEST_COLUMNS` order.
    pub row: &'a [String],
    pub input_row: u64,
    pub nik: Result<Nik, NikError>,
    /// The request id was seen at an earlier input row.
    pub duplicate: bool,
}

/// What one row produces.
#[derive(Default)]
pub(super) struct Processed {
    pub result: ResultRow,
    pub review: Option<ReviewRow>,
    pub outbox: Option<OutboxRow>,
}

/// Where a run's selfie paths must lie: a local directory, or an `s3://` prefix.
pub(crate) enum SelfieBase {
    Local(InputDir),
    Remote(Location),
}

impl SelfieBase {
    /// For the fingerprint and messages.
    pub(crate) fn display(&self) -> String {
        match self {
            SelfieBase::Local(d) => d.root().display().to_string(),
            SelfieBase::Remote(l) => l.url(),
        }
    }
}

/// What every row of a run shares.
pub(crate) struct RowContext<'a> {
    pub engine: &'a Engine,
    /// Where selfie paths must lie.
    pub base: SelfieBase,
    pub run_id: String,
    pub issuer: Option<&'a CredentialIssuer>,
    pub secret: Option<&'a ActivationSecret>,
    pub issued_at: u64,
    pub review_margin: f32,
    pub photo_budget: Option<usize>,
}

/// The holder a credential is issued to: the NIK and the gallery entry's KTP-el photo.
pub(crate) struct Holder {
    pub nik: String,
    pub photo_path: Option<String>,
    pub photo_sha256: [u8; 32],
}

fn reject(r: &mut ResultRow, reason: Reason, detail: String) {
    r.decision = Decision::Rejected.as_str().into();
    r.reason = Some(reason.as_str().into());
    r.detail = Some(detail);
}

pub(super) fn process_row(ctx: &RowContext<'_>, gallery: &ChunkGallery, w: &Work<'_>) -> anyhow::Result<Processed> {
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
    let mut holder = None;
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
                                holder = Some(Holder {
                                    nik: nik.to_string(),
                                    photo_path: entry.photo_path.map(str::to_owned),
                                    photo_sha256: *entry.photo_sha256,
                                });
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
    if let Some(holder) = holder {
        out.outbox = issue(ctx, &mut r, row, holder);
    }
    out.review = review_row(ctx, &r, row);
    out.result = r;
    Ok(out)
}

/// Issues the credential and activation code of a matched row (when the run has keys): fills
/// the result row's credential columns and returns the mailer's outbox row, or records in
/// `detail` why nothing was issued. Deterministic for a given run (credential id and code
/// derive from the activation secret and the request id; `iat` is the run's), so a resumed
/// chunk re-issues byte-identical rows.
pub(crate) fn issue(ctx: &RowContext<'_>, r: &mut ResultRow, row: &[String], holder: Holder) -> Option<OutboxRow> {
    let (issuer, secret) = (ctx.issuer?, ctx.secret?);
    let Holder {
        nik,
        photo_path,
        photo_sha256,
    } = holder;
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
    let issued = photo.and_then(|_| {
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
    });
    match issued {
        Ok(c) => {
            let code = secret.code(&r.request_id, &nik);
            r.activation_code_hash = Some(secret.stored_hash(&r.request_id, &nik, &code));
            r.credential = Some(c.text.clone());
            r.credential_kid = Some(c.kid.clone());
            r.credential_id = Some(credential_id.to_string());
            r.credential_expires_at = Some(c.expires_at as i64);
            Some(OutboxRow {
                request_id: r.request_id.clone(),
                nik,
                full_name: id.full_name.clone(),
                email: id.email.clone().unwrap_or_default(),
                activation_code: code.as_str().to_string(),
                credential: c.text,
                credential_kid: c.kid,
                credential_expires_at: c.expires_at as i64,
                run_id: ctx.run_id.clone(),
            })
        }
        Err(err) => {
            r.detail = Some(format!("credential not issued: {err}"));
            None
        }
    }
}

/// The review queue's row for a result that needs a person: refused rows, near-threshold
/// non-matches, and matches whose credential could not be issued.
fn review_row(ctx: &RowContext<'_>, r: &ResultRow, row: &[String]) -> Option<ReviewRow> {
    let review_reason = match (r.decision.as_str(), r.score) {
        ("rejected", _) => r.reason.clone(),
        ("no_match", Some(s)) if s >= r.threshold - ctx.review_margin => Some("near_threshold".into()),
        ("match", _) if ctx.issuer.is_some() && r.credential.is_none() => Some("credential_not_issued".into()),
        _ => None,
    }?;
    Some(ReviewRow {
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
    })
}

/// Reads the selfie and runs the engine; file problems and refusals become reasons.
fn verify(ctx: &RowContext<'_>, r: &mut ResultRow, row: &[String], reference: &[ModelEmbedding]) -> anyhow::Result<()> {
    let e = ctx.engine;
    let rel = row[2].trim();
    if rel.is_empty() {
        reject(r, Reason::FileNotFound, "selfie_path is empty".into());
        return Ok(());
    }
    let max = e.config().limits.max_bytes as u64;
    let base = match &ctx.base {
        SelfieBase::Local(dir) => dir,
        SelfieBase::Remote(prefix) => {
            let loc = match prefix.resolve_inside(rel) {
                Ok(l) => l,
                Err(why) => {
                    reject(r, Reason::PathOutsideBase, format!("selfie_path: {why}"));
                    return Ok(());
                }
            };
            // One GET: the size is checked from the reply's headers before the body is read.
            let bytes = match loc.read(Some(max)) {
                Ok(b) => b.to_vec(),
                Err(StorageError::NotFound(what)) => {
                    reject(r, Reason::FileNotFound, format!("selfie object: {what} does not exist"));
                    return Ok(());
                }
                Err(StorageError::TooLarge { size, max, .. }) => {
                    reject(
                        r,
                        Reason::ImageTooLarge,
                        format!("selfie object has {size} bytes, limit {max}"),
                    );
                    return Ok(());
                }
                // Unreachable endpoint (after the retries), denied, ...: the chunk is not
                // committed, and a rerun retries it.
                Err(other) => return Err(anyhow::anyhow!("reading the selfie: {other}")),
            };
            return decide(ctx, r, &bytes, reference);
        }
    };
    let path = match base.resolve(rel) {
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
    decide(ctx, r, &bytes, reference)
}

/// Runs the engine on a selfie's bytes and fills the result row with its verdict.
fn decide(ctx: &RowContext<'_>, r: &mut ResultRow, bytes: &[u8], reference: &[ModelEmbedding]) -> anyhow::Result<()> {
    let e = ctx.engine;
    r.selfie_sha256 = Some(ikd_engine::sha256_hex(bytes));
    let (verdict, analysis) = e
        .verify_embeddings(bytes, reference)
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

/// The holder's portrait for a credential, from the KTP-el photo the gallery entry was built
/// from (checked against the entry's SHA-256, so a replaced file is refused).
fn holder_photo(engine: &Engine, path: Option<&str>, sha256: &[u8; 32], budget: usize) -> Result<Photo, String> {
    let path = path.ok_or("holder photo: the gallery entry has no photo_path")?;
    let bytes = if path.starts_with("s3://") {
        let max = engine.config().limits.max_bytes as u64;
        Location::parse(path)
            .and_then(|l| l.read(Some(max)))
            .map(|b| b.to_vec())
            .map_err(|e| format!("holder photo: cannot read the KTP-el photo: {e}"))?
    } else {
        std::fs::read(path).map_err(|e| format!("holder photo: cannot read the KTP-el photo: {e}"))?
    };
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
