//! Issuing and verifying credentials: CWT (with claim 169) → COSE_Sign1 (tag 18) → zlib →
//! Base45.
//!
//! Issuance writes the CBOR by hand (deterministic, shortest-form heads, ascending keys) into
//! per-thread scratch buffers and reuses a per-thread zlib compressor: the only allocation per
//! credential is the returned text. The bytes are exactly what `coset` produces for the same
//! COSE_Sign1 (checked by a unit test). Verification parses with `coset`/`ciborium` under size
//! caps and never panics on untrusted input. The COSE_Sign1 itself is `sign1`'s, the zlib layer
//! `zlib`'s, the COSE_Encrypt0 around an encrypted credential `encrypt`'s.

use std::cell::RefCell;
use std::time::Duration;

use ciborium::Value;
use serde::Serialize;

use super::claim169::{int_key, Identity};
use super::encoding::{cbor_bytes, cbor_head, cbor_int, cbor_text, MAJOR_MAP};
use super::encrypt::{envelope_kid, is_encrypt0, EncryptionAlgorithm, EncryptionKey, NonceOrigin};
use super::id::CredentialId;
use super::keys::{Algorithm, IssuerKey, KeySet, SigningWindow};
use super::sign1::{sign1_into, sign1_protected_header, verify_cose};
use super::zlib::{deflate, inflate_capped};
use super::CredentialError;

/// IANA CWT claim key of claim 169 (identity data).
pub const CLAIM_169: i64 = 169;
/// CWT claim keys (RFC 8392).
const CWT_ISS: i64 = 1;
const CWT_EXP: i64 = 4;
const CWT_NBF: i64 = 5;
const CWT_IAT: i64 = 6;
const CWT_CTI: i64 = 7;

/// The default zlib level: 0, a stored zlib stream written directly. Chosen by measurement (see
/// docs/credentials.md): a typical credential (64-byte signature, 43-character kid, short
/// names) does not compress at any level, so deflate only adds the cost of resetting its state,
/// about half of the issuing time. Use `with_zlib_level(6)` for ~5 % smaller QR codes when a
/// credential carries long free text (addresses).
pub const DEFAULT_ZLIB_LEVEL: u32 = 0;

/// Issues credentials with one key. Cheap to share across threads (`&self` issuance).
#[derive(Debug)]
pub struct CredentialIssuer {
    key: IssuerKey,
    issuer: String,
    validity: Duration,
    /// Serialized protected header (`{1: alg, 4: kid}`), computed once.
    protected: Vec<u8>,
    zlib_level: u32,
    encryption: Option<EncryptionKey>,
}

/// A freshly issued credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedCredential {
    /// The Base45 text to put in the QR code.
    pub text: String,
    /// Key id of the signing key.
    pub kid: String,
    /// Signature algorithm.
    pub alg: Algorithm,
    /// `iat` (and `nbf`).
    pub issued_at: u64,
    /// `exp`.
    pub expires_at: u64,
    /// Kid of the AES key the credential is encrypted with (None: signed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_kid: Option<String>,
    /// The credential id (CWT `cti`), if issued with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<CredentialId>,
}

struct Scratch {
    payload: Vec<u8>,
    tbs: Vec<u8>,
    cose: Vec<u8>,
    zlib: Vec<u8>,
    sealed: Vec<u8>,
    compressor: Option<(u32, flate2::Compress)>,
}

