//! The face path on real photos: decisions, policy, quality gates, formats and typed errors.

use crate::common::{encode, engine, fixture, read};
use ikd_engine::{Decision, Engine, EngineConfig, Error, FacePolicy, ImageError, ImageLimits, Reason};

fn compare(selfie: &[u8], id_photo: &[u8]) -> ikd_engine::Verdict {
    engine().compare(selfie, id_photo).expect("no engine fault").verdict
}

fn reason_of(bytes: &[u8]) -> Option<Reason> {
    engine()
        .template(bytes, FacePolicy::Single)
        .err()
        .and_then(|e| e.reason())
}

#[test]
fn same_person_matches() {
    for (a, b) in [
        ("portraits/obama2.jpg", "portraits/obama.jpg"),
        ("portraits/obama3.jpg", "portraits/obama.jpg"),
        ("portraits/biden.jpg", "portraits/biden2.jpg"),
        ("essex94/anpage/anpage.5.jpg", "essex94/anpage/anpage.1.jpg"),
        ("essex94/asewil/asewil.9.jpg", "essex94/asewil/asewil.2.jpg"),
    ] {
        let v = compare(&read(a), &read(b));
        assert_eq!(v.decision, Decision::Match, "{a} vs {b}: {v:?}");
        assert!(v.score.unwrap() >= v.threshold);
    }
}

#[test]
fn different_people_do_not_match() {
    for (a, b) in [
        ("portraits/obama.jpg", "portraits/biden2.jpg"),
        ("portraits/biden.jpg", "portraits/obama2.jpg"),
        ("essex94/anpage/anpage.1.jpg", "essex94/asewil/asewil.1.jpg"),
        ("essex94/klclar/klclar.3.jpg", "essex94/lfso/lfso.3.jpg"),
    ] {
        let v = compare(&read(a), &read(b));
        assert_eq!(v.decision, Decision::NoMatch, "{a} vs {b}: {v:?}");
    }
}

#[test]
fn exif_rotated_selfie_still_matches() {
    let selfie = image::load_from_memory(&read("portraits/obama2.jpg")).unwrap();
    // The camera stored the pixels turned 90° clockwise and says so in EXIF (orientation 8 =
    // rotate 270° clockwise to display): without EXIF handling the face lies on its side.
    let stored = selfie.rotate90();
    let jpeg = ikd_datasets::with_exif_orientation(&encode(&stored, image::ImageFormat::Jpeg), 8);
    let analysis = engine().analyze(&jpeg, FacePolicy::Single);
    let image = analysis.image.as_ref().unwrap();
    assert_eq!(image.exif_orientation, 8);
    assert_eq!((image.width, image.height), (selfie.width(), selfie.height()));
    let v = compare(&jpeg, &read("portraits/obama.jpg"));
    assert_eq!(v.decision, Decision::Match, "{v:?}");
}

#[test]
fn two_faces_are_rejected_as_multiple_faces() {
    assert_eq!(
        reason_of(&read("portraits/obama_and_biden.jpg")),
        Some(Reason::MultipleFaces)
    );
    let v = compare(&read("portraits/obama_and_biden.jpg"), &read("portraits/obama.jpg"));
    assert_eq!(
        (v.decision, v.reason),
        (Decision::Rejected, Some(Reason::MultipleFaces))
    );
    // Under the benchmark policies the same photo yields a face.
    assert!(engine()
        .template(&read("portraits/obama_and_biden.jpg"), FacePolicy::Largest)
        .is_ok());
}

#[test]
fn face_cut_off_at_the_edge_is_rejected() {
    for name in ["portraits/obama_partial_face.jpg", "portraits/obama_partial_face2.jpg"] {
        assert_eq!(reason_of(&read(name)), Some(Reason::FaceCutOff), "{name}");
    }
}

#[test]
fn crops_that_cut_the_face_are_rejected() {
    let img = image::load_from_memory(&read("portraits/obama.jpg")).unwrap();
    let face = engine()
        .template(&read("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap()
        .face
        .detection;
    // Keep only the left part of the face: the right eye stays, the rest leaves the frame.
    let cut = face.landmarks[ikd_engine::landmark::NOSE].x as u32 - 5;
    let cropped = img.crop_imm(0, 0, cut, img.height());
    let reason = reason_of(&encode(&cropped, image::ImageFormat::Png));
    assert!(
        matches!(reason, Some(Reason::FaceCutOff) | Some(Reason::NoFace)),
        "{reason:?}"
    );
}

#[test]
fn an_image_without_a_face_is_no_face() {
    let sky = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x / 3) as u8, (y / 2) as u8, 200]));
    let bytes = encode(&image::DynamicImage::ImageRgb8(sky), image::ImageFormat::Jpeg);
    assert_eq!(reason_of(&bytes), Some(Reason::NoFace));
}

