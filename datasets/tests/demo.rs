//! Tests of the demo generator. They need only the bundled fixtures, not the face models.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ikd_datasets::{expand_requests, generate_demo, synthetic_nik, DemoConfig, DemoManifest, DemoRng, Expected};
use ikd_engine::nik::{Gender, Nik};
use image::{ImageDecoder, ImageFormat, ImageReader};

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ikd-datasets").join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// The default demo, generated once for all tests of this binary.
fn demo() -> &'static (PathBuf, DemoManifest) {
    static DEMO: OnceLock<(PathBuf, DemoManifest)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tmp("demo");
        let manifest = generate_demo(&DemoConfig::default(), &dir).expect("generate demo");
        (dir, manifest)
    })
}

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .map(str::to_string)
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_gives_identical_bytes() {
    let (a, manifest_a) = demo();
    let b = tmp("demo-again");
    let manifest_b = generate_demo(&DemoConfig::default(), &b).unwrap();
    assert_eq!(manifest_a.requests, manifest_b.requests);
    let files_a = files_under(a);
    assert_eq!(files_a, files_under(&b));
    assert!(files_a.len() > 150, "{} files", files_a.len());
    for f in &files_a {
        assert!(
            fs::read(a.join(f)).unwrap() == fs::read(b.join(f)).unwrap(),
            "{} differs",
            f.display()
        );
    }
    // Another seed gives other data.
    let c = tmp("demo-other-seed");
    generate_demo(
        &DemoConfig {
            seed: 7,
            ..DemoConfig::default()
        },
        &c,
    )
    .unwrap();
    assert_ne!(
        fs::read(a.join("gallery/gallery.csv")).unwrap(),
        fs::read(c.join("gallery/gallery.csv")).unwrap()
    );
    let _ = fs::remove_dir_all(&b);
    let _ = fs::remove_dir_all(&c);
}

#[test]
fn gallery_niks_are_valid_unique_and_consistent() {
    let (dir, manifest) = demo();
    let rows = read_csv(&dir.join("gallery/gallery.csv"));
    assert_eq!(rows.len(), manifest.gallery_count);
    assert_eq!(rows.len(), 19 + 40 + 2);
    let mut seen = HashSet::new();
    let mut provinces = HashSet::new();
    for row in &rows {
        let nik = Nik::parse(&row["nik"]).unwrap_or_else(|e| panic!("{}: {e}", row["nik"]));
        assert!(seen.insert(nik), "duplicate NIK {}", row["nik"]);
        provinces.insert(nik.province_code());
        let gender = if row["gender"] == "female" {
            Gender::Female
        } else {
            Gender::Male
        };
        assert_eq!(nik.gender(), gender);
        let dob = &row["date_of_birth"];
        let (d, m, yy) = nik.birth_date();
        assert_eq!(&dob[2..], format!("{yy:02}-{m:02}-{d:02}"), "{dob}");
        assert!(!row["full_name"].trim().is_empty());
        let photo = dir.join("gallery").join(&row["photo_path"]);
        let img = image::open(&photo).unwrap();
        assert_eq!((img.width(), img.height()), (300, 400));
    }
    assert!(provinces.len() >= 3, "{provinces:?}");
    assert!(manifest.regions.len() >= 5, "{:?}", manifest.regions);
    // Essex94 (female part) and ORL women.
    let women = rows.iter().filter(|r| r["gender"] == "female").count();
    assert_eq!(women, 19 + 4);
}

#[test]
fn every_selfie_exists_except_the_missing_one() {
    let (dir, manifest) = demo();
    let requests = read_csv(&dir.join("requests/requests.csv"));
    let expected = read_csv(&dir.join("requests/expected.csv"));
    assert_eq!(requests.len(), expected.len());
    assert_eq!(requests.len(), manifest.request_count);
    let mut missing = 0;
    for (req, exp) in requests.iter().zip(&expected) {
        assert_eq!(req["request_id"], exp["request_id"]);
        assert!(req["request_id"].starts_with("REQ-"));
        assert!(req["email"].ends_with("@example.id"));
        let exists = dir.join("requests").join(&req["selfie_path"]).is_file();
        if exp["expected"] == "file_not_found" {
            assert!(!exists);
            missing += 1;
        } else {
            assert!(exists, "{}", req["selfie_path"]);
        }
    }
    assert_eq!(missing, 1);
}

