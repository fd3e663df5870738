//! One error type for the library, with a sub-enum per domain. Bad input is always an error
//! value, never a panic; engine faults (models, broken invariants) are kept apart from input
//! problems so callers can tell "the citizen's photo is bad" from "the engine is broken".

use crate::reason::Reason;
use std::path::PathBuf;

/// Everything that can go wrong in the engine.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image bytes could not be turned into pixels.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The image decoded, but the face policy or a quality gate refused it.
    #[error(transparent)]
    Face(#[from] FaceRejection),
    /// A model file or the manifest is missing, corrupt or of the wrong model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The engine configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Credential issuing or verification failed.
    #[error(transparent)]
    Credential(#[from] crate::credential::CredentialError),
    /// A broken internal invariant (a bug, not bad input).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The reason code when the error is the input's fault (a bad image or a refused face);
    /// `None` for engine faults, which must not be blamed on the citizen.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Error::Image(e) => Some(e.reason()),
            Error::Face(r) => Some(r.reason),
            _ => None,
        }
    }
}

/// Problems with the image bytes themselves.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image is empty (0 bytes)")]
    Empty,
    #[error("unsupported or unrecognised image format{}", .detected.map(|d| format!(" ({d})")).unwrap_or_default())]
    UnsupportedFormat { detected: Option<&'static str> },
    #[error("the image is {bytes} bytes, above the limit of {limit} bytes")]
    TooManyBytes { bytes: usize, limit: usize },
    #[error("the image is {width}x{height} pixels, above the limit ({limit})")]
    TooManyPixels { width: u32, height: u32, limit: String },
    #[error("the {format} image is truncated")]
    Truncated { format: &'static str },
    #[error("the {format} image is corrupt: {detail}")]
    Corrupt { format: &'static str, detail: String },
}

impl ImageError {
    pub fn reason(&self) -> Reason {
        match self {
            ImageError::Empty => Reason::EmptyImage,
            ImageError::UnsupportedFormat { .. } => Reason::UnsupportedFormat,
            ImageError::TooManyBytes { .. } | ImageError::TooManyPixels { .. } => Reason::ImageTooLarge,
            ImageError::Truncated { .. } => Reason::TruncatedImage,
            ImageError::Corrupt { .. } => Reason::CorruptImage,
        }
    }
}

/// A face policy or quality gate refused the image.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct FaceRejection {
    pub reason: Reason,
    /// A human-readable explanation with the measured value and the limit.
    pub detail: String,
}

/// Problems with model files or the manifest. Every message names the file.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model manifest {path}: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("model {id:?} is not in the manifest {manifest}")]
    UnknownModel { id: String, manifest: PathBuf },
    #[error("model {id:?} has role {actual:?}, expected {expected:?}")]
    WrongRole {
        id: String,
        expected: &'static str,
        actual: String,
    },
    #[error("model file {path} is missing: {detail}")]
    FileMissing { path: PathBuf, detail: String },
    #[error("model file {path} has SHA-256 {actual}, the manifest expects {expected}: the file is corrupt or a different model")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model file {path} (SHA-256 {sha256}) could not be loaded as {id}: {detail}")]
    Load {
        id: String,
        path: PathBuf,
        sha256: String,
        detail: String,
    },
    #[error("the {backend} inference backend is unavailable: {detail}")]
    BackendUnavailable { backend: &'static str, detail: String },
    #[error("model {id} failed at inference: {detail}")]
    Inference { id: String, detail: String },
}
