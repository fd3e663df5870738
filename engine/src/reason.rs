//! Stable reason codes. They are written into result rows, review queues and JSON output, so
//! their spelling (`as_str`) is part of the public contract and never changes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a request was not decided automatically (or why an image was refused).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // Image intake.
    EmptyImage,
    UnsupportedFormat,
    ImageTooLarge,
    TruncatedImage,
    CorruptImage,
    // Face policy and quality gates.
    NoFace,
    MultipleFaces,
    FaceTooSmall,
    FaceCutOff,
    LowConfidence,
    Blurred,
    Pose,
    // Request level (used by the batch pipelines).
    InvalidNik,
    NotInGallery,
    DuplicateRequest,
    FileNotFound,
    GalleryModelMismatch,
    // Offline face check: the credential carries no photo, or not one of the portrait geometry.
    NoPortrait,
    // Batch: a file named by an input row lies outside the input file's directory.
    PathOutsideBase,
}

impl Reason {
    /// Every reason, in a stable order (for summaries and docs).
    pub const ALL: [Reason; 19] = [
        Reason::EmptyImage,
        Reason::UnsupportedFormat,
        Reason::ImageTooLarge,
        Reason::TruncatedImage,
        Reason::CorruptImage,
        Reason::NoFace,
        Reason::MultipleFaces,
        Reason::FaceTooSmall,
        Reason::FaceCutOff,
        Reason::LowConfidence,
        Reason::Blurred,
        Reason::Pose,
        Reason::InvalidNik,
        Reason::NotInGallery,
        Reason::DuplicateRequest,
        Reason::FileNotFound,
        Reason::GalleryModelMismatch,
        Reason::NoPortrait,
        Reason::PathOutsideBase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::EmptyImage => "empty_image",
            Reason::UnsupportedFormat => "unsupported_format",
            Reason::ImageTooLarge => "image_too_large",
            Reason::TruncatedImage => "truncated_image",
            Reason::CorruptImage => "corrupt_image",
            Reason::NoFace => "no_face",
            Reason::MultipleFaces => "multiple_faces",
            Reason::FaceTooSmall => "face_too_small",
            Reason::FaceCutOff => "face_cut_off",
            Reason::LowConfidence => "low_confidence",
            Reason::Blurred => "blurred",
            Reason::Pose => "pose",
            Reason::InvalidNik => "invalid_nik",
            Reason::NotInGallery => "not_in_gallery",
            Reason::DuplicateRequest => "duplicate_request",
            Reason::FileNotFound => "file_not_found",
            Reason::GalleryModelMismatch => "gallery_model_mismatch",
            Reason::NoPortrait => "no_portrait",
            Reason::PathOutsideBase => "path_outside_base",
        }
    }

    /// Parses a code produced by [`Reason::as_str`].
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == code)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