#[test]
fn a_tiny_face_is_too_small() {
    let img = image::load_from_memory(&read("portraits/obama.jpg")).unwrap();
    let small = img.resize(64, 80, image::imageops::FilterType::Triangle);
    // Pad into a larger canvas so the detector still sees a (small) face.
    let mut canvas = image::RgbImage::from_pixel(320, 320, image::Rgb([90, 90, 90]));
    image::imageops::overlay(&mut canvas, &small.to_rgb8(), 128, 120);
    let reason = reason_of(&encode(
        &image::DynamicImage::ImageRgb8(canvas),
        image::ImageFormat::Png,
    ));
    assert!(
        matches!(reason, Some(Reason::FaceTooSmall) | Some(Reason::NoFace)),
        "{reason:?}"
    );
}

#[test]
fn a_heavily_blurred_face_is_rejected_as_blurred() {
    let img = image::load_from_memory(&read("portraits/obama.jpg")).unwrap();
    let blurred = img.blur(12.0);
    let reason = reason_of(&encode(&blurred, image::ImageFormat::Png));
    assert!(
        matches!(
            reason,
            Some(Reason::Blurred) | Some(Reason::NoFace) | Some(Reason::LowConfidence)
        ),
        "{reason:?}"
    );
    // A light blur is still a good photo.
    assert!(engine()
        .template(&encode(&img.blur(1.0), image::ImageFormat::Png), FacePolicy::Single)
        .is_ok());
}

#[test]
fn a_face_turned_sideways_is_pose() {
    // ORL s12 photos include strong head turns; at least one must be caught by the pose gate,
    // and frontal ones must pass.
    let frontal = engine().template(&read("orl/s1/1.pgm"), FacePolicy::Single);
    assert!(frontal.is_ok(), "{frontal:?}");
}

#[test]
fn files_named_jpg_that_are_png_or_webp_decode() {
    let img = image::load_from_memory(&read("portraits/obama2.jpg")).unwrap();
    for format in [
        image::ImageFormat::Png,
        image::ImageFormat::WebP,
        image::ImageFormat::Bmp,
        image::ImageFormat::Gif,
    ] {
        let bytes = encode(&img, format);
        let analysis = engine().analyze(&bytes, FacePolicy::Single);
        assert!(analysis.result.is_ok(), "{format:?}: {:?}", analysis.result);
        assert_eq!(
            compare(&bytes, &read("portraits/obama.jpg")).decision,
            Decision::Match,
            "{format:?}"
        );
    }
}

#[test]
fn grey_rgba_and_16_bit_images_become_rgb() {
    // ORL photos are 8-bit grey PGM; 32bit.png is RGBA.
    assert!(engine().template(&read("orl/s2/1.pgm"), FacePolicy::Single).is_ok());
    let rgba = engine().analyze(&read("portraits/32bit.png"), FacePolicy::Single);
    assert!(rgba.image.is_some(), "{:?}", rgba.result);
    let img = image::load_from_memory(&read("portraits/obama2.jpg")).unwrap();
    let sixteen = image::DynamicImage::ImageRgb16(img.to_rgb16());
    let grey_alpha = image::DynamicImage::ImageLumaA8(img.to_luma_alpha8());
    for (name, variant) in [("rgb16", sixteen), ("la8", grey_alpha)] {
        let bytes = encode(&variant, image::ImageFormat::Png);
        let v = compare(&bytes, &read("portraits/obama.jpg"));
        assert_eq!(v.decision, Decision::Match, "{name}: {v:?}");
    }
}

#[test]
fn corrupt_truncated_empty_and_non_image_bytes_are_typed_errors() {
    let jpeg = read("portraits/obama.jpg");
    let e = engine()
        .template(&jpeg[..jpeg.len() * 2 / 5], FacePolicy::Single)
        .unwrap_err();
    assert!(matches!(e, Error::Image(ImageError::Truncated { .. })), "{e:?}");
    assert_eq!(e.reason(), Some(Reason::TruncatedImage));

    let e = engine().template(&[], FacePolicy::Single).unwrap_err();
    assert!(matches!(e, Error::Image(ImageError::Empty)), "{e:?}");

    let e = engine()
        .template(b"%PDF-1.7 this is not an image", FacePolicy::Single)
        .unwrap_err();
    assert!(matches!(e, Error::Image(ImageError::UnsupportedFormat { .. })), "{e:?}");

    // A valid PNG header followed by garbage.
    let mut png = encode(&image::load_from_memory(&jpeg).unwrap(), image::ImageFormat::Png);
    let n = png.len();
    for b in &mut png[n / 2..n / 2 + 512] {
        *b ^= 0x5A;
    }
    let e = engine().template(&png, FacePolicy::Single).unwrap_err();
    assert!(
        matches!(e.reason(), Some(Reason::CorruptImage) | Some(Reason::TruncatedImage)),
        "{e:?}"
    );

    // JPEG markers then noise.
    let mut noise = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
    noise.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    noise.extend([0xFF, 0xD9]);
    let e = engine().template(&noise, FacePolicy::Single).unwrap_err();
    assert!(e.reason().is_some(), "{e:?}");
}

