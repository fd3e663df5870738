//! The demo's deliberately bad rows: corrupt and truncated files, no face, two faces, faces cut
//! off, invalid NIKs, a valid NIK not in the gallery, a missing file, a PNG named .jpg, and a
//! request id submitted twice.

use std::collections::HashSet;

use crate::config::DemoConfig;
use crate::expected::Expected;
use crate::names;
use crate::nik::{new_person_nik, REGIONS};
use crate::people::{Identity, SourcePhoto};
use crate::planned::{genuine_selfie, Claim, Planned, Selfie};
use crate::rng::DemoRng;

/// Adds the bad rows to `plan` (drawing from `rng`, the request plan's).
pub(crate) fn plan_bad_rows(
    config: &DemoConfig,
    ids: &[Identity],
    used: &mut HashSet<String>,
    rng: &mut DemoRng,
    plan: &mut Vec<Planned>,
) {
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

    let (claim, photo) = any_photo(rng);
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
    let (claim, _) = any_photo(rng);
    bad(
        claim,
        Selfie::Garbage,
        Expected::CorruptImage,
        "random bytes named .jpg",
    );
    let (claim, _) = any_photo(rng);
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
        let (mut claim, photo) = any_photo(rng);
        let mut digits: Vec<u8> = claim.nik.bytes().collect();
        match edit {
            0 => digits[..2].copy_from_slice(b"99"),
            1 => digits[6..10].copy_from_slice(if claim.female { b"7102" } else { b"3102" }),
            _ => digits[6..8].copy_from_slice(b"72"),
        }
        claim.nik = String::from_utf8(digits).unwrap_or_default();
        let note = format!("invalid NIK ({what}), selfie {}", photo.label);
        let selfie = genuine_selfie(rng, photo, 0.0);
        bad(claim, selfie, Expected::InvalidNik, &note);
    }

    // A valid NIK that is not in the gallery.
    let (_, photo) = any_photo(rng);
    let female = rng.chance(0.5);
    let (province, regencies) = REGIONS[rng.below(REGIONS.len() as u64) as usize];
    let regency = rng.pick(regencies).copied().unwrap_or(71);
    let (nik, dob) = new_person_nik(rng, used, province, regency, female);
    let name = names::full_name(rng, female, province);
    let email = names::email(&name);
    let note = format!("valid NIK not in the gallery, selfie {}", photo.label);
    let selfie = genuine_selfie(rng, photo, 0.0);
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

    let (claim, _) = any_photo(rng);
    bad(
        claim,
        Selfie::Missing,
        Expected::FileNotFound,
        "selfie file does not exist",
    );

    let (claim, photo) = any_photo(rng);
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

/// A duplicate request id: a genuine row of `rows` submitted a second time, a few rows later.
pub(crate) fn add_duplicate(config: &DemoConfig, rows: &mut Vec<(String, Planned)>) {
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
}
