//! A finished run's review queue as the review page shows it: every `OUT/review/` row with
//! its result row's audit columns and the place of both photos.
//!
//! * The selfie: the review row's `selfie_path`, resolved like the run resolved it (inside
//!   the run's `--selfie-dir`, else the requests file's directory).
//! * The KTP-el photo: the gallery entry of the row's NIK, whose `photo_path` is the canonical
//!   path `ikd gallery build` read it from; the file is served only if its SHA-256 still equals
//!   the entry's `photo_sha256` (the photo the template was made from).

use crate::batch::lookup::GalleryReader;
use crate::batch::paths::{InputDir, PathError};
use crate::batch::results::{read_results, read_review, ResultRow, ReviewRow};
use crate::batch::run::RunState;
use crate::batch::{hex, nik_u64, part_files, UsageError};
use anyhow::Context;
use ikd_engine::nik::Nik;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// One row of the queue.
#[derive(Debug, Clone)]
pub struct ReviewItem {
    pub review: ReviewRow,
    /// The row's result (audit columns: hashes, models, engine version, timings).
    pub result: Option<ResultRow>,
    pub shard: u32,
    /// The NIK's province, `None` for an invalid NIK.
    pub province: Option<u8>,
    /// The gallery entry's KTP-el photo (path, SHA-256 hex), if the NIK has one.
    pub ktp_photo: Option<(PathBuf, String)>,
}

impl ReviewItem {
    /// Whether an officer can approve it: a credential needs the gallery entry, a valid NIK,
    /// and the first occurrence of the request id.
    pub fn approvable(&self) -> bool {
        self.ktp_photo.is_some() && self.province.is_some() && self.review.review_reason != "duplicate_request"
    }
}

/// The queue of one run.
pub struct RunQueue {
    pub out: PathBuf,
    pub state: RunState,
    /// In input order.
    pub items: Vec<ReviewItem>,
    by_input_row: HashMap<u64, usize>,
    selfie_base: InputDir,
}

/// The requests file a run read and its directory, from its summary.
pub fn requests_path(out: &Path) -> anyhow::Result<PathBuf> {
    let mut summaries: Vec<PathBuf> = std::fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("summary") && n.ends_with(".json"))
        })
        .collect();
    summaries.sort();
    let first = summaries.first().ok_or_else(|| {
        UsageError(format!(
            "{} has no summary.json: is it the --out of a finished `ikd run`?",
            out.display()
        ))
    })?;
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(first)?)?;
    summary["input"]["path"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("{} names no input path", first.display()))
}

fn shard_of(dir: &Path) -> Option<u32> {
    dir.file_name()?.to_str()?.strip_prefix("shard=")?.parse().ok()
}

