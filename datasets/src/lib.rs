//! Deterministic demo and fixture data for ikd.
//!
//! [`generate_demo`] writes a small regional data set built from the face photos bundled in
//! `datasets/fixtures/faces` (see `fixtures/faces/CREDITS.md`):
//!
//! * `gallery/gallery.csv` + `gallery/photos/*.jpg`: the registry side, one KTP-el style ID
//!   photo per identity with a synthetic but valid NIK, an Indonesian name, birth date, gender;
//! * `requests/requests.csv` + `requests/selfies/*`: citizens' requests (NIK + selfie), with
//!   genuine selfies from another photo of the same person, impostors, and deliberately bad
//!   rows (corrupt files, no face, two faces, cut-off face, invalid or unknown NIK, missing
//!   file, duplicate request id, a PNG named `.jpg`, EXIF-rotated selfies);
//! * `requests/expected.csv`: the expected outcome of every request row.
//!
//! The same [`DemoConfig`] always produces byte-identical files. See `docs/datasets.md`.

#![forbid(unsafe_code)]

mod imaging;
mod names;
mod nik;
mod rng;
pub mod synthetic;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use ikd_engine::nik::Nik;
use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use imaging::{exif_orientation_segment, with_exif_orientation, Layout, KTP_BLUE, KTP_RED};
pub use nik::synthetic_nik;
pub use rng::DemoRng;

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
    fn io(path: &Path, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    fn csv(path: &Path, source: csv::Error) -> Self {
        DatasetError::Csv {
            path: path.to_path_buf(),
            source,
        }
    }
    fn image(path: &Path, source: image::ImageError) -> Self {
        DatasetError::Image {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The bundled face fixtures (`<crate>/fixtures/faces`), located at compile time.
pub fn default_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("faces")
}

/// Settings of [`generate_demo`].
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Seed of every random choice; the same config gives byte-identical output.
    pub seed: u64,
    /// Genuine requests per identity, each from a different photo of the person when the
    /// person has enough photos (photos are reused, with another framing, when not).
    pub requests_per_identity: usize,
    /// Impostor requests (someone else's selfie for a gallery NIK), as a fraction of the
    /// genuine requests.
    pub impostor_rate: f64,
    /// Fraction of selfies stored rotated with an EXIF Orientation tag (6, 8 or 3).
    pub exif_rotation_rate: f64,
    /// Add the deliberately bad rows (corrupt files, no face, invalid NIK, ...).
    pub bad_rows: bool,
    /// Where the face fixtures are (defaults to [`default_fixtures_dir`]).
    pub fixtures_dir: PathBuf,
    /// ID photo size (3:4 portrait).
    pub gallery_size: (u32, u32),
    /// JPEG quality of ID photos.
    pub gallery_jpeg_quality: u8,
    /// Upright selfie size (3:4 portrait, phone-like).
    pub selfie_size: (u32, u32),
    /// JPEG quality of selfies.
    pub selfie_jpeg_quality: u8,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 20240817,
            requests_per_identity: 2,
            impostor_rate: 0.10,
            exif_rotation_rate: 0.20,
            bad_rows: true,
            fixtures_dir: default_fixtures_dir(),
            gallery_size: (300, 400),
            gallery_jpeg_quality: 80,
            selfie_size: (720, 960),
            selfie_jpeg_quality: 90,
        }
    }
}

/// Expected outcome of a request row (`requests/expected.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Expected {
    /// The selfie is the NIK owner: should match.
    Match,
    /// Someone else's selfie (impostor): should not match.
    NoMatch,
    /// Well-formed 16 digits that fail NIK validation.
    InvalidNik,
    /// Valid NIK that is not in the gallery.
    NotInGallery,
    /// Unreadable image: truncated JPEG or random bytes. (An engine that distinguishes
    /// truncation may report `truncated_image` for the truncated one.)
    CorruptImage,
    /// A picture without any face.
    NoFace,
    /// Two faces in the selfie.
    MultipleFaces,
    /// The face is cut off at the image edge.
    FaceCutOff,
    /// `selfie_path` does not exist.
    FileNotFound,
    /// A repeated `request_id` (the first occurrence keeps its own outcome).
    DuplicateRequest,
}

