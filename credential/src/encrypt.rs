//! Encrypted credentials (Claim 169's encrypted form): the tagged COSE_Sign1 is the plaintext
//! of a COSE_Encrypt0 (tag 16) with AES-GCM, via `ring`.
//!
//! ```text
//! 16([ protected = {1: alg (1 = A128GCM, 3 = A256GCM), 4: kid},
//!      unprotected = {5: IV (12 bytes)},
//!      ciphertext || 16-byte tag ])
//! AAD = Enc_structure ["Encrypt0", protected, h'']
//! ```
//!
//! **Nonces.** GCM breaks if one key ever encrypts two different plaintexts under one nonce.
//! We do not count on a random generator or a persisted counter for that: the IV is
//! *synthetic*, `HMAC-SHA256(nonce_key, protected || plaintext)[..12]`, with `nonce_key`
//! derived from the AES key (so it is as secret as the key). Two different plaintexts share an
//! IV only by a 96-bit HMAC collision; the same plaintext (an Ed25519 credential re-issued after
//! a resumed batch) gets the same IV and the same ciphertext, which reveals nothing new. A
//! verifier holding the key recomputes the IV after decrypting: a credential whose IV was not
//! derived from its own plaintext (reused from another credential, or written by another
//! encoder with random IVs) is reported, and refused unless the caller accepts foreign IVs.
//! NIST SP 800-38D's limit of 2^32 encryptions per key for IVs that are not counters still
//! applies: rotate the AES key long before that (a national issuance is ~2^28).

use std::fmt;
use std::path::{Path, PathBuf};

use coset::{CborSerializable, TaggedCborSerializable};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::encoding::{
    b64url_decode, b64url_encode, cbor_bytes, cbor_head, cbor_int, cbor_text, MAJOR_ARRAY, MAJOR_MAP, MAJOR_TAG,
};
use super::secret::{create_private_dir, read_private_file, write_private_file, Wiped, Zeroizing};
use super::sign1::header_kid;
use super::CredentialError;

/// COSE_Encrypt0 CBOR tag.
pub(crate) const COSE_ENCRYPT0_TAG: u64 = 16;
const HEADER_ALG: i64 = 1;
const HEADER_KID: i64 = 4;
const HEADER_IV: i64 = 5;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Suffix of AES key files written by [`EncryptionKey::generate_file`].
pub const ENCRYPTION_KEY_SUFFIX: &str = ".aes.json";

/// An AES-GCM variant for COSE_Encrypt0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EncryptionAlgorithm {
    /// AES-128-GCM (COSE alg 1).
    #[serde(rename = "A128GCM")]
    A128Gcm,
    /// AES-256-GCM (COSE alg 3). The default.
    #[serde(rename = "A256GCM")]
    A256Gcm,
}

impl EncryptionAlgorithm {
    /// COSE algorithm identifier.
    pub const fn cose_id(self) -> i64 {
        match self {
            Self::A128Gcm => 1,
            Self::A256Gcm => 3,
        }
    }

    /// The algorithm for a COSE identifier.
    pub fn from_cose_id(id: i64) -> Option<Self> {
        match id {
            1 => Some(Self::A128Gcm),
            3 => Some(Self::A256Gcm),
            _ => None,
        }
    }

    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::A128Gcm => 16,
            Self::A256Gcm => 32,
        }
    }

    /// The JOSE name: `A128GCM` or `A256GCM`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::A128Gcm => "A128GCM",
            Self::A256Gcm => "A256GCM",
        }
    }

    fn ring(self) -> &'static aead::Algorithm {
        match self {
            Self::A128Gcm => &aead::AES_128_GCM,
            Self::A256Gcm => &aead::AES_256_GCM,
        }
    }
}

