//! Expected outcomes: what should come out of each request row ([`Expected`],
//! [`ExpectedRequest`]) and `requests/expected.csv`, which holds them.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::DatasetError;

/// Expected outcome of a request row (`requests/expected.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Expected {
    /// The selfie is the NIK owner: should match.
    Match,
    /// Someone else's selfie (impostor): should not match.
    NoMatch,
    /// Well-formed 16 digits that fail NIK validation.
    InvalidNik,
    /// Valid NIK that is not in the gallery.
    NotInGallery,
    /// Unreadable image: truncated JPEG or random bytes. (An engine that distinguishes
    /// truncation may report `truncated_image` for the truncated one.)
    CorruptImage,
    /// A picture without any face.
    NoFace,
    /// Two faces in the selfie.
    MultipleFaces,
    /// The face is cut off at the image edge.
    FaceCutOff,
    /// `selfie_path` does not exist.
    FileNotFound,
    /// A repeated `request_id` (the first occurrence keeps its own outcome).
    DuplicateRequest,
}

impl Expected {
    /// Every outcome, in a stable order.
    pub const ALL: [Expected; 10] = [
        Expected::Match,
        Expected::NoMatch,
        Expected::InvalidNik,
        Expected::NotInGallery,
        Expected::CorruptImage,
        Expected::NoFace,
        Expected::MultipleFaces,
        Expected::FaceCutOff,
        Expected::FileNotFound,
        Expected::DuplicateRequest,
    ];

    /// The code written in `expected.csv` (`match`, `no_match`, or a reason code).
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Match => "match",
            Expected::NoMatch => "no_match",
            Expected::InvalidNik => "invalid_nik",
            Expected::NotInGallery => "not_in_gallery",
            Expected::CorruptImage => "corrupt_image",
            Expected::NoFace => "no_face",
            Expected::MultipleFaces => "multiple_faces",
            Expected::FaceCutOff => "face_cut_off",
            Expected::FileNotFound => "file_not_found",
            Expected::DuplicateRequest => "duplicate_request",
        }
    }

    /// Parse a code written by [`Expected::as_str`].
    pub fn from_code(code: &str) -> Option<Expected> {
        Expected::ALL.into_iter().find(|e| e.as_str() == code)
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request row and what should come out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedRequest {
    pub request_id: String,
    pub nik: String,
    /// Relative to `requests.csv`.
    pub selfie_path: String,
    pub expected: Expected,
    /// EXIF Orientation written into the selfie, if any.
    pub exif_orientation: Option<u16>,
    /// Human-readable description of the row (source photo, kind of defect).
    pub note: String,
}

/// Writes `expected.csv`: one `request_id,expected` row per request row, in file order.
pub(crate) fn write_expected_csv(expected_csv: &Path, expected: &[ExpectedRequest]) -> Result<(), DatasetError> {
    let mut w = csv::Writer::from_path(expected_csv).map_err(|e| DatasetError::csv(expected_csv, e))?;
    w.write_record(["request_id", "expected"])
        .map_err(|e| DatasetError::csv(expected_csv, e))?;
    for e in expected {
        w.write_record([e.request_id.as_str(), e.expected.as_str()])
            .map_err(|err| DatasetError::csv(expected_csv, err))?;
    }
    w.flush().map_err(|e| DatasetError::io(expected_csv, e))?;
    Ok(())
}
