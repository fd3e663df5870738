//! Landmark refinement: the second detection on a crop where the face has a fixed size.

use crate::common::{engine, read};
use ikd_engine::{Detection, Engine, EngineConfig, FacePolicy, Point};
use image::RgbImage;

fn distance(a: &[Point; 5], b: &[Point; 5]) -> f32 {
    a.iter().zip(b).map(|(p, q)| (p.x - q.x).hypot(p.y - q.y)).sum::<f32>() / 5.0
}

fn best_face(engine: &Engine, image: &ikd_engine::DecodedImage) -> Detection {
    engine.detect(image).expect("detector runs")[0]
}

/// The same photo pasted small into a large grey canvas: the face is tiny at the detector's
/// input, so the first detection's landmarks are coarse. Refined landmarks must land closer to
/// those found on the original photo, and the embedding must come closer to the original's.
#[test]
fn refinement_recovers_landmarks_of_a_small_face() {
    let e = engine();
    let (mut first_error, mut refined_error) = (0.0, 0.0);
    let (mut first_cos, mut refined_cos) = (0.0, 0.0);
    let photos = [
        "essex94/anpage/anpage.1.jpg",
        "essex94/asewil/asewil.2.jpg",
        "essex94/klclar/klclar.3.jpg",
        "portraits/obama.jpg",
    ];
    for rel in photos {
        let original = image::load_from_memory(&read(rel)).unwrap().to_rgb8();
        let decoded = e.decode(&read(rel)).unwrap();
        let truth = e.refine(&decoded, &best_face(e, &decoded)).unwrap();
        let truth_embedding = e.embed(&e.align(&decoded, &truth, 0).unwrap(), 0).unwrap();

        // Paste into a canvas 5x the photo's longer side, at an odd offset.
        let side = 5 * original.width().max(original.height());
        let (ox, oy) = (side / 3 + 7, side / 2 + 3);
        let mut canvas = RgbImage::from_pixel(side, side, image::Rgb([128, 128, 128]));
        image::imageops::replace(&mut canvas, &original, i64::from(ox), i64::from(oy));
        let small = ikd_engine::DecodedImage {
            format: "test",
            width: canvas.width(),
            height: canvas.height(),
            pixels: canvas,
            scale: 1.0,
            exif_orientation: 1,
        };
        let first = best_face(e, &small);
        let refined = e.refine(&small, &first).unwrap();
        assert_eq!(refined.bbox, first.bbox, "refinement keeps the first box");
        let shift = |d: &Detection| {
            d.landmarks.map(|p| Point {
                x: p.x - ox as f32,
                y: p.y - oy as f32,
            })
        };
        let scale = decoded.width as f32 / original.width() as f32;
        let truth_lm = truth.landmarks.map(|p| Point {
            x: p.x / scale,
            y: p.y / scale,
        });
        first_error += distance(&shift(&first), &truth_lm);
        refined_error += distance(&shift(&refined), &truth_lm);
        let cos = |d: &Detection| {
            e.embed(&e.align(&small, d, 0).unwrap(), 0)
                .unwrap()
                .similarity(&truth_embedding)
                .unwrap()
        };
        first_cos += cos(&first);
        refined_cos += cos(&refined);
    }
    let n = photos.len() as f32;
    let (first_error, refined_error) = (first_error / n, refined_error / n);
    let (first_cos, refined_cos) = (first_cos / n, refined_cos / n);
    assert!(
        refined_error < 0.6 * first_error,
        "landmark error: first {first_error:.2} px, refined {refined_error:.2} px"
    );
    assert!(
        refined_cos > first_cos,
        "cosine to the original: first {first_cos:.4}, refined {refined_cos:.4}"
    );
}

#[test]
fn refinement_keeps_the_first_landmarks_when_the_second_look_finds_no_face() {
    let e = engine();
    let decoded = e.decode(&read("portraits/obama.jpg")).unwrap();
    let face = best_face(e, &decoded);
    // The same face geometry moved to the photo's top-left corner, where there is no face.
    let dx = face.bbox.x - 1.0;
    let dy = face.bbox.y - 1.0;
    let mut elsewhere = face;
    elsewhere.bbox.x -= dx;
    elsewhere.bbox.y -= dy;
    elsewhere.landmarks = face.landmarks.map(|p| Point {
        x: p.x - dx,
        y: p.y - dy,
    });
    let refined = e.refine(&decoded, &elsewhere).unwrap();
    assert_eq!(refined, elsewhere);
}

#[test]
fn the_whole_path_aligns_on_refined_landmarks_and_can_be_switched_off() {
    let bytes = read("essex94/asewil/asewil.9.jpg");
    let on = engine();
    let decoded = on.decode(&bytes).unwrap();
    let refined = on.refine(&decoded, &best_face(on, &decoded)).unwrap();
    let template = on.template(&bytes, FacePolicy::Single).unwrap();
    assert_eq!(template.face.refined_landmarks, Some(refined.landmarks));
    assert_eq!(
        template.face.detection,
        best_face(on, &decoded),
        "the gates judge the first detection"
    );

    let off = Engine::new(EngineConfig {
        refine_landmarks: false,
        ..EngineConfig::default()
    })
    .unwrap();
    let plain = off.template(&bytes, FacePolicy::Single).unwrap();
    let first = best_face(&off, &decoded);
    assert_eq!(plain.face.detection.landmarks, first.landmarks);
    assert_eq!(plain.face.refined_landmarks, None);
    assert!(
        distance(&first.landmarks, &refined.landmarks) > 0.01,
        "the second look ran"
    );
    // Both ways the face is the same person's: every embedder's embeddings stay close.
    for (p, t) in plain.embeddings.iter().zip(&template.embeddings) {
        let cos = p.embedding.similarity(&t.embedding).unwrap();
        assert!(
            cos > 0.9,
            "{}: cosine between refined and unrefined embedding {cos:.4}",
            p.model
        );
    }
}
