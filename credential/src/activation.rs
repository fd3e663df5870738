//! Activation codes: short codes a person can type (`XXXXX-XXXXX`), derived deterministically
//! with HMAC-SHA256 from a secret and the request (`request_id`, `nik`), so a re-run issues the
//! same code. Results store only [`ActivationSecret::stored_hash`] (a keyed hash under a
//! different derived key), never the plaintext code.

use std::fmt;
use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::encoding::hex_decode;
use super::secret::{read_private_file, write_private_file, Wiped, Zeroizing};
use super::CredentialError;
use crate::encoding::hex;
use crate::id::CredentialId;

/// File name of the activation secret inside a key directory.
pub const ACTIVATION_SECRET_FILE: &str = "activation.secret";

/// The code alphabet: digits and capitals without look-alikes (no 0/O, 1/I/L, U/V).
/// 29 symbols; every code character carries log2(29) ≈ 4.86 bits.
pub const ACTIVATION_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTWXYZ23456789";

/// Number of code characters (without the separator): 10 → ≈ 48.6 bits.
pub const ACTIVATION_CODE_LEN: usize = 10;

const SECRET_LEN: usize = 32;
const CODE_KEY_LABEL: &[u8] = b"ikd/activation/code/v1";
const HASH_KEY_LABEL: &[u8] = b"ikd/activation/stored-hash/v1";

/// The activation secret (32 random bytes). `Debug` never shows it.
pub struct ActivationSecret {
    code_key: Wiped<hmac::Key>,
    hash_key: Wiped<hmac::Key>,
    id_key: Wiped<hmac::Key>,
}

impl fmt::Debug for ActivationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationSecret(<redacted>)")
    }
}

/// A plaintext activation code, `XXXXX-XXXXX`. Shown to the person, never stored.
/// `Debug` is redacted so it does not leak into logs; use [`ActivationCode::as_str`] to show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ActivationCode(String);

impl Drop for ActivationCode {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationCode(<redacted>)")
    }
}