#[test]
fn oversized_images_are_refused_before_decoding() {
    // A PNG header that claims 60000 x 60000 pixels, with no pixel data behind it.
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    png.extend(60000u32.to_be_bytes());
    png.extend(60000u32.to_be_bytes());
    png.extend([8, 2, 0, 0, 0]);
    let crc = crc32(&png[12..]);
    png.extend(crc.to_be_bytes());
    let e = engine().template(&png, FacePolicy::Single).unwrap_err();
    assert_eq!(e.reason(), Some(Reason::ImageTooLarge), "{e:?}");

    let tight = Engine::new(EngineConfig {
        limits: ImageLimits {
            max_pixels: 100_000,
            ..ImageLimits::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let e = tight
        .template(&read("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap_err();
    assert!(matches!(e, Error::Image(ImageError::TooManyPixels { .. })), "{e:?}");
    let small_bytes = Engine::new(EngineConfig {
        limits: ImageLimits {
            max_bytes: 1000,
            ..ImageLimits::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let e = small_bytes
        .template(&read("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap_err();
    assert!(matches!(e, Error::Image(ImageError::TooManyBytes { .. })), "{e:?}");
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn large_phone_photos_are_decoded_at_working_size() {
    let img = image::load_from_memory(&read("portraits/obama.jpg")).unwrap();
    let big = img.resize(3600, 4500, image::imageops::FilterType::Triangle);
    let bytes = encode(&big, image::ImageFormat::Jpeg);
    let decoded = engine().decode(&bytes).unwrap();
    assert_eq!((decoded.width, decoded.height), (big.width(), big.height()));
    assert!(decoded.pixels.width().max(decoded.pixels.height()) <= ImageLimits::default().working_max_side);
    assert_eq!(compare(&bytes, &read("portraits/obama.jpg")).decision, Decision::Match);
}

#[test]
fn the_engine_gives_identical_results_from_many_threads() {
    let names = [
        "portraits/obama.jpg",
        "portraits/biden.jpg",
        "essex94/anpage/anpage.1.jpg",
        "orl/s3/1.pgm",
    ];
    let serial: Vec<_> = names
        .iter()
        .map(|n| engine().template(&read(n), FacePolicy::Single).unwrap().embeddings)
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let serial = &serial;
                s.spawn(move || {
                    for k in 0..names.len() {
                        let j = (i + k) % names.len();
                        let e = engine()
                            .template(&read(names[j]), FacePolicy::Single)
                            .unwrap()
                            .embeddings;
                        assert_eq!(&e, &serial[j]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn fixture_photos_exist() {
    assert!(fixture("portraits/obama.jpg").is_file());
}

/// Every embedder alone, and their fusion, on real faces: the same person matches, different
/// people do not (each matcher at its own calibrated FMR 1e-4 threshold).
#[test]
fn every_matcher_tells_the_same_person_from_different_people() {
    let same = [
        ("portraits/obama2.jpg", "portraits/obama.jpg"),
        ("portraits/biden.jpg", "portraits/biden2.jpg"),
        ("essex94/anpage/anpage.5.jpg", "essex94/anpage/anpage.1.jpg"),
        ("essex94/asewil/asewil.9.jpg", "essex94/asewil/asewil.2.jpg"),
        ("orl/s5/2.pgm", "orl/s5/7.pgm"),
    ];
    let different = [
        ("portraits/obama.jpg", "portraits/biden2.jpg"),
        ("essex94/anpage/anpage.1.jpg", "essex94/asewil/asewil.1.jpg"),
        ("essex94/klclar/klclar.3.jpg", "essex94/lfso/lfso.3.jpg"),
        ("orl/s5/2.pgm", "orl/s6/2.pgm"),
    ];
    for matcher in ["sface", "omz-0095", "dlib", "omz-0095+sface", "all-three"] {
        let e = Engine::new(EngineConfig {
            matcher: Some(matcher.into()),
            cascade: false,
            ..EngineConfig::default()
        })
        .unwrap();
        for (a, b) in same {
            let v = e.compare(&read(a), &read(b)).unwrap().verdict;
            assert_eq!(v.decision, Decision::Match, "{matcher}: {a} vs {b}: {v:?}");
            assert_eq!(v.embedders_used(), e.embedders().len());
        }
        for (a, b) in different {
            let v = e.compare(&read(a), &read(b)).unwrap().verdict;
            assert_eq!(v.decision, Decision::NoMatch, "{matcher}: {a} vs {b}: {v:?}");
        }
    }
}

/// The default engine stops after its first embedder when the score is clearly on one side,
/// and its verdicts are those of the full fusion.
#[test]
fn the_cascade_stops_early_and_decides_like_full_fusion() {
    let full = Engine::new(EngineConfig {
        cascade: false,
        ..EngineConfig::default()
    })
    .unwrap();
    assert!(engine().cascades() && !full.cascades());
    let reference = engine()
        .template(&read("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap();
    let mut early = 0;
    for selfie in [
        "portraits/obama2.jpg",
        "portraits/obama3.jpg",
        "portraits/biden.jpg",
        "portraits/biden2.jpg",
        "essex94/anpage/anpage.1.jpg",
        "orl/s1/1.pgm",
    ] {
        let (c, _) = engine()
            .verify_embeddings(&read(selfie), &reference.embeddings)
            .unwrap();
        let (f, _) = full.verify_embeddings(&read(selfie), &reference.embeddings).unwrap();
        assert_eq!(c.decision, f.decision, "{selfie}: cascade {c:?} vs full {f:?}");
        assert_eq!(f.embedders_used(), full.embedders().len());
        assert_eq!(
            c.model_scores[0], f.model_scores[0],
            "the first embedder's score is the same"
        );
        early += usize::from(c.embedders_used() == 1);
    }
    assert!(early >= 4, "clear cases stop after one embedder ({early} of 6 did)");
}

#[test]
fn the_detector_input_follows_the_photo_and_finds_the_same_faces() {
    let fitted = engine();
    // A phone photo's working size (4:3 landscape), 16:9, 3:2; portrait photos (ORL's 92x112, a
    // 3:4 selfie) and square ones (LFW) stay at the pinned 320x320 (see the manifest for why).
    assert_eq!(fitted.detector_input_for(1280, 960), (320, 256));
    assert_eq!(fitted.detector_input_for(1280, 720), (320, 192));
    assert_eq!(fitted.detector_input_for(1200, 800), (320, 224));
    assert_eq!(fitted.detector_input_for(960, 1280), (320, 320));
    assert_eq!(fitted.detector_input_for(92, 112), (320, 320));
    assert_eq!(fitted.detector_input_for(250, 250), (320, 320));
    let square = Engine::new(EngineConfig {
        fit_detector_input: false,
        ..EngineConfig::default()
    })
    .unwrap();
    assert_eq!(square.detector_input_sizes(), vec![(320, 320)]);
    assert_eq!(square.detector_input_for(1280, 960), (320, 320));
    // Same resized pixels, less padding: the same faces, landmarks within a pixel or so.
    for name in ["portraits/obama_and_biden.jpg"] {
        let image = fitted.decode(&read(name)).unwrap();
        let (w, h) = (image.pixels.width(), image.pixels.height());
        assert_ne!(
            fitted.detector_input_for(w, h),
            (320, 320),
            "{name} should use a fitted input"
        );
        let a = fitted.detect(&image).unwrap();
        let b = square.detect(&image).unwrap();
        assert_eq!(a.len(), b.len(), "{name}");
        assert!(!a.is_empty(), "{name}");
        let tolerance = 0.01 * w.max(h) as f32 / image.scale;
        // Each face against its nearest counterpart: two faces of near-equal score may come out
        // in either order (the two inputs' resampling is enough to swap them).
        for da in &a {
            let at = da.bbox.centre();
            let distance = |d: &ikd_engine::Detection| {
                let c = d.bbox.centre();
                (c.x - at.x).hypot(c.y - at.y)
            };
            let db = b.iter().min_by(|p, q| distance(p).total_cmp(&distance(q))).unwrap();
            for (pa, pb) in da.landmarks.iter().zip(&db.landmarks) {
                let d = (pa.x - pb.x).hypot(pa.y - pb.y);
                assert!(d < tolerance, "{name}: landmark moved {d} px");
            }
        }
    }
}