impl Scratch {
    const fn new() -> Self {
        Self {
            payload: Vec::new(),
            tbs: Vec::new(),
            cose: Vec::new(),
            zlib: Vec::new(),
            sealed: Vec::new(),
            compressor: None,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

impl CredentialIssuer {
    /// An issuer signing with `key`, naming itself `issuer` (CWT `iss`), issuing credentials
    /// valid for `validity` from their issue time.
    pub fn new(key: IssuerKey, issuer: String, validity: Duration) -> Self {
        let protected = sign1_protected_header(&key);
        Self {
            key,
            issuer,
            validity,
            protected,
            zlib_level: DEFAULT_ZLIB_LEVEL,
            encryption: None,
        }
    }

    /// Encrypt every credential (COSE_Encrypt0 with AES-GCM around the COSE_Sign1). A
    /// verifier then needs this key to read anything.
    pub fn with_encryption(mut self, key: EncryptionKey) -> Self {
        self.encryption = Some(key);
        self
    }

    /// Use another zlib level (0–9).
    pub fn with_zlib_level(mut self, level: u32) -> Self {
        self.zlib_level = level.min(9);
        self
    }

    /// The signing key.
    pub fn key(&self) -> &IssuerKey {
        &self.key
    }

    /// Kid of the encryption key, if credentials are encrypted.
    pub fn encryption_kid(&self) -> Option<&str> {
        self.encryption.as_ref().map(EncryptionKey::kid)
    }

    /// Issue one credential. Deterministic for Ed25519: same identity, key and `issued_at` give
    /// byte-identical text. (ES256 signatures from `ring` are randomised.)
    pub fn issue(&self, identity: &Identity, issued_at: u64) -> Result<IssuedCredential, CredentialError> {
        self.issue_inner(identity, issued_at, None)
    }

    /// Issue one credential carrying a credential id (CWT `cti`), the handle by which a
    /// [`StatusList`](crate::StatusList) revokes it.
    pub fn issue_with_id(
        &self,
        identity: &Identity,
        issued_at: u64,
        id: &CredentialId,
    ) -> Result<IssuedCredential, CredentialError> {
        self.issue_inner(identity, issued_at, Some(id))
    }

    fn issue_inner(
        &self,
        identity: &Identity,
        issued_at: u64,
        id: Option<&CredentialId>,
    ) -> Result<IssuedCredential, CredentialError> {
        let expires_at = issued_at.saturating_add(self.validity.as_secs());
        let text = match SCRATCH.with(|s| {
            s.try_borrow_mut()
                .ok()
                .map(|mut s| self.issue_with(&mut s, identity, id, issued_at, expires_at))
        }) {
            Some(result) => result?,
            None => self.issue_with(&mut Scratch::new(), identity, id, issued_at, expires_at)?,
        };
        Ok(IssuedCredential {
            text,
            kid: self.key.kid().to_string(),
            alg: self.key.alg(),
            issued_at,
            expires_at,
            encryption_kid: self.encryption.as_ref().map(|k| k.kid().to_string()),
            id: id.copied(),
        })
    }

    /// The signed COSE_Sign1 bytes (tagged), before compression. For tests and tooling.
    pub fn sign_cose(&self, identity: &Identity, issued_at: u64) -> Result<Vec<u8>, CredentialError> {
        let mut s = Scratch::new();
        let expires_at = issued_at.saturating_add(self.validity.as_secs());
        self.build_cose(&mut s, identity, None, issued_at, expires_at)?;
        Ok(s.cose)
    }

    /// Sign arbitrary CWT payload bytes into a tagged COSE_Sign1 (no claim checks). For tests
    /// that need to exercise the verifier with unusual payloads.
    pub fn sign_raw_payload(&self, payload: &[u8]) -> Result<Vec<u8>, CredentialError> {
        let mut s = Scratch::new();
        s.payload.extend_from_slice(payload);
        self.sign_payload(&mut s)?;
        Ok(s.cose)
    }

    fn build_cose(
        &self,
        s: &mut Scratch,
        identity: &Identity,
        id: Option<&CredentialId>,
        iat: u64,
        exp: u64,
    ) -> Result<(), CredentialError> {
        let p = &mut s.payload;
        p.clear();
        cbor_head(p, MAJOR_MAP, 5 + u64::from(id.is_some()));
        cbor_int(p, CWT_ISS);
        cbor_text(p, &self.issuer);
        cbor_int(p, CWT_EXP);
        cbor_head(p, 0, exp);
        cbor_int(p, CWT_NBF);
        cbor_head(p, 0, iat);
        cbor_int(p, CWT_IAT);
        cbor_head(p, 0, iat);
        if let Some(id) = id {
            cbor_int(p, CWT_CTI);
            cbor_bytes(p, id.as_bytes());
        }
        cbor_int(p, CLAIM_169);
        identity.write_cbor(p)?;
        self.sign_payload(s)
    }

    fn sign_payload(&self, s: &mut Scratch) -> Result<(), CredentialError> {
        sign1_into(&self.key, &self.protected, &s.payload, &mut s.tbs, &mut s.cose)
    }

    fn issue_with(
        &self,
        s: &mut Scratch,
        identity: &Identity,
        id: Option<&CredentialId>,
        iat: u64,
        exp: u64,
    ) -> Result<String, CredentialError> {
        self.build_cose(s, identity, id, iat, exp)?;
        let Scratch {
            cose,
            zlib,
            sealed,
            compressor,
            ..
        } = s;
        let envelope = match &self.encryption {
            Some(key) => {
                key.encrypt_into(cose, sealed)?;
                &*sealed
            }
            None => &*cose,
        };
        deflate(compressor, self.zlib_level, envelope, zlib)?;
        Ok(base45::encode(&zlib[..]))
    }
}

/// Verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Allowed clock skew in seconds, applied to both `nbf` and `exp`. Default 300.
    pub clock_skew_secs: u64,
    /// Longest accepted Base45 text. Default 8192 (a version-40 QR holds 4296 alphanumerics).
    pub max_text_len: usize,
    /// Cap on the decompressed COSE size; larger streams are refused as zlib bombs. Default 64 KiB.
    pub max_decompressed: usize,
    /// Refuse credentials without `exp`. Default true.
    pub require_exp: bool,
    /// Accept an encrypted credential whose IV was not derived from its plaintext (another
    /// encoder's random IV). Default false: such an IV may be one reused from another
    /// credential, which breaks GCM.
    pub accept_foreign_iv: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            clock_skew_secs: 300,
            max_text_len: 8192,
            max_decompressed: 64 * 1024,
            require_exp: true,
            accept_foreign_iv: false,
        }
    }
}

