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
mod bad_rows;
mod config;
mod demo;
mod error;
mod expand;
mod expected;
mod files;
mod imaging;
mod names;
mod nik;
mod people;
mod photos;
mod planned;
mod requests;
mod rng;
pub mod synthetic;

pub use config::{default_fixtures_dir, DemoConfig};
pub use demo::{generate_demo, DemoManifest};
pub use error::DatasetError;
pub use expand::expand_requests;
pub use expected::{Expected, ExpectedRequest};
pub use imaging::{exif_orientation_segment, with_exif_orientation, Layout, KTP_BLUE, KTP_RED};
pub use nik::synthetic_nik;
pub use rng::DemoRng;