impl Expected {
    /// Every outcome, in a stable order.
    pub const ALL: [Expected; 10] = [
        Expected::Match,
        Expected::NoMatch,
        Expected::InvalidNik,
        Expected::NotInGallery,
        Expected::CorruptImage,
        Expected::NoFace,
        Expected::MultipleFaces,
        Expected::FaceCutOff,
        Expected::FileNotFound,
        Expected::DuplicateRequest,
    ];

    /// The code written in `expected.csv` (`match`, `no_match`, or a reason code).
    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Match => "match",
            Expected::NoMatch => "no_match",
            Expected::InvalidNik => "invalid_nik",
            Expected::NotInGallery => "not_in_gallery",
            Expected::CorruptImage => "corrupt_image",
            Expected::NoFace => "no_face",
            Expected::MultipleFaces => "multiple_faces",
            Expected::FaceCutOff => "face_cut_off",
            Expected::FileNotFound => "file_not_found",
            Expected::DuplicateRequest => "duplicate_request",
        }
    }

    /// Parse a code written by [`Expected::as_str`].
    pub fn from_code(code: &str) -> Option<Expected> {
        Expected::ALL.into_iter().find(|e| e.as_str() == code)
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request row and what should come out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedRequest {
    pub request_id: String,
    pub nik: String,
    /// Relative to `requests.csv`.
    pub selfie_path: String,
    pub expected: Expected,
    /// EXIF Orientation written into the selfie, if any.
    pub exif_orientation: Option<u16>,
    /// Human-readable description of the row (source photo, kind of defect).
    pub note: String,
}

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

// ---------------------------------------------------------------------------------------------
// Sources

#[derive(Debug, Clone)]
struct SourcePhoto {
    path: PathBuf,
    layout: Layout,
    label: String,
}

#[derive(Debug, Clone)]
struct Identity {
    gallery: SourcePhoto,
    others: Vec<SourcePhoto>,
    female: bool,
    nik: String,
    name: String,
    dob: (u16, u8, u8),
    email: String,
    photo_rel: String,
}

impl Identity {
    fn claim(&self) -> Claim {
        Claim {
            nik: self.nik.clone(),
            name: self.name.clone(),
            dob: self.dob,
            female: self.female,
            email: self.email.clone(),
        }
    }
}

/// ORL subjects who are women (the other 36 are men).
const ORL_FEMALE: [u32; 4] = [8, 10, 32, 35];

/// Portrait identities: (name, gallery file + crop, selfie files + crops). Crops are pixel
/// boxes in the bundled files: a head-and-shoulders ID framing for the gallery photo, a
/// phone-selfie framing for the others.
type PortraitSpec = (&'static str, (&'static str, Layout), &'static [(&'static str, Layout)]);
const PORTRAITS: [PortraitSpec; 2] = [
    (
        "obama",
        ("obama.jpg", Layout::Crop(222, 0, 753, 708)),
        &[
            ("obama2.jpg", Layout::Crop(0, 0, 626, 835)),
            ("obama3.jpg", Layout::Crop(258, 0, 1258, 1333)),
        ],
    ),
    (
        // biden2.jpg is the official studio portrait, so it is the registry photo; biden.jpg
        // (a standing photo) becomes the selfie.
        "biden",
        ("biden2.jpg", Layout::Crop(222, 0, 1053, 1110)),
        &[("biden.jpg", Layout::Crop(0, 0, 970, 1293))],
    ),
];

fn require(path: PathBuf) -> Result<PathBuf, DatasetError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(DatasetError::MissingFixture(path))
    }
}

fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let rd = fs::read_dir(dir).map_err(|_| DatasetError::MissingFixture(dir.to_path_buf()))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| DatasetError::io(dir, e))?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Number in `name.<n>.jpg` (Essex file names), for numeric ordering.
fn essex_index(path: &Path) -> u32 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// (gallery photo, other photos, female) per person, in a stable order.
fn list_people(fixtures: &Path) -> Result<Vec<(SourcePhoto, Vec<SourcePhoto>, bool)>, DatasetError> {
    let mut people = Vec::new();
    // Essex94 (female part): one folder per person, photos <person>.<n>.jpg.
    for dir in sorted_dir(&fixtures.join("essex94"))? {
        if !dir.is_dir() {
            continue;
        }
        let person = dir.file_name().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        let mut photos: Vec<PathBuf> = sorted_dir(&dir)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
            .collect();
        photos.sort_by_key(|p| (essex_index(p), p.clone()));
        let mut photos = photos.into_iter().map(|path| SourcePhoto {
            label: format!(
                "essex94/{person}/{}",
                path.file_name().and_then(|s| s.to_str()).unwrap_or("?")
            ),
            path,
            layout: Layout::Essex,
        });
        if let Some(first) = photos.next() {
            people.push((first, photos.collect(), true));
        }
    }
    // ORL: s1..s40, photos 1.pgm..10.pgm.
    for s in 1..=40u32 {
        let dir = fixtures.join("orl").join(format!("s{s}"));
        let mut photos = Vec::new();
        for n in 1..=10u32 {
            let path = dir.join(format!("{n}.pgm"));
            if path.is_file() {
                photos.push(SourcePhoto {
                    label: format!("orl/s{s}/{n}.pgm"),
                    path,
                    layout: Layout::Orl,
                });
            }
        }
        if photos.is_empty() {
            return Err(DatasetError::MissingFixture(dir));
        }
        let first = photos.remove(0);
        people.push((first, photos, ORL_FEMALE.contains(&s)));
    }
    // Portraits.
    for (_, (file, layout), others) in PORTRAITS {
        let gallery = SourcePhoto {
            path: require(fixtures.join("portraits").join(file))?,
            layout,
            label: format!("portraits/{file}"),
        };
        let mut rest = Vec::new();
        for (file, layout) in others {
            rest.push(SourcePhoto {
                path: require(fixtures.join("portraits").join(file))?,
                layout: *layout,
                label: format!("portraits/{file}"),
            });
        }
        people.push((gallery, rest, false));
    }
    Ok(people)
}

/// Regions used for the demo: province code and a few real regency / city codes.
const REGIONS: [(u8, &[u8]); 5] = [
    (31, &[71, 72, 73, 74, 75]), // DKI Jakarta: the five kota administrasi
    (32, &[1, 4, 73, 75]),       // Jawa Barat: Kab. Bogor, Kab. Bandung, Kota Bandung, Kota Bekasi
    (35, &[7, 15, 73, 78]),      // Jawa Timur: Kab. Malang, Sidoarjo, Kota Malang, Kota Surabaya
    (51, &[3, 4, 71]),           // Bali: Badung, Gianyar, Kota Denpasar
    (73, &[6, 71]),              // Sulawesi Selatan: Gowa, Kota Makassar
];

