//! The one error type of the credential module.

use std::path::PathBuf;

/// Why a credential could not be issued or verified, or why a key could not be loaded.
///
/// Every variant has a stable machine-readable code ([`CredentialError::code`]). No variant ever
/// carries private key material or an activation code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    // ----- keys and secrets -----
    /// A key or secret file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A private key or secret file can be read by group or others (or is not a regular file).
    #[error("refusing to load {path}: mode {mode:o} lets group/others access it (chmod 600)")]
    InsecureKeyPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The private key bytes are not a PKCS#8 Ed25519 or P-256 key.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A key directory has no active key, or names one that is missing.
    #[error("no usable key: {0}")]
    NoKey(String),
    /// The public key set (JWKS) is malformed.
    #[error("invalid key set (JWKS): {0}")]
    InvalidKeySet(String),
    /// Signing failed inside the crypto library.
    #[error("signing failed")]
    Signing,

    // ----- issuance input -----
    /// The identity to issue cannot be encoded (e.g. bad date of birth).
    #[error("invalid identity: {0}")]
    InvalidIdentity(String),

    // ----- verification refusals -----
    /// The credential text is longer than the configured maximum.
    #[error("credential text is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Length seen.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The text is not valid Base45.
    #[error("not valid Base45")]
    BadBase45,
    /// The decompressed payload would exceed the cap (zlib bomb).
    #[error("decompressed size exceeds the {limit}-byte cap (zlib bomb refused)")]
    ZlibBomb {
        /// The cap in bytes.
        limit: usize,
    },
    /// The bytes are not a valid zlib stream.
    #[error("not a valid zlib stream")]
    BadZlib,
    /// The COSE_Sign1 envelope is malformed or not a tagged COSE_Sign1.
    #[error("bad COSE_Sign1: {0}")]
    BadCose(String),
    /// The CWT payload is not well-formed CBOR of the expected shape.
    #[error("bad CBOR: {0}")]
    BadCbor(String),
    /// The CWT has no claim 169.
    #[error("the CWT carries no claim 169")]
    MissingClaim169,
    /// Claim 169 is present but a field has the wrong type or value.
    #[error("invalid claim 169: {0}")]
    InvalidClaim169(String),
    /// A required CWT claim is missing.
    #[error("missing CWT claim {0}")]
    MissingClaim(&'static str),
    /// The protected header has no `kid`.
    #[error("no kid in the COSE header")]
    MissingKid,
    /// No key in the key set has this `kid`.
    #[error("unknown kid {kid}")]
    UnknownKid {
        /// The kid as found (lossy UTF-8).
        kid: String,
    },
    /// The header algorithm is absent, unsupported, or does not match the key type.
    #[error("wrong algorithm: key {kid} is {expected}, credential says {found}")]
    WrongAlgorithm {
        /// The kid.
        kid: String,
        /// The algorithm of the key.
        expected: &'static str,
        /// The algorithm in the protected header.
        found: String,
    },
    /// The signature does not verify (tampered bytes or wrong key).
    #[error("signature does not verify")]
    BadSignature,
    /// The credential is encrypted and no decryption key was given: nothing of it is shown.
    #[error("the credential is encrypted (key {kid}); no decryption key was given")]
    EncryptedNoKey {
        /// The kid the envelope names (`-` if none).
        kid: String,
    },
    /// The decryption key given is not the one the credential was encrypted for.
    #[error("wrong decryption key: {reason}")]
    WrongDecryptionKey {
        /// What differs (kid or algorithm).
        reason: String,
    },
    /// The GCM tag does not verify: tampered ciphertext, tag or header, or a wrong key.
    #[error("decryption failed: the ciphertext or its tag was altered, or the key is wrong")]
    DecryptionFailed,
    /// The COSE_Encrypt0 envelope is malformed.
    #[error("bad COSE_Encrypt0: {0}")]
    BadEncryption(String),
    /// The IV was not derived from this plaintext with this key: reused from another
    /// credential, or written by an encoder with random IVs (accept with
    /// `VerifyOptions::accept_foreign_iv`).
    #[error("the IV was not derived from this credential (a reused or foreign IV)")]
    ForeignIv,
    /// The credential's `iat` lies outside its key's issuance window (a rotated key cannot
    /// sign new credentials).
    #[error("key {kid} does not sign credentials issued at {iat} (it signs {window})")]
    KeyRetired {
        /// The kid.
        kid: String,
        /// The credential's `iat` (`none` if absent).
        iat: String,
        /// The key's window, e.g. `1700000000..1800000000`.
        window: String,
    },
    /// The photo field is too large, of an unknown format, or not the format it claims.
    #[error("invalid photo: {0}")]
    InvalidPhoto(String),
    /// The issuer's status list revokes this credential.
    #[error("credential {id} is revoked")]
    Revoked {
        /// The credential id.
        id: String,
    },
    /// The status list is past its `exp`: fetch a new one.
    #[error("the status list expired at {expires_at} (now {now}); fetch a new one")]
    StatusListExpired {
        /// Its expiry.
        expires_at: u64,
        /// The time checked against.
        now: u64,
    },
    /// The status list is malformed or from another issuer.
    #[error("bad status list: {0}")]
    BadStatusList(String),
    /// `exp` has passed (beyond the allowed clock skew).
    #[error("expired at {exp} (now {now})")]
    Expired {
        /// Expiry.
        exp: u64,
        /// The time checked against.
        now: u64,
    },
    /// `nbf` is in the future (beyond the allowed clock skew).
    #[error("not valid before {nbf} (now {now})")]
    NotYetValid {
        /// Not before.
        nbf: u64,
        /// The time checked against.
        now: u64,
    },
}

