//! Revocation: the signed status list of revoked credential ids that verifiers fetch now and
//! then.
//!
//! A status list is a COSE_Sign1 (signed by an issuer key from the same JWKS as the
//! credentials) over a CWT-like map: `{1: iss, 4: exp, 6: iat, "revoked": bstr}`, where the
//! byte string is the sorted concatenation of the revoked 16-byte credential ids: 16 bytes per
//! revoked credential, nothing per valid one. zlib-compressed like a credential. A verifier
//! checks it offline; past `exp` it is refused as `status_list_expired`, so a verifier that
//! stopped fetching notices instead of trusting an old list.

use std::collections::BTreeSet;

use ciborium::Value;
use serde::Serialize;

use super::claim169::int_key;
use super::encoding::{cbor_bytes, cbor_head, cbor_int, cbor_text, MAJOR_MAP};
use super::id::CredentialId;
use super::keys::{IssuerKey, KeySet};
use super::{CredentialError, VerifiedCredential};

const REVOKED_KEY: &str = "revoked";
/// Largest status list accepted (4 M revoked ids).
const MAX_STATUS_LIST: usize = 64 << 20;

/// The revoked credential ids of one issuer at one time, valid until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusList {
    /// Issuer (same as the credentials' `iss`).
    pub issuer: String,
    /// When the list was made (Unix seconds).
    pub issued_at: u64,
    /// After this the list is refused (`status_list_expired`).
    pub expires_at: u64,
    /// Revoked ids.
    pub revoked: BTreeSet<CredentialId>,
    /// Kid of the key that signed it (set when verified).
    pub kid: Option<String>,
}

impl StatusList {
    /// Sign the list with an issuer key: the tagged COSE_Sign1 bytes, zlib-compressed.
    pub fn sign(&self, key: &IssuerKey) -> Result<Vec<u8>, CredentialError> {
        let mut ids = Vec::with_capacity(self.revoked.len() * 16);
        for id in &self.revoked {
            ids.extend_from_slice(id.as_bytes());
        }
        let mut payload = Vec::with_capacity(ids.len() + 64);
        cbor_head(&mut payload, MAJOR_MAP, 4);
        cbor_int(&mut payload, 1);
        cbor_text(&mut payload, &self.issuer);
        cbor_int(&mut payload, 4);
        cbor_head(&mut payload, 0, self.expires_at);
        cbor_int(&mut payload, 6);
        cbor_head(&mut payload, 0, self.issued_at);
        cbor_text(&mut payload, REVOKED_KEY);
        cbor_bytes(&mut payload, &ids);
        let protected = super::sign1::sign1_protected_header(key);
        let (mut tbs, mut cose) = (Vec::new(), Vec::new());
        super::sign1::sign1_into(key, &protected, &payload, &mut tbs, &mut cose)?;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        std::io::Write::write_all(&mut z, &cose).map_err(|_| CredentialError::Signing)?;
        z.finish().map_err(|_| CredentialError::Signing)
    }

    /// Verify a signed list against the issuers' key set at time `now`.
    pub fn verify(bytes: &[u8], keys: &KeySet, now: u64) -> Result<Self, CredentialError> {
        let bad = |m: &str| CredentialError::BadStatusList(m.to_string());
        let cose = super::zlib::inflate_capped(bytes, MAX_STATUS_LIST)?;
        let (payload, kid, _) = super::sign1::verify_cose(&cose, keys)?;
        let value: Value = ciborium::de::from_reader(&payload[..]).map_err(|_| bad("payload is not CBOR"))?;
        let Value::Map(entries) = value else {
            return Err(bad("payload is not a map"));
        };
        let (mut iss, mut iat, mut exp, mut revoked) = (None, None, None, None);
        for (k, v) in entries {
            match (int_key(&k), &k, v) {
                (Some(1), _, Value::Text(t)) => iss = Some(t),
                (Some(4), _, Value::Integer(i)) => exp = u64::try_from(i).ok(),
                (Some(6), _, Value::Integer(i)) => iat = u64::try_from(i).ok(),
                (None, Value::Text(t), Value::Bytes(b)) if t == REVOKED_KEY => revoked = Some(b),
                _ => {}
            }
        }
        let (Some(issuer), Some(issued_at), Some(expires_at), Some(ids)) = (iss, iat, exp, revoked) else {
            return Err(bad("needs iss (1), iat (6), exp (4) and \"revoked\""));
        };
        if ids.len() % 16 != 0 {
            return Err(bad("the revoked ids are not a multiple of 16 bytes"));
        }
        if now >= expires_at {
            return Err(CredentialError::StatusListExpired { expires_at, now });
        }
        let revoked = ids.chunks_exact(16).filter_map(CredentialId::from_slice).collect();
        Ok(Self {
            issuer,
            issued_at,
            expires_at,
            revoked,
            kid: Some(kid),
        })
    }

    /// Refuse a verified credential this list revokes. A credential without an id cannot be
    /// revoked by a list and passes. The list must come from the credential's issuer.
    pub fn check(&self, credential: &VerifiedCredential) -> Result<(), CredentialError> {
        if credential.issuer.as_deref().is_some_and(|i| i != self.issuer) {
            return Err(CredentialError::BadStatusList(format!(
                "the list is {}'s, the credential is {}'s",
                self.issuer,
                credential.issuer.as_deref().unwrap_or("-")
            )));
        }
        match &credential.id {
            Some(id) if self.revoked.contains(id) => Err(CredentialError::Revoked { id: id.to_string() }),
            _ => Ok(()),
        }
    }
}