/// A credential whose signature and validity window checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedCredential {
    /// The identity in claim 169.
    pub identity: Identity,
    /// CWT `iss`.
    pub issuer: Option<String>,
    /// CWT `iat`.
    pub iat: Option<u64>,
    /// CWT `nbf`.
    pub nbf: Option<u64>,
    /// CWT `exp`.
    pub exp: Option<u64>,
    /// Key id that verified it.
    pub kid: String,
    /// Signature algorithm.
    pub alg: Algorithm,
    /// The credential id (CWT `cti`), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<CredentialId>,
    /// How it was encrypted (None: signed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionInfo>,
}

/// The encryption of a verified credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncryptionInfo {
    /// Kid of the AES key.
    pub kid: String,
    /// AES-GCM variant.
    pub alg: EncryptionAlgorithm,
    /// Whether the IV was derived from the plaintext (ikd issuers) or not.
    pub iv: NonceOrigin,
}

/// Verify a credential's Base45 text at time `now` (Unix seconds) against a key set.
///
/// Checks in order: length, Base45, zlib (capped), COSE_Sign1 structure, `kid` lookup, algorithm
/// against the key type, signature, then (only on signed bytes) CWT claims, claim 169, and the
/// `nbf`/`exp` window. Every refusal is a typed [`CredentialError`]; nothing here panics.
pub fn verify(
    text: &str,
    keys: &KeySet,
    now: u64,
    opts: &VerifyOptions,
) -> Result<VerifiedCredential, CredentialError> {
    verify_with_decryption(text, keys, None, now, opts)
}

/// [`verify`], reading encrypted credentials with `decryption_key`. Without a key an encrypted
/// credential is refused ([`CredentialError::EncryptedNoKey`]) and nothing of it is returned; a
/// signed-only credential verifies either way.
pub fn verify_with_decryption(
    text: &str,
    keys: &KeySet,
    decryption_key: Option<&EncryptionKey>,
    now: u64,
    opts: &VerifyOptions,
) -> Result<VerifiedCredential, CredentialError> {
    if text.len() > opts.max_text_len {
        return Err(CredentialError::TooLong {
            len: text.len(),
            max: opts.max_text_len,
        });
    }
    let compressed = base45::decode(text).map_err(|_| CredentialError::BadBase45)?;
    let inflated = inflate_capped(&compressed, opts.max_decompressed)?;
    let (cose, encryption) = if is_encrypt0(&inflated) {
        let Some(key) = decryption_key else {
            return Err(CredentialError::EncryptedNoKey {
                kid: envelope_kid(&inflated)?,
            });
        };
        let (plain, iv) = key.decrypt(&inflated)?;
        if iv == NonceOrigin::Foreign && !opts.accept_foreign_iv {
            return Err(CredentialError::ForeignIv);
        }
        let info = EncryptionInfo {
            kid: key.kid().to_string(),
            alg: key.alg(),
            iv,
        };
        (plain, Some(info))
    } else {
        (inflated, None)
    };
    let (payload, kid, alg) = verify_cose(&cose, keys)?;
    let claims = parse_cwt(&payload)?;
    if let Some(window) = keys
        .get(&kid)
        .map(|k| k.window())
        .filter(|w| *w != SigningWindow::default())
    {
        if !claims.iat.is_some_and(|iat| window.contains(iat)) {
            let t = |x: Option<u64>| x.map_or_else(String::new, |x| x.to_string());
            return Err(CredentialError::KeyRetired {
                kid,
                iat: claims.iat.map_or_else(|| "none".into(), |i| i.to_string()),
                window: format!("{}..{}", t(window.from), t(window.until)),
            });
        }
    }
    if opts.require_exp && claims.exp.is_none() {
        return Err(CredentialError::MissingClaim("exp (4)"));
    }
    if let Some(nbf) = claims.nbf {
        if now.saturating_add(opts.clock_skew_secs) < nbf {
            return Err(CredentialError::NotYetValid { nbf, now });
        }
    }
    if let Some(exp) = claims.exp {
        if now >= exp.saturating_add(opts.clock_skew_secs) {
            return Err(CredentialError::Expired { exp, now });
        }
    }
    Ok(VerifiedCredential {
        identity: claims.identity,
        issuer: claims.iss,
        iat: claims.iat,
        nbf: claims.nbf,
        exp: claims.exp,
        kid,
        alg,
        id: claims.cti,
        encryption,
    })
}

