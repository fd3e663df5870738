//! Where a gallery's partitions live: `DIR/province=PP/part-NNNNN.parquet`.
//!
//! A run no longer loads partitions into memory; it looks entries up on disk (`lookup`).

use super::storage::{is_remote, Location};
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
    if is_remote(gallery) {
        let loc = Location::from_path(gallery)?;
        for name in loc.list_prefixes()? {
            if let Some(p) = name.strip_prefix("province=").and_then(|p| p.parse().ok()) {
                out.insert(p);
            }
        }
        return Ok(out);
    }
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

/// The `part-*.parquet` objects directly below an `s3://` partition prefix, sorted, with their
/// sizes (none when the prefix holds nothing).
pub fn remote_part_files(dir: &Path) -> anyhow::Result<Vec<(Location, u64)>> {
    let loc = Location::from_path(dir)?;
    Ok(loc
        .list()?
        .into_iter()
        .filter(|o| !o.name.contains('/') && o.name.starts_with("part-") && o.name.ends_with(".parquet"))
        .map(|o| (loc.join(&o.name), o.size))
        .collect())
}
