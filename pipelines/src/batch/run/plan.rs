//! Before the loop: the signing keys, the pre-pass over the requests (this shard's rows and the
//! provinces they need) and the output directories.

use super::super::shard::Shard;
use super::super::storage::{is_remote, Location};
use super::super::table::{required, TableReader};
use super::super::{create_dir, part_files, remove_stray_tmp, UsageError};
use super::config::RunConfig;
use anyhow::Context;
use ikd_engine::credential::{ActivationSecret, CredentialIssuer, EncryptionKey, IssuerKey};
use ikd_engine::nik::Nik;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The run's issuing keys: both or neither.
pub(crate) struct Signing {
    pub issuer: Option<CredentialIssuer>,
    pub secret: Option<ActivationSecret>,
}

impl Signing {
    /// Loads `--keys` (and `--encrypt-key`); refuses the options that need keys without them.
    pub(crate) fn load(cfg: &RunConfig) -> anyhow::Result<Signing> {
        let Some(dir) = &cfg.keys else {
            if cfg.encrypt_key.is_some() {
                return Err(UsageError("--encrypt-key needs --keys (the signing keys)".into()).into());
            }
            if cfg.photo_budget.is_some() {
                return Err(UsageError("--photo-budget needs --keys (it is a credential's photo)".into()).into());
            }
            return Ok(Signing {
                issuer: None,
                secret: None,
            });
        };
        let key = IssuerKey::load(dir).with_context(|| format!("loading the signing key from {}", dir.display()))?;
        let secret = ActivationSecret::load(dir)
            .with_context(|| format!("loading the activation secret from {}", dir.display()))?;
        let validity = Duration::from_secs(cfg.validity_days.saturating_mul(86_400));
        let mut issuer = CredentialIssuer::new(key, cfg.issuer.clone(), validity);
        if let Some(file) = &cfg.encrypt_key {
            let key = EncryptionKey::load(file)
                .with_context(|| format!("loading the encryption key from {}", file.display()))?;
            issuer = issuer.with_encryption(key);
        }
        Ok(Signing {
            issuer: Some(issuer),
            secret: Some(secret),
        })
    }
}

/// The pre-pass over (request_id, nik) only.
pub(super) struct RequestScan {
    /// Rows of the whole file (all shards).
    pub total_rows: u64,
    /// Rows this shard owns.
    pub my_rows: u64,
    /// Provinces of this shard's valid NIKs: the gallery partitions to open.
    pub provinces: BTreeSet<u8>,
}

impl RequestScan {
    pub(super) fn read(requests: &Path, shard: Shard) -> anyhow::Result<RequestScan> {
        let mut scan = RequestScan {
            total_rows: 0,
            my_rows: 0,
            provinces: BTreeSet::new(),
        };
        let mut reader = TableReader::open(requests, &[required("request_id"), required("nik")], 8192)?;
        loop {
            let rows = reader.next_chunk(8192)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                scan.total_rows += 1;
                let nik = Nik::parse(&row[1]).ok();
                if shard.owns(&row[0], nik.as_ref()) {
                    scan.my_rows += 1;
                    if let Some(n) = nik {
                        scan.provinces.insert(n.province_code());
                    }
                }
            }
        }
        Ok(scan)
    }
}

/// This shard's output directories (`OUT/{results,review,outbox}/shard=I`).
pub(super) struct OutputDirs {
    pub results: PathBuf,
    pub review: PathBuf,
    pub outbox: PathBuf,
    /// For an `s3://` OUT: the same three as prefixes (the outbox's under `--outbox`).
    pub remote: Option<RemoteDirs>,
    /// Temp files of an interrupted attempt, removed.
    pub stray_removed: usize,
    /// Chunks an earlier attempt committed.
    pub committed_before: usize,
}

impl OutputDirs {
    /// Creates the directories (the outbox 0700, only when credentials are issued) and removes
    /// an interrupted attempt's temp files.
    pub(super) fn create(out: &Path, shard: Shard, outbox: bool) -> anyhow::Result<OutputDirs> {
        let shard_dir = format!("shard={}", shard.index);
        if is_remote(out) {
            return Err(UsageError(format!(
                "{}: an s3:// output needs OutputDirs::create_remote",
                out.display()
            ))
            .into());
        }
        let results = out.join("results").join(&shard_dir);
        let review = out.join("review").join(&shard_dir);
        let outbox_dir = out.join("outbox").join(&shard_dir);
        create_dir(&results, None)?;
        create_dir(&review, None)?;
        if outbox {
            create_dir(&out.join("outbox"), Some(0o700))?;
            create_dir(&outbox_dir, Some(0o700))?;
        }
        let mut stray_removed = 0;
        for d in [&results, &review, &outbox_dir] {
            stray_removed += remove_stray_tmp(d)?;
        }
        let committed_before = part_files(&results)?.len();
        Ok(OutputDirs {
            results,
            review,
            outbox: outbox_dir,
            remote: None,
            stray_removed,
            committed_before,
        })
    }

    /// The prefixes of an `s3://` OUT. Nothing to create (a bucket has no directories) and no
    /// temp objects to remove (a commit is one create-only put): what is committed is listed.
    pub(super) fn create_remote(out: &Path, shard: Shard, outbox: Option<&Path>) -> anyhow::Result<OutputDirs> {
        let shard_dir = format!("shard={}", shard.index);
        let root = Location::from_path(out)?;
        let results = root.join("results").join(&shard_dir);
        let review = root.join("review").join(&shard_dir);
        let outbox = match outbox {
            Some(o) => Some(Location::from_path(o)?.join(&shard_dir)),
            None => None,
        };
        let committed: BTreeSet<String> = results
            .list()?
            .into_iter()
            .filter(|o| !o.name.contains('/') && o.name.starts_with("part-") && o.name.ends_with(".parquet"))
            .map(|o| o.name)
            .collect();
        Ok(OutputDirs {
            results: PathBuf::from(results.url()),
            review: PathBuf::from(review.url()),
            outbox: outbox.as_ref().map(|o| PathBuf::from(o.url())).unwrap_or_default(),
            committed_before: committed.len(),
            remote: Some(RemoteDirs {
                results,
                review,
                outbox,
                committed,
            }),
            stray_removed: 0,
        })
    }
}

/// The output prefixes of a run on object storage.
pub(super) struct RemoteDirs {
    pub results: Location,
    pub review: Location,
    pub outbox: Option<Location>,
    /// `part-CCCCCC.parquet` names committed before this attempt started.
    pub committed: BTreeSet<String>,
}
