//! Batch machinery: readers, chunked rayon execution, Arrow schema, writers, resume journal, sharding.
//!
//! * [`table`]: streaming CSV / Parquet reader (fixed column list, chunk at a time).
//! * [`gallery`]: `ikd gallery build` (province-partitioned Parquet templates + rejects).
//! * [`gallery_part`]: a gallery part file: schema, embedding columns, writer settings, reading
//!   and writing entries, the compaction marker.
//! * [`encoding`]: how templates are stored (f32, f16, int8 with a per-vector scale).
//! * [`index`]: where partitions live.
//! * [`lookup`]: point lookups of a chunk's NIKs, reading only the pages that can hold them.
//! * [`compact`]: merging a partition's sorted runs into one.
//! * [`results`]: Arrow schemas of results / review / outbox and atomic Parquet writes.
//! * [`shard`]: deterministic assignment of request rows to shards.
//! * [`storage`]: `s3://` object storage (read, range reads, list, create-only put).
//! * [`run`]: `ikd run` (chunked, resumable, exactly-once).
//!
//! See `docs/batch.md` for the layout on disk and the resume / sharding design.

pub mod compact;
pub mod encoding;
pub mod gallery;
pub mod gallery_part;
pub mod index;
pub mod lookup;
pub mod paths;
pub mod results;
pub mod run;
pub mod shard;
pub mod storage;
pub mod synthetic;
pub mod table;

use std::fs;
use std::io::Write;
use std::path::Path;

/// Runs a third-party parser on untrusted bytes so that a panic inside it becomes an error
/// instead of ending the process: the `parquet` crate panics on some malformed files (found by
/// fuzzing, `fuzz/regressions/`). The parser's state is not used again after a panic.
pub fn guard_parser<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    IN_PARSER_GUARD.with(|n| n.set(n.get() + 1));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_PARSER_GUARD.with(|n| n.set(n.get() - 1));
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(anyhow::anyhow!(
                "{}: malformed file (the Parquet reader failed: {msg})",
                what()
            ))
        }
    }
}

thread_local! {
    static IN_PARSER_GUARD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is inside [`guard_parser`] (for the fuzz targets' panic hook).
pub fn inside_parser_guard() -> bool {
    IN_PARSER_GUARD.with(|n| n.get() > 0)
}

/// An error the user can fix by changing the command line (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A stable 64-bit hash (first 8 bytes of SHA-256). Stable across processes, machines and
/// Rust versions, which sharding and duplicate detection across shards rely on.
pub fn hash64(domain: &[u8], data: &[u8]) -> u64 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&(domain.len() as u64).to_be_bytes());
    ctx.update(domain);
    ctx.update(data);
    let d = ctx.finish();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    u64::from_be_bytes(b)
}

/// Lower-case hex (the engine's, so results and the audit trail spell hashes one way).
pub use ikd_engine::hex;

/// Parses 64 hex digits into 32 bytes.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = (nib(s[2 * i])? << 4) | nib(s[2 * i + 1])?;
    }
    Some(out)
}

/// SHA-256 (hex) of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex(ctx.finish().as_ref()))
}

/// A NIK as the `u64` of its 16 digits.
pub fn nik_u64(nik: &ikd_engine::nik::Nik) -> u64 {
    nik.digits().iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d))
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// of the directory. `mode` (unix permission bits) is applied to the temp file before writing.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    {
        let mut f = create_file(&tmp, mode)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// `dir/.name.tmp` for `dir/name`: temp files start with a dot so dataset readers
/// (pyarrow, DuckDB, Spark) ignore them, and end in `.tmp` so a restart can delete them.
pub fn tmp_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Creates (truncating) a file with the given unix mode.
pub fn create_file(path: &Path, mode: Option<u32>) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if let Some(m) = mode {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(m);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path)
}

/// Creates a directory (and parents) with the given unix mode for the last component.
pub fn create_dir(path: &Path, mode: Option<u32>) -> std::io::Result<()> {
    fs::create_dir_all(path)?;
    #[cfg(unix)]
    if let Some(m) = mode {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(m))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// fsync a directory so a rename in it is durable (best effort: not every platform allows it).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Deletes `.*.tmp` files left in `dir` by a killed process. Returns how many were removed.
pub fn remove_stray_tmp(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Peak resident set size of this process in bytes (`VmHWM` from `/proc/self/status`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sorted `part-*.parquet` files directly in `dir` (none when `dir` does not exist).
pub fn part_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("part-") && name.ends_with(".parquet") {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(unhex32(&hex(&b)), Some(b));
        assert_eq!(unhex32("zz"), None);
    }

    #[test]
    fn hash64_is_stable() {
        // Fixed value: sharding depends on it never changing.
        assert_eq!(hash64(b"id", b"REQ-1"), hash64(b"id", b"REQ-1"));
        assert_ne!(hash64(b"id", b"REQ-1"), hash64(b"region", b"REQ-1"));
    }
}
