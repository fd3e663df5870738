//! What a run is asked to do: its settings and the columns of its requests file.

use super::super::shard::Shard;
use super::super::table::{optional, required};
use std::path::PathBuf;

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    Auto,
    /// Log lines only.
    Lines,
    /// Nothing.
    Quiet,
}

/// Settings of one run (of one shard).
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub requests: PathBuf,
    pub gallery: PathBuf,
    pub out: PathBuf,
    /// Key directory (`ikd keys generate`): issue credentials + activation codes for `match`.
    pub keys: Option<PathBuf>,
    /// AES key file (`ikd keys generate --kind aes256`): issue encrypted credentials.
    pub encrypt_key: Option<PathBuf>,
    /// Put the holder's portrait (from the gallery entry's KTP-el photo) into each credential,
    /// JPEG-compressed to at most this many bytes. `None`: no photo.
    pub photo_budget: Option<usize>,
    /// Directory that every `selfie_path` must lie in (relative paths are relative to it).
    /// Default: the requests file's directory.
    pub selfie_dir: Option<PathBuf>,
    pub chunk_size: usize,
    pub shard: Shard,
    pub threads: Option<usize>,
    /// CWT `iss` of issued credentials.
    pub issuer: String,
    pub validity_days: u64,
    /// `no_match` rows whose fused score lies within this distance below the threshold go to
    /// review (fused-score units).
    pub review_margin: f32,
    /// `iat` of the credentials; default: the time the run first started (kept in run.json).
    pub issued_at: Option<u64>,
    pub progress: ProgressMode,
    /// Byte budget of the gallery's page-index cache (see `lookup`).
    pub gallery_cache_bytes: usize,
    /// Where an `s3://` run's outbox goes (an `s3://` prefix outside OUT, given explicitly:
    /// the activation codes never land next to the results). Local runs: `OUT/outbox`.
    pub outbox: Option<PathBuf>,
}

impl RunConfig {
    pub fn new(requests: PathBuf, gallery: PathBuf, out: PathBuf) -> Self {
        RunConfig {
            requests,
            gallery,
            out,
            keys: None,
            encrypt_key: None,
            photo_budget: None,
            selfie_dir: None,
            chunk_size: 512,
            shard: Shard::default(),
            threads: None,
            issuer: "https://ikd.example.id".into(),
            validity_days: 5 * 365,
            gallery_cache_bytes: super::super::lookup::DEFAULT_CACHE_BYTES,
            review_margin: 1.0,
            issued_at: None,
            progress: ProgressMode::Auto,
            outbox: None,
        }
    }
}

/// The columns of a requests file (also read by the fuzz target `requests_table`).
pub const REQUEST_COLUMNS: [super::super::table::Column; 7] = [
    required("request_id"),
    required("nik"),
    required("selfie_path"),
    optional("full_name"),
    optional("date_of_birth"),
    optional("gender"),
    optional("email"),
];
