//! The holder's photo of `ikd credential issue --photo`: the file as it is (a JPEG, JPEG 2000,
//! AVIF or WebP of at most the credential's photo size), or the portrait the face engine
//! makes of an ID photo at a byte budget (as `ikd run --photo-budget` does).

use anyhow::Context;
use ikd_engine::credential::{Photo, PhotoFormat};
use ikd_engine::Engine;
use std::path::Path;

/// The photo for a credential from the file `path`; with `budget`, its portrait (the engine is
/// built only then).
pub fn holder_photo(
    path: &Path,
    budget: Option<u64>,
    engine: impl FnOnce() -> anyhow::Result<Engine>,
) -> anyhow::Result<Photo> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let photo = match budget {
        Some(budget) => {
            let portrait = engine()?
                .portrait(&bytes, ikd_engine::FacePolicy::Single, budget as usize)
                .with_context(|| format!("the portrait of {}", path.display()))?;
            Photo {
                format: PhotoFormat::Jpeg,
                bytes: portrait.jpeg,
            }
        }
        None => {
            let format = [
                PhotoFormat::Jpeg,
                PhotoFormat::Jpeg2000,
                PhotoFormat::Avif,
                PhotoFormat::Webp,
            ]
            .into_iter()
            .find(|f| f.matches(&bytes))
            .with_context(|| format!("{} is not a JPEG, JPEG 2000, AVIF or WebP file", path.display()))?;
            Photo { format, bytes }
        }
    };
    photo
        .validate()
        .with_context(|| format!("the photo {}", path.display()))?;
    Ok(photo)
}