impl RunQueue {
    /// Loads the queue of the run in `out`; `gallery` locates the KTP-el photos; `models` are the
    /// embedders (id, dims) the gallery is read with.
    pub fn load(
        out: &Path,
        gallery: &Path,
        models: &[(String, usize)],
        selfie_dir: Option<&Path>,
    ) -> anyhow::Result<RunQueue> {
        let state = RunState::read(out)?;
        let selfie_base = match (selfie_dir, &state.fingerprint.selfie_dir) {
            (Some(d), _) => InputDir::new(d).with_context(|| format!("selfie directory {}", d.display()))?,
            (None, Some(d)) => {
                InputDir::new(Path::new(d)).with_context(|| format!("the run's selfie directory {d}"))?
            }
            (None, None) => {
                let requests = requests_path(out)?;
                InputDir::of_file(&requests).with_context(|| format!("the directory of {}", requests.display()))?
            }
        };
        let mut items = Vec::new();
        let review_root = out.join("review");
        let mut shard_dirs: Vec<PathBuf> = match std::fs::read_dir(&review_root) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| shard_of(p).is_some())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", review_root.display())),
        };
        shard_dirs.sort();
        for dir in shard_dirs {
            let shard = shard_of(&dir).unwrap_or(0);
            for part in part_files(&dir)? {
                let rows = read_review(&part)?;
                let wanted: BTreeSet<u64> = rows.iter().map(|r| r.input_row).collect();
                let result_part = out
                    .join("results")
                    .join(format!("shard={shard}"))
                    .join(part.file_name().unwrap_or_default());
                let mut results: HashMap<u64, ResultRow> = if result_part.is_file() {
                    read_results(&result_part)?
                        .into_iter()
                        .filter(|r| wanted.contains(&r.input_row))
                        .map(|r| (r.input_row, r))
                        .collect()
                } else {
                    HashMap::new()
                };
                for review in rows {
                    let province = Nik::parse(&review.nik).ok().map(|n| n.province_code());
                    items.push(ReviewItem {
                        result: results.remove(&review.input_row),
                        review,
                        shard,
                        province,
                        ktp_photo: None,
                    });
                }
            }
        }
        items.sort_by_key(|i| i.review.input_row);
        locate_ktp_photos(&mut items, gallery, models)?;
        let by_input_row = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.review.input_row, i))
            .collect();
        Ok(RunQueue {
            out: out.to_path_buf(),
            state,
            items,
            by_input_row,
            selfie_base,
        })
    }

    pub fn run_id(&self) -> &str {
        &self.state.run_id
    }

    pub fn item(&self, input_row: u64) -> Option<&ReviewItem> {
        self.by_input_row.get(&input_row).map(|&i| &self.items[i])
    }

    /// Counts per (province, reason), for the queue page's filters.
    pub fn counts(&self) -> BTreeMap<(Option<u8>, String), usize> {
        let mut m = BTreeMap::new();
        for it in &self.items {
            *m.entry((it.province, it.review.review_reason.clone())).or_default() += 1;
        }
        m
    }

    /// The selfie's bytes, read where the run read them.
    pub fn selfie(&self, item: &ReviewItem) -> Result<Vec<u8>, String> {
        let path = self
            .selfie_base
            .resolve(item.review.selfie_path.trim())
            .map_err(|e| match e {
                PathError::Outside(why) => format!("the selfie path lies outside the selfie directory: {why}"),
                PathError::Unreadable(err) => format!("the selfie cannot be read: {err}"),
            })?;
        std::fs::read(&path).map_err(|e| format!("the selfie cannot be read: {e}"))
    }

    /// The KTP-el photo's bytes, if the file still is the one the gallery entry was made from.
    pub fn ktp_photo(&self, item: &ReviewItem) -> Result<Vec<u8>, String> {
        let (path, sha) = item.ktp_photo.as_ref().ok_or("the NIK has no gallery entry")?;
        let bytes = std::fs::read(path).map_err(|e| format!("the KTP-el photo cannot be read: {e}"))?;
        if &ikd_engine::sha256_hex(&bytes) != sha {
            return Err("the KTP-el photo changed since the gallery was built".into());
        }
        Ok(bytes)
    }
}

/// Looks every valid NIK of the queue up in the gallery (one sorted pass) for its photo.
fn locate_ktp_photos(items: &mut [ReviewItem], gallery: &Path, models: &[(String, usize)]) -> anyhow::Result<()> {
    let niks: Vec<(usize, u64)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| Nik::parse(&it.review.nik).ok().map(|n| (i, nik_u64(&n))))
        .collect();
    let provinces: BTreeSet<u8> = items.iter().filter_map(|it| it.province).collect();
    if niks.is_empty() {
        return Ok(());
    }
    let mut reader = GalleryReader::open_with_photo_paths(gallery, &provinces, models)
        .with_context(|| format!("opening the gallery {}", gallery.display()))?;
    let keys: Vec<u64> = niks.iter().map(|&(_, k)| k).collect();
    let found = reader.lookup(&keys)?;
    for (i, key) in niks {
        if let Some(entry) = found.get(key) {
            if let Some(path) = entry.photo_path {
                items[i].ktp_photo = Some((PathBuf::from(path), hex(entry.photo_sha256)));
            }
        }
    }
    Ok(())
}
