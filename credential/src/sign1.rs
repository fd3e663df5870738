//! COSE_Sign1 (RFC 9052), as credentials and status lists both use it: the protected header,
//! signing into a tagged COSE_Sign1, and verifying one against a key set (key by kid, the
//! algorithm from the protected header only). Also the kid lookup of any COSE structure
//! (COSE_Encrypt0 uses it too).

use coset::{iana, RegisteredLabelWithPrivate, TaggedCborSerializable};

use super::encoding::{cbor_bytes, cbor_head, cbor_int, cbor_text, MAJOR_ARRAY, MAJOR_MAP, MAJOR_TAG};
use super::keys::{Algorithm, IssuerKey, KeySet};
use super::CredentialError;

/// COSE_Sign1 CBOR tag.
const COSE_SIGN1_TAG: u64 = 18;
/// COSE header labels.
const HEADER_ALG: i64 = 1;
const HEADER_KID: i64 = 4;

/// The COSE_Sign1 protected header of `key`: `{1: alg, 4: kid}`.
pub(crate) fn sign1_protected_header(key: &IssuerKey) -> Vec<u8> {
    let mut protected = Vec::with_capacity(64);
    cbor_head(&mut protected, MAJOR_MAP, 2);
    cbor_int(&mut protected, HEADER_ALG);
    cbor_int(&mut protected, key.alg().cose_id());
    cbor_int(&mut protected, HEADER_KID);
    cbor_bytes(&mut protected, key.kid().as_bytes());
    protected
}

/// Sign `payload` as a tagged COSE_Sign1 into `cose` (cleared first), using `tbs` as scratch
/// for the Sig_structure. Shared by credentials and status lists.
pub(crate) fn sign1_into(
    key: &IssuerKey,
    protected: &[u8],
    payload: &[u8],
    tbs: &mut Vec<u8>,
    cose: &mut Vec<u8>,
) -> Result<(), CredentialError> {
    // Sig_structure = ["Signature1", protected, external_aad = h'', payload]
    tbs.clear();
    cbor_head(tbs, MAJOR_ARRAY, 4);
    cbor_text(tbs, "Signature1");
    cbor_bytes(tbs, protected);
    cbor_bytes(tbs, &[]);
    cbor_bytes(tbs, payload);

    // COSE_Sign1 = 18([protected, {}, payload, signature])
    cose.clear();
    cbor_head(cose, MAJOR_TAG, COSE_SIGN1_TAG);
    cbor_head(cose, MAJOR_ARRAY, 4);
    cbor_bytes(cose, protected);
    cbor_head(cose, MAJOR_MAP, 0);
    cbor_bytes(cose, payload);
    cbor_head(cose, 2, 64); // both algorithms give 64-byte signatures
    let before = cose.len();
    key.sign_into(tbs, cose)?;
    if cose.len() - before != 64 {
        return Err(CredentialError::Signing);
    }
    Ok(())
}

/// The kid of a COSE structure: the protected header's, else the unprotected one's (empty if
/// neither has one).
pub(crate) fn header_kid<'a>(protected: &'a coset::Header, unprotected: &'a coset::Header) -> &'a [u8] {
    if protected.key_id.is_empty() {
        &unprotected.key_id
    } else {
        &protected.key_id
    }
}

/// Decode the COSE_Sign1, pick the key, check the algorithm and the signature. Returns the
/// (now authenticated) payload.
pub(crate) fn verify_cose(bytes: &[u8], keys: &KeySet) -> Result<(Vec<u8>, String, Algorithm), CredentialError> {
    let sign1 = coset::CoseSign1::from_tagged_slice(bytes).map_err(|e| CredentialError::BadCose(cose_error(e)))?;
    if !sign1.protected.header.crit.is_empty() {
        return Err(CredentialError::BadCose(
            "critical header parameters are not supported".into(),
        ));
    }
    let kid_bytes = header_kid(&sign1.protected.header, &sign1.unprotected);
    if kid_bytes.is_empty() {
        return Err(CredentialError::MissingKid);
    }
    let kid_text = String::from_utf8_lossy(kid_bytes).into_owned();
    let key = std::str::from_utf8(kid_bytes)
        .ok()
        .and_then(|k| keys.get(k))
        .ok_or_else(|| CredentialError::UnknownKid { kid: kid_text.clone() })?;
    // The algorithm must be integrity-protected: only the protected header counts.
    let found = match &sign1.protected.header.alg {
        None => None,
        Some(RegisteredLabelWithPrivate::Assigned(a)) => Some(match a {
            iana::Algorithm::EdDSA => Ok(Algorithm::EdDsa),
            iana::Algorithm::ES256 => Ok(Algorithm::Es256),
            other => Err(format!("{other:?}")),
        }),
        Some(RegisteredLabelWithPrivate::PrivateUse(i)) => Some(Err(format!("private {i}"))),
        Some(RegisteredLabelWithPrivate::Text(t)) => Some(Err(format!("{t:?}"))),
    };
    match found {
        Some(Ok(alg)) if alg == key.alg() => {}
        other => {
            let found = match other {
                None => "none (no alg in protected header)".to_string(),
                Some(Ok(a)) => a.name().to_string(),
                Some(Err(s)) => s,
            };
            return Err(CredentialError::WrongAlgorithm {
                kid: kid_text,
                expected: key.alg().name(),
                found,
            });
        }
    }
    let Some(payload) = sign1.payload.as_deref() else {
        return Err(CredentialError::BadCose("detached payload is not supported".into()));
    };
    let tbs = sign1.tbs_data(b"");
    if !key.verify(&tbs, &sign1.signature) {
        return Err(CredentialError::BadSignature);
    }
    Ok((payload.to_vec(), kid_text, key.alg()))
}

fn cose_error(e: coset::CoseError) -> String {
    match e {
        coset::CoseError::DecodeFailed(_) => "not CBOR".into(),
        coset::CoseError::ExtraneousData => "trailing data after the COSE structure".into(),
        other => other.to_string(),
    }
}