impl CredentialError {
    /// A stable, machine-readable code for this error (used in JSON output and logs).
    pub fn code(&self) -> &'static str {
        match self {
            Self::KeyFile { .. } => "key_file",
            Self::InsecureKeyPermissions { .. } => "insecure_key_permissions",
            Self::InvalidKey(_) => "invalid_key",
            Self::NoKey(_) => "no_key",
            Self::InvalidKeySet(_) => "invalid_key_set",
            Self::Signing => "signing_failed",
            Self::InvalidIdentity(_) => "invalid_identity",
            Self::TooLong { .. } => "too_long",
            Self::BadBase45 => "bad_base45",
            Self::ZlibBomb { .. } => "zlib_bomb",
            Self::BadZlib => "bad_zlib",
            Self::BadCose(_) => "bad_cose",
            Self::BadCbor(_) => "bad_cbor",
            Self::MissingClaim169 => "missing_claim_169",
            Self::InvalidClaim169(_) => "invalid_claim_169",
            Self::MissingClaim(_) => "missing_claim",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid { .. } => "unknown_kid",
            Self::WrongAlgorithm { .. } => "wrong_algorithm",
            Self::BadSignature => "bad_signature",
            Self::EncryptedNoKey { .. } => "encrypted_no_key",
            Self::WrongDecryptionKey { .. } => "wrong_decryption_key",
            Self::DecryptionFailed => "decryption_failed",
            Self::BadEncryption(_) => "bad_encryption",
            Self::ForeignIv => "foreign_iv",
            Self::KeyRetired { .. } => "key_retired",
            Self::InvalidPhoto(_) => "invalid_photo",
            Self::Revoked { .. } => "revoked",
            Self::StatusListExpired { .. } => "status_list_expired",
            Self::BadStatusList(_) => "bad_status_list",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
        }
    }

    /// True for refusals of a credential (as opposed to key, setup or issuance errors).
    pub fn is_invalid_credential(&self) -> bool {
        matches!(
            self,
            Self::TooLong { .. }
                | Self::BadBase45
                | Self::ZlibBomb { .. }
                | Self::BadZlib
                | Self::BadCose(_)
                | Self::BadCbor(_)
                | Self::MissingClaim169
                | Self::InvalidClaim169(_)
                | Self::MissingClaim(_)
                | Self::MissingKid
                | Self::UnknownKid { .. }
                | Self::WrongAlgorithm { .. }
                | Self::BadSignature
                | Self::Expired { .. }
                | Self::NotYetValid { .. }
                | Self::EncryptedNoKey { .. }
                | Self::WrongDecryptionKey { .. }
                | Self::DecryptionFailed
                | Self::BadEncryption(_)
                | Self::ForeignIv
                | Self::KeyRetired { .. }
                | Self::InvalidPhoto(_)
                | Self::Revoked { .. }
                | Self::StatusListExpired { .. }
                | Self::BadStatusList(_)
        )
    }
}