impl ActivationCode {
    /// The code as the person should type it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ActivationSecret {
    /// Build from the secret bytes (at least 32).
    pub fn from_bytes(secret: &[u8]) -> Result<Self, CredentialError> {
        if secret.len() < SECRET_LEN {
            return Err(CredentialError::InvalidKey(format!(
                "activation secret must be at least {SECRET_LEN} bytes"
            )));
        }
        let master = Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, secret));
        let derive = |label: &[u8]| {
            let tag = Wiped::new(hmac::sign(&master, label));
            Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
        };
        Ok(Self {
            code_key: derive(CODE_KEY_LABEL),
            id_key: derive(b"ikd credential id v1"),
            hash_key: derive(HASH_KEY_LABEL),
        })
    }

    /// Load from a file; refuses it if group/others can read it (like private keys).
    /// Accepts a key directory too (then reads `activation.secret` in it).
    pub fn load(path: &Path) -> Result<Self, CredentialError> {
        let file = if path.is_dir() {
            path.join(ACTIVATION_SECRET_FILE)
        } else {
            path.to_path_buf()
        };
        let bytes = read_private_file(&file)?; // wiped when dropped
        Self::from_bytes(&bytes)
    }

    /// Create a new secret file (mode 0600, fails if it exists) with 32 random bytes.
    pub fn generate_file(path: &Path) -> Result<(), CredentialError> {
        let mut bytes = Zeroizing::new([0u8; SECRET_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| CredentialError::InvalidKey("random generator failed".into()))?;
        write_private_file(path, bytes.as_ref())
    }

    /// The activation code for this request. Deterministic: same secret + request → same code.
    pub fn code(&self, request_id: &str, nik: &str) -> ActivationCode {
        let mut chars = Vec::with_capacity(ACTIVATION_CODE_LEN);
        let n = ACTIVATION_ALPHABET.len();
        // Largest multiple of 29 not above 256: bytes at or above it are skipped (no modulo bias).
        let limit = (256 / n * n) as u8;
        let mut block: u32 = 0;
        while chars.len() < ACTIVATION_CODE_LEN {
            let mut ctx = hmac::Context::with_key(&self.code_key);
            ctx.update(&block.to_be_bytes());
            update_request(&mut ctx, request_id, nik);
            for &b in ctx.sign().as_ref() {
                if b < limit && chars.len() < ACTIVATION_CODE_LEN {
                    if let Some(&c) = ACTIVATION_ALPHABET.get(usize::from(b) % n) {
                        chars.push(char::from(c));
                    }
                }
            }
            block = block.wrapping_add(1);
        }
        let mut code = String::with_capacity(ACTIVATION_CODE_LEN + 1);
        for (i, c) in chars.into_iter().enumerate() {
            if i == ACTIVATION_CODE_LEN / 2 {
                code.push('-');
            }
            code.push(c);
        }
        ActivationCode(code)
    }

    /// The keyed hash to store in results (hex HMAC-SHA256 under a key different from the code
    /// key, over the request and the code). Reveals nothing about the code without the secret.
    pub fn stored_hash(&self, request_id: &str, nik: &str, code: &ActivationCode) -> String {
        hex(self.hash_tag(request_id, nik, &code.0).as_ref())
    }

    /// Check a typed code against a stored hash (constant-time comparison). Typing is forgiving:
    /// case, spaces and dashes do not matter.
    pub fn check(&self, request_id: &str, nik: &str, typed: &str, stored_hash_hex: &str) -> bool {
        let Some(code) = normalize_code(typed) else {
            return false;
        };
        let Some(stored) = hex_decode(stored_hash_hex) else {
            return false;
        };
        // hmac::verify recomputes the tag and compares in constant time.
        hmac::verify(&self.hash_key, &hash_message(request_id, nik, &code), &stored).is_ok()
    }

    /// The credential id (CWT `cti`) of a request's credential: keyed, so that a published
    /// status list of revoked ids says nothing about whose NIK or request they are, and
    /// deterministic, so that a resumed run issues the same credential.
    pub fn credential_id(&self, request_id: &str) -> CredentialId {
        let tag = hmac::sign(&self.id_key, request_id.as_bytes());
        CredentialId::from_slice(&tag.as_ref()[..16]).unwrap_or(CredentialId([0; 16]))
    }

    fn hash_tag(&self, request_id: &str, nik: &str, code: &str) -> hmac::Tag {
        hmac::sign(&self.hash_key, &hash_message(request_id, nik, code))
    }
}

/// The message under the stored-hash key: length-prefixed request fields, then the code.
fn hash_message(request_id: &str, nik: &str, code: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(16 + request_id.len() + nik.len() + code.len());
    msg.extend_from_slice(&(request_id.len() as u64).to_be_bytes());
    msg.extend_from_slice(request_id.as_bytes());
    msg.extend_from_slice(&(nik.len() as u64).to_be_bytes());
    msg.extend_from_slice(nik.as_bytes());
    msg.extend_from_slice(code.as_bytes());
    msg
}

/// Length-prefixed request fields, so ("ab","c") and ("a","bc") differ.
fn update_request(ctx: &mut hmac::Context, request_id: &str, nik: &str) {
    ctx.update(&(request_id.len() as u64).to_be_bytes());
    ctx.update(request_id.as_bytes());
    ctx.update(&(nik.len() as u64).to_be_bytes());
    ctx.update(nik.as_bytes());
}

/// Normalise typed input to the canonical `XXXXX-XXXXX` form, or `None` if it cannot be a code.
pub fn normalize_code(typed: &str) -> Option<String> {
    let mut chars = Vec::with_capacity(ACTIVATION_CODE_LEN);
    for c in typed.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = c.to_ascii_uppercase();
        if !c.is_ascii() || !ACTIVATION_ALPHABET.contains(&(c as u8)) || chars.len() == ACTIVATION_CODE_LEN {
            return None;
        }
        chars.push(c);
    }
    if chars.len() != ACTIVATION_CODE_LEN {
        return None;
    }
    let mut out = String::with_capacity(ACTIVATION_CODE_LEN + 1);
    for (i, c) in chars.into_iter().enumerate() {
        if i == ACTIVATION_CODE_LEN / 2 {
            out.push('-');
        }
        out.push(c);
    }
    Some(out)
}
