//! A credential given on the command line: the QR text itself, or a file holding it (`verify`,
//! `qr`).

use anyhow::{bail, Context};
use std::path::Path;

/// Largest credential file read from disk.
const MAX_INPUT_FILE: u64 = 64 * 1024;

/// The argument itself, or the content of the file it names (line breaks at the end removed;
/// spaces are kept because space is a Base45 character).
pub(super) fn read_input(arg: &str) -> anyhow::Result<String> {
    let path = Path::new(arg);
    if !path.is_file() {
        return Ok(arg.to_string());
    }
    let meta = std::fs::metadata(path).with_context(|| format!("reading {arg}"))?;
    if meta.len() > MAX_INPUT_FILE {
        bail!(
            "{arg} is {} bytes; a credential is at most {MAX_INPUT_FILE}",
            meta.len()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {arg}"))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}
