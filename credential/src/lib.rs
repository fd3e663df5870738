//! `ikd-credential`: MOSIP Claim 169 credentials, the identity QR codes of IKD: issuing,
//! verifying offline, keys and JWKS, activation codes. A verifier (a bank, a clinic, an
//! officer's app) links this crate alone: no face models, no inference runtime, no image
//! decoding.
//!
//! A credential is a CWT (RFC 8392) whose claim 169 holds the identity (NIK, name, date of
//! birth, gender, email, ...), signed as a tagged COSE_Sign1 (EdDSA/Ed25519 by default, or
//! ES256), zlib-compressed and Base45-encoded so it fits a QR code in alphanumeric mode.
//!
//! ```
//! use ikd_credential::{verify, Algorithm, CredentialIssuer, Identity, IssuerKey, KeySet, VerifyOptions};
//! use std::time::Duration;
//!
//! // The issuer (in production: `IssuerKey::load("keys/")`, which refuses a readable key file).
//! let key = IssuerKey::generate(Algorithm::EdDsa)?;
//! let mut keys = KeySet::new();
//! keys.insert(key.public_key().clone())?;
//! let jwks = keys.to_jwks(); // published for verifiers
//! let issuer = CredentialIssuer::new(key, "https://ikd.example.id".into(), Duration::from_secs(5 * 365 * 86_400));
//! let identity = Identity { id: "3171234567890123".into(), full_name: "Siti Rahayu".into(), ..Default::default() };
//! let issued = issuer.issue(&identity, 1_700_000_000)?;
//!
//! // A verifier, offline: the QR text and the published key set.
//! let keys = KeySet::from_jwks(&jwks)?;
//! let verified = verify(&issued.text, &keys, 1_700_000_100, &VerifyOptions::default())?;
//! assert_eq!(verified.identity.id, "3171234567890123");
//! assert!(verify(&issued.text.replace('A', "B"), &keys, 1_700_000_100, &VerifyOptions::default()).is_err());
//! # Ok::<(), ikd_credential::CredentialError>(())
//! ```
//!
//! See `docs/credentials.md` for the format, key handling, refusals and measured speed.

mod activation;
mod claim169;
mod cose;
mod encoding;
mod encrypt;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod id;
mod keys;
pub mod secret;
mod sign1;
mod status;
mod zlib;

pub use activation::{
    normalize_code, ActivationCode, ActivationSecret, ACTIVATION_ALPHABET, ACTIVATION_CODE_LEN, ACTIVATION_SECRET_FILE,
};
pub use claim169::{Gender, Identity, Photo, PhotoFormat, MAX_PHOTO_BYTES};
pub use cose::{
    verify, verify_with_decryption, CredentialIssuer, EncryptionInfo, IssuedCredential, VerifiedCredential,
    VerifyOptions, CLAIM_169, DEFAULT_ZLIB_LEVEL,
};
pub use encoding::hex;
pub use encrypt::{EncryptionAlgorithm, EncryptionKey, NonceOrigin, ENCRYPTION_KEY_SUFFIX};
pub use error::CredentialError;
pub use id::CredentialId;
pub use keys::{
    generate_key_files, rotate_key_files, Algorithm, GeneratedKey, IssuerKey, Jwk, KeySet, PublicKey, Rotation,
    SigningWindow, ACTIVE_KID_FILE, PRIVATE_KEY_EXT, PUBLIC_JWK_SUFFIX,
};
pub use status::StatusList;
