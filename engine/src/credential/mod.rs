//! MOSIP Claim 169 credentials: identity QR codes for IKD.
//!
//! A credential is a CWT (RFC 8392) whose claim 169 holds the identity (NIK, name, date of
//! birth, gender, email, ...), signed as a tagged COSE_Sign1 (EdDSA/Ed25519 by default, or
//! ES256), zlib-compressed and Base45-encoded so it fits a QR code in alphanumeric mode.
//!
//! ```no_run
//! use ikd_engine::credential::{verify, CredentialIssuer, Identity, IssuerKey, KeySet, VerifyOptions};
//! use std::time::Duration;
//!
//! let key = IssuerKey::load("keys/".as_ref())?; // refuses a group/world-readable key file
//! let issuer = CredentialIssuer::new(key, "https://ikd.example.id".into(), Duration::from_secs(5 * 365 * 86_400));
//! let identity = Identity { id: "3171234567890123".into(), full_name: "Siti Rahayu".into(), ..Default::default() };
//! let issued = issuer.issue(&identity, 1_700_000_000)?;
//!
//! let keys = KeySet::from_jwks(&std::fs::read_to_string("jwks.json").unwrap_or_default())?;
//! let verified = verify(&issued.text, &keys, 1_700_000_100, &VerifyOptions::default())?;
//! assert_eq!(verified.identity.id, "3171234567890123");
//! # Ok::<(), ikd_engine::credential::CredentialError>(())
//! ```
//!
//! See `docs/credentials.md` for the format, key handling, refusals and measured speed.

mod activation;
mod claim169;
mod cose;
mod encoding;
mod error;
mod keys;

pub use activation::{
    normalize_code, ActivationCode, ActivationSecret, ACTIVATION_ALPHABET, ACTIVATION_CODE_LEN, ACTIVATION_SECRET_FILE,
};
pub use claim169::{Gender, Identity};
pub use cose::{
    verify, CredentialIssuer, IssuedCredential, VerifiedCredential, VerifyOptions, CLAIM_169, DEFAULT_ZLIB_LEVEL,
};
pub use error::CredentialError;
pub use keys::{
    generate_key_files, Algorithm, GeneratedKey, IssuerKey, Jwk, KeySet, PublicKey, ACTIVE_KID_FILE, PRIVATE_KEY_EXT,
    PUBLIC_JWK_SUFFIX,
};
