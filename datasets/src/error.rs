//! The generator's errors.

use std::path::{Path, PathBuf};

/// Errors from the data set generator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read image {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("CSV error on {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("fixture not found: {0}")]
    MissingFixture(PathBuf),
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl DatasetError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn csv(path: &Path, source: csv::Error) -> Self {
        DatasetError::Csv {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn image(path: &Path, source: image::ImageError) -> Self {
        DatasetError::Image {
            path: path.to_path_buf(),
            source,
        }
    }
}