#[test]
fn exif_rotated_selfies_carry_the_tag() {
    let (dir, manifest) = demo();
    let rotated: Vec<_> = manifest
        .requests
        .iter()
        .filter(|r| r.exif_orientation.is_some())
        .collect();
    assert!(rotated.len() >= 10, "{} rotated", rotated.len());
    let tags: HashSet<u16> = rotated.iter().filter_map(|r| r.exif_orientation).collect();
    assert!(tags.len() >= 2, "{tags:?}");
    for r in rotated {
        let tag = r.exif_orientation.unwrap();
        let bytes = fs::read(dir.join("requests").join(&r.selfie_path)).unwrap();
        // APP1 Exif right after SOI.
        assert_eq!(&bytes[..4], &[0xFF, 0xD8, 0xFF, 0xE1]);
        assert_eq!(&bytes[6..12], b"Exif\0\0");
        let mut decoder = ImageReader::new(Cursor::new(&bytes))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        let orientation = decoder.orientation().unwrap();
        assert_eq!(orientation, image::metadata::Orientation::from_exif(tag as u8).unwrap());
        let (w, h) = decoder.dimensions();
        if tag == 6 || tag == 8 {
            assert_eq!((w, h), (960, 720));
        } else {
            assert_eq!((w, h), (720, 960));
        }
        let mut img = image::DynamicImage::from_decoder(decoder).unwrap();
        img.apply_orientation(orientation);
        assert_eq!((img.width(), img.height()), (720, 960), "upright after orientation");
    }
    // Unrotated selfies have no Exif.
    let plain = manifest
        .requests
        .iter()
        .find(|r| r.exif_orientation.is_none() && r.expected == Expected::Match && r.note.starts_with("genuine: orl"))
        .unwrap();
    let bytes = fs::read(dir.join("requests").join(&plain.selfie_path)).unwrap();
    assert_eq!(&bytes[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
}

#[test]
fn bad_rows_are_present_and_really_bad() {
    let (dir, manifest) = demo();
    for e in Expected::ALL {
        assert!(manifest.outcomes.get(&e).copied().unwrap_or(0) >= 1, "no {e} row");
    }
    let gallery: HashSet<String> = read_csv(&dir.join("gallery/gallery.csv"))
        .into_iter()
        .map(|r| r["nik"].clone())
        .collect();
    let mut ids = HashSet::new();
    let mut png_as_jpg = 0;
    for r in &manifest.requests {
        let path = dir.join("requests").join(&r.selfie_path);
        let nik_valid = Nik::parse(&r.nik).is_ok();
        match r.expected {
            Expected::InvalidNik => {
                assert!(!nik_valid, "{}", r.note);
                assert_eq!(r.nik.len(), 16);
                assert!(r.nik.bytes().all(|b| b.is_ascii_digit()));
            }
            Expected::NotInGallery => assert!(nik_valid && !gallery.contains(&r.nik)),
            Expected::DuplicateRequest => assert!(ids.contains(&r.request_id)),
            _ => assert!(nik_valid && gallery.contains(&r.nik), "{}", r.note),
        }
        if r.expected != Expected::DuplicateRequest {
            assert!(
                ids.insert(r.request_id.clone()),
                "unexpected repeated id {}",
                r.request_id
            );
        }
        match r.expected {
            Expected::CorruptImage => {
                // Random bytes do not decode; the truncated JPEG has lost its end (a lenient
                // decoder may still paint the first 40 % of it).
                let bytes = fs::read(&path).unwrap();
                let truncated = bytes.starts_with(&[0xFF, 0xD8]) && !bytes.ends_with(&[0xFF, 0xD9]);
                assert!(truncated || image::load_from_memory(&bytes).is_err(), "{}", r.note);
            }
            Expected::FileNotFound => assert!(!path.exists()),
            Expected::Match | Expected::NoMatch | Expected::NoFace | Expected::MultipleFaces => {
                let bytes = fs::read(&path).unwrap();
                let format = image::guess_format(&bytes).unwrap();
                if format == ImageFormat::Png && r.selfie_path.ends_with(".jpg") {
                    png_as_jpg += 1;
                }
                image::load_from_memory(&bytes).unwrap();
            }
            _ => {}
        }
    }
    assert_eq!(png_as_jpg, 1);
    let impostors = manifest.outcomes[&Expected::NoMatch];
    let genuine = manifest.outcomes[&Expected::Match];
    assert!(
        impostors * 20 >= genuine && impostors * 5 <= genuine,
        "{impostors} / {genuine}"
    );
}

#[test]
fn expand_requests_repeats_valid_rows_with_new_ids() {
    let (dir, _) = demo();
    let out_dir = tmp("expanded");
    fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("requests_1000.csv");
    assert_eq!(
        expand_requests(&dir.join("requests/requests.csv"), 1000, &out).unwrap(),
        1000
    );
    let rows = read_csv(&out);
    assert_eq!(rows.len(), 1000);
    let ids: HashSet<_> = rows.iter().map(|r| r["request_id"].clone()).collect();
    assert_eq!(ids.len(), 1000);
    for r in &rows {
        Nik::parse(&r["nik"]).unwrap();
        assert!(Path::new(&r["selfie_path"]).is_absolute());
        assert!(Path::new(&r["selfie_path"]).is_file());
    }
    // Same directory: paths stay relative (on a copy of the CSVs, not to disturb the demo).
    let copy = tmp("expanded-same-dir");
    fs::create_dir_all(&copy).unwrap();
    for f in ["requests.csv", "expected.csv"] {
        fs::copy(dir.join("requests").join(f), copy.join(f)).unwrap();
    }
    expand_requests(&copy.join("requests.csv"), 30, &copy.join("requests_30.csv")).unwrap();
    let rows = read_csv(&copy.join("requests_30.csv"));
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|r| r["selfie_path"].starts_with("selfies/")));
}

#[test]
fn synthetic_nik_always_parses() {
    let mut rng = DemoRng::new(99);
    let s = synthetic_nik(&mut rng, 73, 71, 3, (17, 8, 45), false, 42);
    assert_eq!(s, "7371031708450042");
    let s = synthetic_nik(&mut rng, 97, 0, 0, (31, 2, 99), true, 0);
    let nik = Nik::parse(&s).unwrap();
    assert_eq!(nik.gender(), Gender::Female);
    assert_eq!(nik.birth_date().1, 2);
}
