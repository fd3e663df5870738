//! The photos of the data set: each identity's KTP-el style ID photo and each request's selfie
//! (rendered from a source photo, EXIF-rotated, PNG or truncated; copied from a fixture;
//! random bytes; a face-less texture; or no file at all).

use std::fs;
use std::path::Path;

use image::RgbImage;

use crate::config::DemoConfig;
use crate::error::DatasetError;
use crate::files::write_file;
use crate::imaging::{self, with_exif_orientation, KTP_BLUE, KTP_RED};
use crate::people::{Identity, SourcePhoto};
use crate::planned::Selfie;
use crate::rng::DemoRng;

/// Writes the ID photo of `id` to `path` (gallery size and quality of `config`).
pub(crate) fn write_id_photo(config: &DemoConfig, id: &Identity, path: &Path) -> Result<(), DatasetError> {
    let (gw, gh) = config.gallery_size;
    let src = imaging::load_rgb(&id.gallery.path)?;
    let bg = if id.dob.0 % 2 == 1 { KTP_RED } else { KTP_BLUE };
    let photo = imaging::id_photo(&src, id.gallery.layout, bg, gw, gh);
    let bytes = imaging::encode_jpeg(&photo, config.gallery_jpeg_quality)
        .map_err(|e| DatasetError::image(&id.gallery.path, e))?;
    write_file(path, &bytes)
}

fn render_selfie(config: &DemoConfig, rng: &mut DemoRng, photo: &SourcePhoto) -> Result<RgbImage, DatasetError> {
    let src = imaging::load_rgb(&photo.path)?;
    let (w, h) = config.selfie_size;
    Ok(imaging::selfie(rng, &src, photo.layout, w.max(1), h.max(1)))
}

/// Writes the selfie of request `id` under `requests_dir`; returns its path relative to it and
/// the EXIF orientation written into it, if any.
pub(crate) fn write_selfie(
    config: &DemoConfig,
    requests_dir: &Path,
    id: &str,
    selfie: &Selfie,
) -> Result<(String, Option<u16>), DatasetError> {
    let (sw, sh) = config.selfie_size;
    let mut exif_orientation = None;
    let ext = match selfie {
        Selfie::Copy { ext, .. } => ext,
        _ => "jpg",
    };
    let rel = format!("selfies/{id}.{ext}");
    let path = requests_dir.join(&rel);
    let mut rng = DemoRng::derive(config.seed, &format!("selfie {id}"));
    match selfie {
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
                imaging::encode_jpeg(&stored, config.selfie_jpeg_quality).map(|b| with_exif_orientation(&b, *tag))
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
            let bytes =
                imaging::encode_jpeg(&img, config.selfie_jpeg_quality).map_err(|e| DatasetError::image(&path, e))?;
            write_file(&path, &bytes)?;
        }
        Selfie::Missing => {}
    }
    Ok((rel, exif_orientation))
}
