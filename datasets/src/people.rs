//! People and their photos: who the demo's citizens are (the bundled fixtures: Essex94,
//! ORL, two portraits; one person per folder), which photo is each one's KTP-el photo and
//! which are their selfies, and the identity each gets (a NIK, a name, a birth date).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::DatasetError;
use crate::files::sorted_dir;
use crate::imaging::Layout;
use crate::names;
use crate::nik::{new_person_nik, REGIONS};
use crate::rng::DemoRng;

#[derive(Debug, Clone)]
pub(crate) struct SourcePhoto {
    pub(crate) path: PathBuf,
    pub(crate) layout: Layout,
    pub(crate) label: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) gallery: SourcePhoto,
    pub(crate) others: Vec<SourcePhoto>,
    pub(crate) female: bool,
    pub(crate) nik: String,
    pub(crate) name: String,
    pub(crate) dob: (u16, u8, u8),
    pub(crate) email: String,
    pub(crate) photo_rel: String,
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

/// Number in `name.<n>.jpg` (Essex file names), for numeric ordering.
fn essex_index(path: &Path) -> u32 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// (gallery photo, other photos, female) per person, in a stable order.
pub(crate) fn list_people(fixtures: &Path) -> Result<Vec<(SourcePhoto, Vec<SourcePhoto>, bool)>, DatasetError> {
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

/// Gives each person a unique valid NIK in one of the demo's regions, a birth date (the
/// NIK's), a name and an e-mail address; `used` collects the NIKs.
pub(crate) fn identities(
    seed: u64,
    people: Vec<(SourcePhoto, Vec<SourcePhoto>, bool)>,
    used: &mut HashSet<String>,
) -> Vec<Identity> {
    let mut rng = DemoRng::derive(seed, "gallery");
    let mut ids = Vec::with_capacity(people.len());
    for (gallery, others, female) in people {
        let (province, regencies) = REGIONS[rng.below(REGIONS.len() as u64) as usize];
        let regency = rng.pick(regencies).copied().unwrap_or(71);
        let (nik, dob) = new_person_nik(&mut rng, used, province, regency, female);
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
    ids
}
