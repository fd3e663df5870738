//! Verifying a credential as `ikd credential verify` does: the credential against the
//! issuers' key set (decrypting it with the AES key when given), then against a status list
//! (an expired or bad list refuses to decide, a listed id is revoked), and, with a live photo,
//! the offline face check against the photo the credential carries. Also what the command
//! shows of the outcome (JSON or text).

use ikd_engine::credential::{
    verify_with_decryption, CredentialError, EncryptionKey, KeySet, Photo, StatusList, VerifiedCredential,
    VerifyOptions,
};
use ikd_engine::{Engine, Reason, Verdict};
use std::fmt::{self, Write};

/// What the offline face check says of a caveat every verifier must know.
pub const FACE_CHECK_CAVEAT: &str = "the reference is the credential's small photo, not the gallery template: \
     it misses more genuine holders than the registration check does (README, \"Offline face check\"); \
     a no_match or rejected result means: check the person another way, not: fraud";

/// Verifies the credential `text` at `now`: its own refusal comes first; then the status
/// list's (expired, bad: reported as the list's fault), then whether the list revokes it.
pub fn verify_credential(
    text: &str,
    keys: &KeySet,
    decrypt_key: Option<&EncryptionKey>,
    status_list: Option<&[u8]>,
    now: u64,
    opts: &VerifyOptions,
) -> Result<VerifiedCredential, CredentialError> {
    // The credential's own refusal comes first; then the list's (expired, bad), then revoked.
    verify_with_decryption(text, keys, decrypt_key, now, opts).and_then(|v| match status_list {
        Some(bytes) => StatusList::verify(bytes, keys, now)
            .map_err(|e| match e {
                // A list that does not verify is reported as the list's fault, not the credential's.
                CredentialError::StatusListExpired { .. } | CredentialError::BadStatusList(_) => e,
                other => CredentialError::BadStatusList(other.to_string()),
            })?
            .check(&v)
            .map(|()| v),
        None => Ok(v),
    })
}

/// The offline face check's outcome.
#[derive(Debug, serde::Serialize)]
pub struct FaceCheck {
    pub verdict: Verdict,
    /// The credential photo it was compared with.
    pub photo_bytes: Option<usize>,
    pub photo_size: Option<(u32, u32)>,
    pub caveat: &'static str,
}

/// Compares the live photo `live` (selfie rule and quality gates) with the credential's photo
/// (`no_portrait` when it carries none). `Err` only for engine faults.
pub fn face_check(engine: &Engine, live: &[u8], photo: Option<&Photo>) -> anyhow::Result<FaceCheck> {
    let Some(photo) = photo else {
        return Ok(FaceCheck {
            verdict: engine.rejected(
                Reason::NoPortrait,
                "the credential carries no photo (issued without --photo-budget)",
            ),
            photo_bytes: None,
            photo_size: None,
            caveat: FACE_CHECK_CAVEAT,
        });
    };
    let comparison = engine.compare_with_portrait(live, &photo.bytes)?;
    Ok(FaceCheck {
        verdict: comparison.verdict,
        photo_bytes: Some(photo.bytes.len()),
        photo_size: comparison.id_photo.image.as_ref().map(|i| (i.width, i.height)),
        caveat: FACE_CHECK_CAVEAT,
    })
}

/// The JSON object of a valid credential (`verify --json`), with the face check's outcome.
pub fn valid_json(v: &VerifiedCredential, now: u64, check: Option<&FaceCheck>) -> anyhow::Result<serde_json::Value> {
    let photo = v.identity.photo.as_ref().map(|p| {
        serde_json::json!({
            "format": p.format,
            "bytes": p.bytes.len(),
            "sha256": ikd_engine::credential::hex(ring::digest::digest(&ring::digest::SHA256, &p.bytes).as_ref()),
        })
    });
    let mut out = serde_json::json!({ "status": "valid", "checked_at": now, "credential": v, "photo": photo });
    if let Some(c) = check {
        out["face_check"] = serde_json::to_value(c)?;
    }
    Ok(out)
}

/// The JSON object of a refused credential (`verify --json`).
pub fn invalid_json(e: &CredentialError, now: u64) -> serde_json::Value {
    serde_json::json!({ "status": "invalid", "checked_at": now, "code": e.code(), "reason": e.to_string() })
}

/// The text of a valid credential (`verify`), with the face check's outcome.
pub fn valid_text(v: &VerifiedCredential, check: Option<&FaceCheck>) -> String {
    let mut out = String::new();
    write_valid_text(&mut out, v, check).expect("writing into a String");
    out
}

fn write_valid_text(out: &mut String, v: &VerifiedCredential, check: Option<&FaceCheck>) -> fmt::Result {
    let id = &v.identity;
    writeln!(out, "status: VALID")?;
    writeln!(out, "kid: {} ({})", v.kid, v.alg)?;
    if let Some(id) = &v.id {
        writeln!(out, "credential id: {id}")?;
    }
    if let Some(e) = &v.encryption {
        writeln!(out, "encrypted: {} with key {} (IV {:?})", e.alg, e.kid, e.iv)?;
    }
    writeln!(out, "issuer: {}", v.issuer.as_deref().unwrap_or("-"))?;
    let t = |x: Option<u64>| x.map_or_else(|| "-".to_string(), |x| x.to_string());
    writeln!(out, "iat: {}  nbf: {}  exp: {}", t(v.iat), t(v.nbf), t(v.exp))?;
    writeln!(out, "id (NIK): {}", id.id)?;
    writeln!(out, "full name: {}", id.full_name)?;
    fn opt(out: &mut String, name: &str, x: &Option<String>) -> fmt::Result {
        match x {
            Some(x) => writeln!(out, "{name}: {x}"),
            None => Ok(()),
        }
    }
    opt(out, "date of birth", &id.date_of_birth)?;
    if let Some(g) = id.gender {
        writeln!(
            out,
            "gender: {}",
            serde_json::to_value(g)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        )?;
    }
    opt(out, "email", &id.email)?;
    opt(out, "address", &id.address)?;
    opt(out, "phone", &id.phone)?;
    opt(out, "nationality", &id.nationality)?;
    if let Some(p) = &id.photo {
        writeln!(out, "photo: {:?}, {} bytes", p.format, p.bytes.len())?;
    }
    if let Some(c) = check {
        let v = &c.verdict;
        let score = v.score.map_or("-".to_string(), |s| format!("{s:.3}"));
        writeln!(
            out,
            "face check: {} (score {score}, threshold {:.3} at {}){}",
            v.decision.as_str().to_uppercase(),
            v.threshold,
            v.operating_point.as_str(),
            match (&v.reason, &v.detail) {
                (Some(r), Some(d)) => format!(": {r}: {d}"),
                (Some(r), None) => format!(": {r}"),
                _ => String::new(),
            }
        )?;
        writeln!(out, "caveat: {}", c.caveat)?;
    }
    Ok(())
}

/// The text of a refused credential (`verify`).
pub fn invalid_text(e: &CredentialError) -> String {
    format!("status: INVALID ({}): {e}\n", e.code())
}