impl fmt::Display for EncryptionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A symmetric key for encrypting and decrypting credentials. Never printed: `Debug` shows
/// only the algorithm and kid.
pub struct EncryptionKey {
    alg: EncryptionAlgorithm,
    kid: String,
    aead: Wiped<LessSafeKey>,
    nonce_key: Wiped<hmac::Key>,
    /// `{1: alg, 4: kid}`, computed once.
    protected: Vec<u8>,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The key file: a symmetric JWK (RFC 7518 §6.4), mode 0600. `k` is wiped on drop.
#[derive(Serialize, Deserialize)]
struct OctJwk {
    kty: String,
    alg: String,
    kid: String,
    #[serde(rename = "use")]
    use_: String,
    k: String,
}

impl Drop for OctJwk {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.k);
    }
}

/// How the IV of a decrypted credential relates to its plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NonceOrigin {
    /// Derived from the plaintext with this key: written by an ikd issuer, and never reused.
    Synthetic,
    /// Not derived from the plaintext: another encoder's random IV, or an IV reused from
    /// another credential.
    Foreign,
}

impl EncryptionKey {
    /// A key from raw bytes (16 for A128GCM, 32 for A256GCM). `kid` defaults to a
    /// fingerprint of the key (the first 16 base64url characters of a SHA-256 over a label and
    /// the key), which names the key without revealing it.
    pub fn from_bytes(alg: EncryptionAlgorithm, key: &[u8], kid: Option<String>) -> Result<Self, CredentialError> {
        if key.len() != alg.key_len() {
            return Err(CredentialError::InvalidKey(format!(
                "{alg} needs a {}-byte key, got {} bytes",
                alg.key_len(),
                key.len()
            )));
        }
        let unbound =
            UnboundKey::new(alg.ring(), key).map_err(|_| CredentialError::InvalidKey(format!("{alg} key")))?;
        let master = Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, key));
        let derive = |label: &[u8]| Wiped::new(hmac::sign(&master, label));
        let nonce_key = Wiped::new(hmac::Key::new(
            hmac::HMAC_SHA256,
            derive(b"ikd-credential synthetic IV key v1").as_ref(),
        ));
        let kid = kid.unwrap_or_else(|| {
            let mut fp = b64url_encode(derive(b"ikd-credential key id v1").as_ref());
            fp.truncate(16);
            fp
        });
        let mut protected = Vec::with_capacity(32);
        cbor_head(&mut protected, MAJOR_MAP, 2);
        cbor_int(&mut protected, HEADER_ALG);
        cbor_int(&mut protected, alg.cose_id());
        cbor_int(&mut protected, HEADER_KID);
        cbor_bytes(&mut protected, kid.as_bytes());
        Ok(Self {
            alg,
            kid,
            aead: Wiped::new(LessSafeKey::new(unbound)),
            nonce_key,
            protected,
        })
    }

    /// Generate a fresh random key.
    pub fn generate(alg: EncryptionAlgorithm) -> Result<(Self, Zeroizing<Vec<u8>>), CredentialError> {
        let mut bytes = Zeroizing::new(vec![0u8; alg.key_len()]);
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CredentialError::InvalidKey("no system randomness".into()))?;
        Ok((Self::from_bytes(alg, &bytes, None)?, bytes))
    }

    /// Generate a key and write it as `DIR/<kid>.aes.json` (a symmetric JWK), created with
    /// mode 0600 (never replacing an existing file). Returns the key and the file written.
    pub fn generate_file(alg: EncryptionAlgorithm, dir: &Path) -> Result<(Self, PathBuf), CredentialError> {
        create_private_dir(dir)?;
        let (key, bytes) = Self::generate(alg)?;
        let path = dir.join(format!("{}{ENCRYPTION_KEY_SUFFIX}", key.kid));
        let jwk = OctJwk {
            kty: "oct".into(),
            alg: alg.name().into(),
            kid: key.kid.clone(),
            use_: "enc".into(),
            k: b64url_encode(&bytes),
        };
        let json = Zeroizing::new(serde_json::to_string(&jwk).map_err(|e| CredentialError::InvalidKey(e.to_string()))?);
        write_private_file(&path, json.as_bytes())?;
        Ok((key, path))
    }

    /// Load a key file written by [`EncryptionKey::generate_file`]. Refuses a file that group
    /// or others can read.
    pub fn load(path: &Path) -> Result<Self, CredentialError> {
        let bytes = read_private_file(path)?;
        let bad = |m: &str| CredentialError::InvalidKey(format!("{}: {m}", path.display()));
        let jwk: OctJwk = serde_json::from_slice(&bytes).map_err(|_| bad("not a symmetric JWK"))?;
        if jwk.kty != "oct" {
            return Err(bad("kty is not \"oct\""));
        }
        let alg = match jwk.alg.as_str() {
            "A128GCM" => EncryptionAlgorithm::A128Gcm,
            "A256GCM" => EncryptionAlgorithm::A256Gcm,
            _ => return Err(bad("alg is not A128GCM or A256GCM")),
        };
        let bytes = Zeroizing::new(b64url_decode(&jwk.k).ok_or_else(|| bad("k is not base64url"))?);
        Self::from_bytes(alg, &bytes, Some(jwk.kid.clone()))
    }

    /// The key id (in the COSE_Encrypt0 protected header).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> EncryptionAlgorithm {
        self.alg
    }

    /// The synthetic IV of `plaintext` under this key.
    fn synthetic_iv(&self, protected: &[u8], plaintext: &[u8]) -> [u8; IV_LEN] {
        let mut ctx = hmac::Context::with_key(&self.nonce_key);
        ctx.update(&(protected.len() as u64).to_be_bytes());
        ctx.update(protected);
        ctx.update(plaintext);
        let tag = ctx.sign();
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&tag.as_ref()[..IV_LEN]);
        iv
    }

    /// Encrypt a tagged COSE_Sign1 into a tagged COSE_Encrypt0 (appended to `out`, cleared
    /// first), with the synthetic IV.
    pub(crate) fn encrypt_into(&self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), CredentialError> {
        let iv = self.synthetic_iv(&self.protected, plaintext);
        self.seal_into(&iv, plaintext, out)
    }

    /// Encrypt with a caller-chosen IV. Only for tests that must build a credential with a
    /// reused IV to show that verifiers catch it; issuance never calls this.
    #[doc(hidden)]
    pub fn encrypt_with_iv_for_tests(&self, plaintext: &[u8], iv: [u8; IV_LEN]) -> Result<Vec<u8>, CredentialError> {
        let mut out = Vec::new();
        self.seal_into(&iv, plaintext, &mut out)?;
        Ok(out)
    }

    fn seal_into(&self, iv: &[u8; IV_LEN], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), CredentialError> {
        let aad = enc_structure(&self.protected);
        let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(plaintext);
        self.aead
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(*iv), Aad::from(&aad), &mut sealed)
            .map_err(|_| CredentialError::Signing)?;
        out.clear();
        out.reserve(sealed.len() + self.protected.len() + 32);
        cbor_head(out, MAJOR_TAG, COSE_ENCRYPT0_TAG);
        cbor_head(out, MAJOR_ARRAY, 3);
        cbor_bytes(out, &self.protected);
        cbor_head(out, MAJOR_MAP, 1);
        cbor_int(out, HEADER_IV);
        cbor_bytes(out, iv);
        cbor_bytes(out, &sealed);
        Ok(())
    }

    /// Decrypt a tagged COSE_Encrypt0: the plaintext (a COSE_Sign1) and where its IV came from.
    pub(crate) fn decrypt(&self, envelope: &[u8]) -> Result<(Vec<u8>, NonceOrigin), CredentialError> {
        let bad = |m: &str| CredentialError::BadEncryption(m.to_string());
        let e = coset::CoseEncrypt0::from_tagged_slice(envelope).map_err(|_| bad("not a tagged COSE_Encrypt0"))?;
        let alg = match &e.protected.header.alg {
            Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => EncryptionAlgorithm::from_cose_id(*a as i64),
            _ => None,
        }
        .ok_or_else(|| bad("protected header has no AES-GCM algorithm (1 or 3)"))?;
        if alg != self.alg {
            return Err(CredentialError::WrongDecryptionKey {
                reason: format!("the credential is {alg}, the key is {}", self.alg),
            });
        }
        // Our kid is in the protected header; other encoders may put it in the unprotected
        // one or leave it out. A different kid is a clear refusal before any decryption.
        let kid = header_kid(&e.protected.header, &e.unprotected);
        if !kid.is_empty() && kid != self.kid.as_bytes() {
            return Err(CredentialError::WrongDecryptionKey {
                reason: format!(
                    "the credential is encrypted for key {}, not {}",
                    String::from_utf8_lossy(kid),
                    self.kid
                ),
            });
        }
        let iv: [u8; IV_LEN] = match (e.unprotected.iv.len(), e.protected.header.iv.len()) {
            (IV_LEN, 0) => e.unprotected.iv.as_slice(),
            (0, IV_LEN) => e.protected.header.iv.as_slice(),
            _ => return Err(bad("the IV must be 12 bytes, in one header")),
        }
        .try_into()
        .map_err(|_| bad("the IV must be 12 bytes"))?;
        let ciphertext = e.ciphertext.as_deref().ok_or_else(|| bad("no ciphertext"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(bad("ciphertext shorter than the GCM tag"));
        }
        // The AAD covers the protected header bytes exactly as sent.
        let protected_bytes = e
            .protected
            .original_data
            .clone()
            .map_or_else(|| e.protected.header.clone().to_vec(), Ok)
            .map_err(|_| bad("protected header"))?;
        let aad = enc_structure(&protected_bytes);
        let mut buf = ciphertext.to_vec();
        let plaintext = self
            .aead
            .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(&aad), &mut buf)
            .map_err(|_| CredentialError::DecryptionFailed)?;
        let plaintext = plaintext.to_vec();
        let origin = if self.synthetic_iv(&protected_bytes, &plaintext) == iv {
            NonceOrigin::Synthetic
        } else {
            NonceOrigin::Foreign
        };
        Ok((plaintext, origin))
    }
}

