//! One planned request row: what it claims (NIK, name, birth date, gender, e-mail), the selfie
//! to write for it, and what should come out of it.

use std::path::PathBuf;

use crate::expected::Expected;
use crate::people::{Identity, SourcePhoto};
use crate::rng::DemoRng;

#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub(crate) nik: String,
    pub(crate) name: String,
    pub(crate) dob: (u16, u8, u8),
    pub(crate) female: bool,
    pub(crate) email: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Selfie {
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
pub(crate) struct Planned {
    pub(crate) claim: Claim,
    pub(crate) selfie: Selfie,
    pub(crate) expected: Expected,
    pub(crate) note: String,
}

impl Identity {
    /// What a request by this identity claims.
    pub(crate) fn claim(&self) -> Claim {
        Claim {
            nik: self.nik.clone(),
            name: self.name.clone(),
            dob: self.dob,
            female: self.female,
            email: self.email.clone(),
        }
    }
}

/// A selfie rendered from `photo`, EXIF-rotated at the rate `exif_rate`.
pub(crate) fn genuine_selfie(rng: &mut DemoRng, photo: SourcePhoto, exif_rate: f64) -> Selfie {
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
