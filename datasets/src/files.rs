//! Writing the data set's files: directories, files, and removing what an earlier run left at
//! names this run writes.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::DatasetError;

pub(crate) fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let rd = fs::read_dir(dir).map_err(|_| DatasetError::MissingFixture(dir.to_path_buf()))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| DatasetError::io(dir, e))?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    fs::write(path, bytes).map_err(|e| DatasetError::io(path, e))
}

pub(crate) fn create_dir(path: &Path) -> Result<(), DatasetError> {
    fs::create_dir_all(path).map_err(|e| DatasetError::io(path, e))
}

/// Remove files of an earlier run that this run may not overwrite (e.g. a selfie at the path
/// that is meant to be missing). Only names this generator writes are touched.
pub(crate) fn remove_stale(dir: &Path, ours: impl Fn(&str) -> bool) -> Result<(), DatasetError> {
    for path in sorted_dir(dir).unwrap_or_default() {
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
        if path.is_file() && ours(name) {
            fs::remove_file(&path).map_err(|e| DatasetError::io(&path, e))?;
        }
    }
    Ok(())
}