/// Enc_structure = ["Encrypt0", protected, external_aad = h''] (RFC 9052 §5.3).
fn enc_structure(protected: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(protected.len() + 16);
    cbor_head(&mut aad, MAJOR_ARRAY, 3);
    cbor_text(&mut aad, "Encrypt0");
    cbor_bytes(&mut aad, protected);
    cbor_bytes(&mut aad, &[]);
    aad
}

/// True if `bytes` start with the COSE_Encrypt0 tag (16).
pub(crate) fn is_encrypt0(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0xD0)
}

/// Check that `envelope` is a well-formed COSE_Encrypt0 and return the kid it names (`-` if
/// none), for the refusal when no decryption key is given.
pub(crate) fn envelope_kid(envelope: &[u8]) -> Result<String, CredentialError> {
    let e = coset::CoseEncrypt0::from_tagged_slice(envelope)
        .map_err(|_| CredentialError::BadEncryption("not a tagged COSE_Encrypt0".into()))?;
    let kid = header_kid(&e.protected.header, &e.unprotected);
    Ok(if kid.is_empty() {
        "-".into()
    } else {
        String::from_utf8_lossy(kid).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_synthetic_iv() {
        for alg in [EncryptionAlgorithm::A128Gcm, EncryptionAlgorithm::A256Gcm] {
            let (key, _) = EncryptionKey::generate(alg).unwrap();
            let mut out = Vec::new();
            key.encrypt_into(b"\xd2hello", &mut out).unwrap();
            assert!(is_encrypt0(&out));
            assert_eq!(envelope_kid(&out).unwrap(), key.kid());
            let (plain, origin) = key.decrypt(&out).unwrap();
            assert_eq!(plain, b"\xd2hello");
            assert_eq!(origin, NonceOrigin::Synthetic);
            // Same plaintext, same envelope; different plaintext, different IV.
            let mut again = Vec::new();
            key.encrypt_into(b"\xd2hello", &mut again).unwrap();
            assert_eq!(again, out);
            let mut other = Vec::new();
            key.encrypt_into(b"\xd2hellp", &mut other).unwrap();
            assert_ne!(other[..40], out[..40]);
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let key = EncryptionKey::from_bytes(EncryptionAlgorithm::A256Gcm, &[7u8; 32], Some("k1".into())).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("k1") && !shown.contains("7, 7"), "{shown}");
    }
}
