//! Where a gallery's partitions live: `DIR/province=PP/part-NNNNN.parquet`.
//!
//! A run no longer loads partitions into memory; it looks entries up on disk (`lookup`).

use anyhow::Context;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Directory of one province's partition.
pub fn province_dir(gallery: &Path, province: u8) -> PathBuf {
    gallery.join(format!("province={province:02}"))
}

/// Every `province=PP` partition present under `gallery`.
pub fn provinces_on_disk(gallery: &Path) -> anyhow::Result<BTreeSet<u8>> {
    let mut out = BTreeSet::new();
    let entries = match std::fs::read_dir(gallery) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("listing {}", gallery.display())),
    };
    for e in entries {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(p) = name.strip_prefix("province=").and_then(|p| p.parse().ok()) {
            out.insert(p);
        }
    }
    Ok(out)
}