pub(crate) struct CwtClaims {
    iss: Option<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    cti: Option<CredentialId>,
    identity: Identity,
}

pub(crate) fn parse_cwt(payload: &[u8]) -> Result<CwtClaims, CredentialError> {
    let bad = |m: String| CredentialError::BadCbor(m);
    let value: Value = ciborium::de::from_reader(payload).map_err(|e| bad(format!("CWT payload: {e}")))?;
    let Value::Map(entries) = value else {
        return Err(bad("CWT payload is not a map".into()));
    };
    let mut claims = CwtClaims {
        iss: None,
        exp: None,
        nbf: None,
        iat: None,
        cti: None,
        identity: Identity::default(),
    };
    let mut claim169 = None;
    let mut seen: Vec<i64> = Vec::with_capacity(entries.len());
    for (k, v) in &entries {
        let Some(key) = int_key(k) else { continue }; // text-keyed private claims: ignored
        if seen.contains(&key) {
            return Err(bad(format!("duplicate CWT claim {key}")));
        }
        seen.push(key);
        let time = |name: &str| match v {
            Value::Integer(i) => u64::try_from(*i).map_err(|_| bad(format!("{name} is negative or too large"))),
            _ => Err(bad(format!("{name} must be an integer NumericDate"))),
        };
        match key {
            CWT_ISS => match v {
                Value::Text(s) => claims.iss = Some(s.clone()),
                _ => return Err(bad("iss must be a text string".into())),
            },
            CWT_EXP => claims.exp = Some(time("exp")?),
            CWT_NBF => claims.nbf = Some(time("nbf")?),
            CWT_IAT => claims.iat = Some(time("iat")?),
            CWT_CTI => match v {
                // Ours are 16 bytes; other issuers' ids of another length are not revocable
                // through our status lists and are ignored.
                Value::Bytes(b) => claims.cti = CredentialId::from_slice(b),
                _ => return Err(bad("cti must be a byte string".into())),
            },
            CLAIM_169 => claim169 = Some(v),
            _ => {}
        }
    }
    let claim169 = claim169.ok_or(CredentialError::MissingClaim169)?;
    claims.identity = Identity::from_cbor(claim169)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

    fn identity() -> Identity {
        Identity {
            id: "3171234567890123".into(),
            full_name: "Siti Rahayu".into(),
            date_of_birth: Some("1990-05-15".into()),
            gender: Some(super::super::Gender::Female),
            email: Some("siti@example.id".into()),
            ..Identity::default()
        }
    }

    /// Our hand-written COSE_Sign1 is byte-identical to what coset builds for the same content.
    #[test]
    fn hand_written_cose_equals_coset() {
        let key = IssuerKey::generate(Algorithm::EdDsa).unwrap();
        let kid = key.kid().as_bytes().to_vec();
        let issuer = CredentialIssuer::new(key, "https://ikd.example.id".into(), Duration::from_secs(86_400));
        let ours = issuer.sign_cose(&identity(), 1_700_000_000).unwrap();

        let parsed = coset::CoseSign1::from_tagged_slice(&ours).unwrap();
        let payload = parsed.payload.clone().unwrap();
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(kid)
            .build();
        let built = CoseSign1Builder::new()
            .protected(protected)
            .payload(payload)
            .create_signature(b"", |tbs| {
                let mut sig = Vec::new();
                issuer.key().sign_into(tbs, &mut sig).unwrap();
                sig
            })
            .build();
        assert_eq!(built.to_tagged_vec().unwrap(), ours);
        // And ciborium reads our payload as the same value it re-encodes to.
        let v: Value = ciborium::de::from_reader(parsed.payload.as_deref().unwrap()).unwrap();
        let mut re = Vec::new();
        ciborium::ser::into_writer(&v, &mut re).unwrap();
        assert_eq!(re, parsed.payload.unwrap());
    }

    #[test]
    fn zlib_levels_round_trip() {
        let key = IssuerKey::generate(Algorithm::EdDsa).unwrap();
        let issuer = CredentialIssuer::new(key, "x".into(), Duration::from_secs(60));
        let cose = issuer.sign_cose(&identity(), 1).unwrap();
        for level in [0, 1, 6, 9] {
            let mut slot = None;
            let mut out = Vec::new();
            deflate(&mut slot, level, &cose, &mut out).unwrap();
            assert_eq!(inflate_capped(&out, 1 << 16).unwrap(), cose);
        }
    }
}
