//! The demo data set, written: `gallery/` (gallery.csv and the ID photos), `requests/`
//! (requests.csv and the selfies) and `requests/expected.csv`, and what was written
//! ([`DemoManifest`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use ikd_engine::nik::Nik;
use serde::Serialize;

use crate::bad_rows::add_duplicate;
use crate::config::DemoConfig;
use crate::error::DatasetError;
use crate::expected::{write_expected_csv, Expected, ExpectedRequest};
use crate::files::{create_dir, remove_stale};
use crate::people::{identities, list_people};
use crate::photos::{write_id_photo, write_selfie};
use crate::planned::{Planned, Selfie};
use crate::requests::plan_requests;

/// What [`generate_demo`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoManifest {
    pub gallery_csv: PathBuf,
    pub requests_csv: PathBuf,
    pub expected_csv: PathBuf,
    /// Number of gallery identities (rows of `gallery.csv`).
    pub gallery_count: usize,
    /// Number of request rows (rows of `requests.csv`, the duplicate included).
    pub request_count: usize,
    /// Gallery identities per region key (province + regency, e.g. 3174).
    pub regions: BTreeMap<u16, usize>,
    /// Request rows per expected outcome.
    pub outcomes: BTreeMap<Expected, usize>,
    /// Every request row, in file order.
    pub requests: Vec<ExpectedRequest>,
}

fn dob_string((y, m, d): (u16, u8, u8)) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

fn gender_string(female: bool) -> &'static str {
    if female {
        "female"
    } else {
        "male"
    }
}

/// Deterministically write the demo data set into `out_dir` (created if needed) and return
/// what was written. See the crate documentation for the layout.
pub fn generate_demo(config: &DemoConfig, out_dir: &Path) -> Result<DemoManifest, DatasetError> {
    let (gw, gh) = config.gallery_size;
    let (sw, sh) = config.selfie_size;
    if gw == 0 || gh == 0 || sw == 0 || sh == 0 || gw > 4000 || gh > 4000 || sw > 8000 || sh > 8000 {
        return Err(DatasetError::Invalid("image sizes must be 1..4000 / 1..8000".into()));
    }
    let people = list_people(&config.fixtures_dir)?;

    let gallery_dir = out_dir.join("gallery");
    let photos_dir = gallery_dir.join("photos");
    let requests_dir = out_dir.join("requests");
    let selfies_dir = requests_dir.join("selfies");
    for d in [&photos_dir, &selfies_dir] {
        create_dir(d)?;
    }
    remove_stale(&photos_dir, |n| {
        n.len() == 20 && n.ends_with(".jpg") && n[..16].bytes().all(|b| b.is_ascii_digit())
    })?;
    remove_stale(&selfies_dir, |n| n.starts_with("REQ-"))?;

    // Identities.
    let mut used = HashSet::new();
    let ids = identities(config.seed, people, &mut used);

    // Gallery.
    let gallery_csv = gallery_dir.join("gallery.csv");
    let mut regions = BTreeMap::new();
    {
        let mut w = csv::Writer::from_path(&gallery_csv).map_err(|e| DatasetError::csv(&gallery_csv, e))?;
        w.write_record(["nik", "photo_path", "full_name", "date_of_birth", "gender"])
            .map_err(|e| DatasetError::csv(&gallery_csv, e))?;
        for id in &ids {
            write_id_photo(config, id, &gallery_dir.join(&id.photo_rel))?;
            w.write_record([
                id.nik.as_str(),
                id.photo_rel.as_str(),
                id.name.as_str(),
                dob_string(id.dob).as_str(),
                gender_string(id.female),
            ])
            .map_err(|e| DatasetError::csv(&gallery_csv, e))?;
            if let Ok(nik) = Nik::parse(&id.nik) {
                *regions.entry(nik.region_key()).or_insert(0) += 1;
            }
        }
        w.flush().map_err(|e| DatasetError::io(&gallery_csv, e))?;
    }

    // Requests.
    let plan = plan_requests(config, &ids, &mut used);
    let width = plan.len().to_string().len().max(6);
    let mut rows: Vec<(String, Planned)> = plan
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("REQ-{:0width$}", i + 1), p))
        .collect();
    add_duplicate(config, &mut rows);

    let requests_csv = requests_dir.join("requests.csv");
    let expected_csv = requests_dir.join("expected.csv");
    let mut expected = Vec::with_capacity(rows.len());
    let mut written: HashMap<String, String> = HashMap::new();
    {
        let mut w = csv::Writer::from_path(&requests_csv).map_err(|e| DatasetError::csv(&requests_csv, e))?;
        w.write_record([
            "request_id",
            "nik",
            "selfie_path",
            "full_name",
            "date_of_birth",
            "gender",
            "email",
        ])
        .map_err(|e| DatasetError::csv(&requests_csv, e))?;
        for (id, p) in &rows {
            let (selfie_rel, exif_orientation) = if p.expected == Expected::DuplicateRequest {
                (written.get(id).cloned().unwrap_or_default(), None)
            } else {
                let (rel, exif) = write_selfie(config, &requests_dir, id, &p.selfie)?;
                written.insert(id.clone(), rel.clone());
                (rel, exif)
            };
            let c = &p.claim;
            w.write_record([
                id.as_str(),
                c.nik.as_str(),
                selfie_rel.as_str(),
                c.name.as_str(),
                dob_string(c.dob).as_str(),
                gender_string(c.female),
                c.email.as_str(),
            ])
            .map_err(|e| DatasetError::csv(&requests_csv, e))?;
            let exif_orientation = if p.expected == Expected::DuplicateRequest {
                match &p.selfie {
                    Selfie::Photo { exif, .. } => *exif,
                    _ => None,
                }
            } else {
                exif_orientation
            };
            expected.push(ExpectedRequest {
                request_id: id.clone(),
                nik: c.nik.clone(),
                selfie_path: selfie_rel,
                expected: p.expected,
                exif_orientation,
                note: p.note.clone(),
            });
        }
        w.flush().map_err(|e| DatasetError::io(&requests_csv, e))?;
    }
    write_expected_csv(&expected_csv, &expected)?;

    let mut outcomes = BTreeMap::new();
    for e in &expected {
        *outcomes.entry(e.expected).or_insert(0) += 1;
    }
    Ok(DemoManifest {
        gallery_csv,
        requests_csv,
        expected_csv,
        gallery_count: ids.len(),
        request_count: expected.len(),
        regions,
        outcomes,
        requests: expected,
    })
}