fn days_in(month: u8, year: u16) -> u8 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A unique, valid synthetic NIK plus its birth date.
fn new_person_nik(
    rng: &mut DemoRng,
    used: &mut HashSet<String>,
    province: u8,
    regency: u8,
    female: bool,
) -> (String, (u16, u8, u8)) {
    let year = rng.range(1955, 2006) as u16;
    let month = rng.range(1, 12) as u8;
    let day = rng.range(1, u32::from(days_in(month, year))) as u8;
    let district = rng.range(1, 24) as u8;
    loop {
        let serial = rng.range(1, 2999) as u16;
        let nik = synthetic_nik(
            rng,
            province,
            regency,
            district,
            (day, month, (year % 100) as u8),
            female,
            serial,
        );
        if used.insert(nik.clone()) {
            return (nik, (year, month, day));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request plan

#[derive(Debug, Clone)]
struct Claim {
    nik: String,
    name: String,
    dob: (u16, u8, u8),
    female: bool,
    email: String,
}

#[derive(Debug, Clone)]
enum Selfie {
    /// A selfie rendered from a source photo.
    Photo {
        photo: SourcePhoto,
        exif: Option<u16>,
        png: bool,
        truncate: bool,
    },
    /// A fixture copied byte for byte, with this extension.
    Copy {
        path: PathBuf,
        ext: &'static str,
    },
    Garbage,
    NoFace,
    Missing,
}

#[derive(Debug, Clone)]
struct Planned {
    claim: Claim,
    selfie: Selfie,
    expected: Expected,
    note: String,
}

fn genuine_selfie(rng: &mut DemoRng, photo: SourcePhoto, exif_rate: f64) -> Selfie {
    let exif = if rng.chance(exif_rate) {
        rng.pick(&[6u16, 8, 3]).copied()
    } else {
        None
    };
    Selfie::Photo {
        photo,
        exif,
        png: false,
        truncate: false,
    }
}

fn plan_requests(config: &DemoConfig, ids: &[Identity], used: &mut HashSet<String>) -> Vec<Planned> {
    let mut rng = DemoRng::derive(config.seed, "requests");
    let mut plan = Vec::new();
    let exif_rate = config.exif_rotation_rate.clamp(0.0, 1.0);

    // Genuine.
    for id in ids {
        if id.others.is_empty() {
            continue;
        }
        let start = rng.below(id.others.len() as u64) as usize;
        for k in 0..config.requests_per_identity {
            let photo = id.others[(start + k) % id.others.len()].clone();
            let note = format!("genuine: {}", photo.label);
            plan.push(Planned {
                claim: id.claim(),
                selfie: genuine_selfie(&mut rng, photo, exif_rate),
                expected: Expected::Match,
                note,
            });
        }
    }
    let genuine = plan.len();

    // Impostors: another person of the same gender when possible.
    let impostors = (genuine as f64 * config.impostor_rate.clamp(0.0, 10.0)).round() as usize;
    if ids.len() >= 2 {
        for _ in 0..impostors {
            let a = rng.below(ids.len() as u64) as usize;
            let same: Vec<usize> = (0..ids.len())
                .filter(|&b| b != a && ids[b].female == ids[a].female)
                .collect();
            let b = match rng.pick(&same) {
                Some(&b) => b,
                None => (a + 1) % ids.len(),
            };
            let photo = rng
                .pick(&ids[b].others)
                .cloned()
                .unwrap_or_else(|| ids[b].gallery.clone());
            let note = format!("impostor: {} claims {}", photo.label, ids[a].gallery.label);
            plan.push(Planned {
                claim: ids[a].claim(),
                selfie: genuine_selfie(&mut rng, photo, exif_rate),
                expected: Expected::NoMatch,
                note,
            });
        }
    }

    if config.bad_rows && !ids.is_empty() {
        let mut bad = |claim: Claim, selfie: Selfie, expected: Expected, note: &str| {
            plan.push(Planned {
                claim,
                selfie,
                expected,
                note: note.to_string(),
            })
        };
        let with_photos: Vec<&Identity> = ids.iter().filter(|i| !i.others.is_empty()).collect();
        let any_photo = |rng: &mut DemoRng| -> (Claim, SourcePhoto) {
            match rng.pick(&with_photos) {
                Some(id) => (
                    id.claim(),
                    rng.pick(&id.others).cloned().unwrap_or_else(|| id.gallery.clone()),
                ),
                None => (ids[0].claim(), ids[0].gallery.clone()),
            }
        };

        let (claim, photo) = any_photo(&mut rng);
        let note = format!("JPEG truncated to 40% of its bytes ({})", photo.label);
        bad(
            claim,
            Selfie::Photo {
                photo,
                exif: None,
                png: false,
                truncate: true,
            },
            Expected::CorruptImage,
            &note,
        );
        let (claim, _) = any_photo(&mut rng);
        bad(
            claim,
            Selfie::Garbage,
            Expected::CorruptImage,
            "random bytes named .jpg",
        );
        let (claim, _) = any_photo(&mut rng);
        bad(claim, Selfie::NoFace, Expected::NoFace, "gradient texture, no face");

        let obama = ids.iter().find(|i| i.gallery.label == "portraits/obama.jpg");
        let obama_claim = obama.map(Identity::claim).unwrap_or_else(|| ids[0].claim());
        let portraits = config.fixtures_dir.join("portraits");
        bad(
            obama_claim.clone(),
            Selfie::Copy {
                path: portraits.join("obama_and_biden.jpg"),
                ext: "jpg",
            },
            Expected::MultipleFaces,
            "two faces: portraits/obama_and_biden.jpg",
        );
        for file in ["obama_partial_face.jpg", "obama_partial_face2.jpg"] {
            bad(
                obama_claim.clone(),
                Selfie::Copy {
                    path: portraits.join(file),
                    ext: "jpg",
                },
                Expected::FaceCutOff,
                &format!("face cut off at the edge: portraits/{file}"),
            );
        }
        if obama.is_some() {
            bad(
                obama_claim.clone(),
                Selfie::Copy {
                    path: portraits.join("32bit.png"),
                    ext: "png",
                },
                Expected::Match,
                "genuine: portraits/32bit.png (RGBA PNG)",
            );
        }

        // Invalid NIKs: unknown province 99; 31 February; female day 72.
        for (what, edit) in [
            ("unknown province 99", 0usize),
            ("birth date 31 February", 1),
            ("female day 72", 2),
        ] {
            let (mut claim, photo) = any_photo(&mut rng);
            let mut digits: Vec<u8> = claim.nik.bytes().collect();
            match edit {
                0 => digits[..2].copy_from_slice(b"99"),
                1 => digits[6..10].copy_from_slice(if claim.female { b"7102" } else { b"3102" }),
                _ => digits[6..8].copy_from_slice(b"72"),
            }
            claim.nik = String::from_utf8(digits).unwrap_or_default();
            let note = format!("invalid NIK ({what}), selfie {}", photo.label);
            let selfie = genuine_selfie(&mut rng, photo, 0.0);
            bad(claim, selfie, Expected::InvalidNik, &note);
        }

        // A valid NIK that is not in the gallery.
        let (_, photo) = any_photo(&mut rng);
        let female = rng.chance(0.5);
        let (province, regencies) = REGIONS[rng.below(REGIONS.len() as u64) as usize];
        let regency = rng.pick(regencies).copied().unwrap_or(71);
        let (nik, dob) = new_person_nik(&mut rng, used, province, regency, female);
        let name = names::full_name(&mut rng, female, province);
        let email = names::email(&name);
        let note = format!("valid NIK not in the gallery, selfie {}", photo.label);
        let selfie = genuine_selfie(&mut rng, photo, 0.0);
        bad(
            Claim {
                nik,
                name,
                dob,
                female,
                email,
            },
            selfie,
            Expected::NotInGallery,
            &note,
        );

        let (claim, _) = any_photo(&mut rng);
        bad(
            claim,
            Selfie::Missing,
            Expected::FileNotFound,
            "selfie file does not exist",
        );

        let (claim, photo) = any_photo(&mut rng);
        let note = format!("genuine, PNG bytes in a .jpg file: {}", photo.label);
        bad(
            claim,
            Selfie::Photo {
                photo,
                exif: None,
                png: true,
                truncate: false,
            },
            Expected::Match,
            &note,
        );
    }
    rng.shuffle(&mut plan);
    plan
}

// ---------------------------------------------------------------------------------------------
// Writing

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    fs::write(path, bytes).map_err(|e| DatasetError::io(path, e))
}

fn create_dir(path: &Path) -> Result<(), DatasetError> {
    fs::create_dir_all(path).map_err(|e| DatasetError::io(path, e))
}

/// Remove files of an earlier run that this run may not overwrite (e.g. a selfie at the path
/// that is meant to be missing). Only names this generator writes are touched.
fn remove_stale(dir: &Path, ours: impl Fn(&str) -> bool) -> Result<(), DatasetError> {
    for path in sorted_dir(dir).unwrap_or_default() {
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
        if path.is_file() && ours(name) {
            fs::remove_file(&path).map_err(|e| DatasetError::io(&path, e))?;
        }
    }
    Ok(())
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

fn render_selfie(config: &DemoConfig, rng: &mut DemoRng, photo: &SourcePhoto) -> Result<RgbImage, DatasetError> {
    let src = imaging::load_rgb(&photo.path)?;
    let (w, h) = config.selfie_size;
    Ok(imaging::selfie(rng, &src, photo.layout, w.max(1), h.max(1)))
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
    let mut rng = DemoRng::derive(config.seed, "gallery");
    let mut used = HashSet::new();
    let mut ids = Vec::with_capacity(people.len());
    for (gallery, others, female) in people {
        let (province, regencies) = REGIONS[rng.below(REGIONS.len() as u64) as usize];
        let regency = rng.pick(regencies).copied().unwrap_or(71);
        let (nik, dob) = new_person_nik(&mut rng, &mut used, province, regency, female);
        let name = names::full_name(&mut rng, female, province);
        let email = names::email(&name);
        let photo_rel = format!("photos/{nik}.jpg");
        ids.push(Identity {
            gallery,
            others,
            female,
            nik,
            name,
            dob,
            email,
            photo_rel,
        });
    }

    // Gallery.
    let gallery_csv = gallery_dir.join("gallery.csv");
    let mut regions = BTreeMap::new();
    {
        let mut w = csv::Writer::from_path(&gallery_csv).map_err(|e| DatasetError::csv(&gallery_csv, e))?;
        w.write_record(["nik", "photo_path", "full_name", "date_of_birth", "gender"])
            .map_err(|e| DatasetError::csv(&gallery_csv, e))?;
        for id in &ids {
            let src = imaging::load_rgb(&id.gallery.path)?;
            let bg = if id.dob.0 % 2 == 1 { KTP_RED } else { KTP_BLUE };
            let photo = imaging::id_photo(&src, id.gallery.layout, bg, gw, gh);
            let bytes = imaging::encode_jpeg(&photo, config.gallery_jpeg_quality)
                .map_err(|e| DatasetError::image(&id.gallery.path, e))?;
            write_file(&gallery_dir.join(&id.photo_rel), &bytes)?;
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
    // A duplicate request id: a genuine row submitted a second time, a few rows later.
    let mut dup_rng = DemoRng::derive(config.seed, "duplicate");
    if config.bad_rows {
        let genuine: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| p.expected == Expected::Match && matches!(p.selfie, Selfie::Photo { .. }))
            .map(|(i, _)| i)
            .collect();
        if let Some(&i) = dup_rng.pick(&genuine) {
            let mut copy = rows[i].clone();
            copy.1.expected = Expected::DuplicateRequest;
            copy.1.note = format!("duplicate of request {}", copy.0);
            let at = (i + 1 + dup_rng.below(5) as usize).min(rows.len());
            rows.insert(at, copy);
        }
    }

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
            let mut exif_orientation = None;
            let selfie_rel = if p.expected == Expected::DuplicateRequest {
                written.get(id).cloned().unwrap_or_default()
            } else {
                let ext = match &p.selfie {
                    Selfie::Copy { ext, .. } => ext,
                    _ => "jpg",
                };
                let rel = format!("selfies/{id}.{ext}");
                let path = requests_dir.join(&rel);
                let mut rng = DemoRng::derive(config.seed, &format!("selfie {id}"));
                match &p.selfie {
                    Selfie::Photo {
                        photo,
                        exif,
                        png,
                        truncate,
                    } => {
                        let upright = render_selfie(config, &mut rng, photo)?;
                        let bytes = if *png {
                            imaging::encode_png(&upright)
                        } else if let Some(tag) = exif {
                            exif_orientation = Some(*tag);
                            let stored = imaging::store_for_orientation(&upright, *tag);
                            imaging::encode_jpeg(&stored, config.selfie_jpeg_quality)
                                .map(|b| with_exif_orientation(&b, *tag))
                        } else {
                            imaging::encode_jpeg(&upright, config.selfie_jpeg_quality)
                        }
                        .map_err(|e| DatasetError::image(&photo.path, e))?;
                        let bytes = if *truncate {
                            bytes[..bytes.len() * 2 / 5].to_vec()
                        } else {
                            bytes
                        };
                        write_file(&path, &bytes)?;
                    }
                    Selfie::Copy { path: src, .. } => {
                        let bytes = fs::read(src).map_err(|_| DatasetError::MissingFixture(src.clone()))?;
                        write_file(&path, &bytes)?;
                    }
                    Selfie::Garbage => {
                        let mut bytes = rng.bytes(24_000);
                        // Make sure no image signature is sniffed from the first bytes.
                        bytes[0] = 0x01;
                        write_file(&path, &bytes)?;
                    }
                    Selfie::NoFace => {
                        let img = imaging::gradient(&mut rng, sw, sh, true);
                        let bytes = imaging::encode_jpeg(&img, config.selfie_jpeg_quality)
                            .map_err(|e| DatasetError::image(&path, e))?;
                        write_file(&path, &bytes)?;
                    }
                    Selfie::Missing => {}
                }
                written.insert(id.clone(), rel.clone());
                rel
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
    {
        let mut w = csv::Writer::from_path(&expected_csv).map_err(|e| DatasetError::csv(&expected_csv, e))?;
        w.write_record(["request_id", "expected"])
            .map_err(|e| DatasetError::csv(&expected_csv, e))?;
        for e in &expected {
            w.write_record([e.request_id.as_str(), e.expected.as_str()])
                .map_err(|err| DatasetError::csv(&expected_csv, err))?;
        }
        w.flush().map_err(|e| DatasetError::io(&expected_csv, e))?;
    }

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

/// Write `n` request rows to `out_csv` by repeating the valid rows of a demo `requests.csv`
/// (rows whose expected outcome is `match` or `no_match`, read from the sibling
/// `expected.csv`; without it: rows with a valid NIK, an existing selfie and a first-seen
/// request id), with new unique request ids `REQ-000001`... Selfie paths stay relative when
/// `out_csv` is in the same directory as `requests_csv`, and become absolute otherwise.
/// Returns the number of rows written (`n`).
pub fn expand_requests(requests_csv: &Path, n: usize, out_csv: &Path) -> Result<usize, DatasetError> {
    let in_dir = requests_csv.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut reader = csv::Reader::from_path(requests_csv).map_err(|e| DatasetError::csv(requests_csv, e))?;
    let headers = reader
        .headers()
        .map_err(|e| DatasetError::csv(requests_csv, e))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DatasetError::Invalid(format!("{}: no column {name}", requests_csv.display())))
    };
    let (id_col, nik_col, path_col) = (col("request_id")?, col("nik")?, col("selfie_path")?);
    let mut records = Vec::new();
    for rec in reader.records() {
        records.push(rec.map_err(|e| DatasetError::csv(requests_csv, e))?);
    }

    let expected_path = in_dir.join("expected.csv");
    let keep: Vec<bool> = if expected_path.is_file() {
        let mut r = csv::Reader::from_path(&expected_path).map_err(|e| DatasetError::csv(&expected_path, e))?;
        let mut codes = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| DatasetError::csv(&expected_path, e))?;
            codes.push(rec.get(1).unwrap_or("").to_string());
        }
        if codes.len() != records.len() {
            return Err(DatasetError::Invalid(format!(
                "{} has {} rows but {} has {}",
                expected_path.display(),
                codes.len(),
                requests_csv.display(),
                records.len()
            )));
        }
        codes.iter().map(|c| c == "match" || c == "no_match").collect()
    } else {
        let mut seen = HashSet::new();
        records
            .iter()
            .map(|r| {
                let id = r.get(id_col).unwrap_or("");
                let nik_ok = Nik::parse(r.get(nik_col).unwrap_or("")).is_ok();
                let file_ok = in_dir.join(r.get(path_col).unwrap_or("")).is_file();
                seen.insert(id.to_string()) && nik_ok && file_ok
            })
            .collect()
    };
    let valid: Vec<&csv::StringRecord> = records.iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| r).collect();
    if valid.is_empty() && n > 0 {
        return Err(DatasetError::Invalid(format!(
            "{} has no valid request rows to repeat",
            requests_csv.display()
        )));
    }

    let out_dir = out_csv.parent().map(Path::to_path_buf).unwrap_or_default();
    let same_dir = match (fs::canonicalize(&in_dir), fs::canonicalize(&out_dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => in_dir == out_dir,
    };
    let base = if same_dir {
        None
    } else {
        Some(fs::canonicalize(&in_dir).unwrap_or(in_dir.clone()))
    };

    let mut w = csv::Writer::from_path(out_csv).map_err(|e| DatasetError::csv(out_csv, e))?;
    w.write_record(&headers).map_err(|e| DatasetError::csv(out_csv, e))?;
    let width = n.to_string().len().max(6);
    for i in 0..n {
        let src = valid[i % valid.len()];
        let mut row: Vec<String> = src.iter().map(str::to_string).collect();
        row[id_col] = format!("REQ-{:0width$}", i + 1);
        if let Some(base) = &base {
            let rel = Path::new(&row[path_col]);
            if rel.is_relative() {
                row[path_col] = base.join(rel).to_string_lossy().into_owned();
            }
        }
        w.write_record(&row).map_err(|e| DatasetError::csv(out_csv, e))?;
    }
    w.flush().map_err(|e| DatasetError::io(out_csv, e))?;
    Ok(n)
}
