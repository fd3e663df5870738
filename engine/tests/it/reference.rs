//! Agreement with a reference runtime: onnxruntime outputs recorded by
//! `datasets/reference/make_reference.py` (see its README). tract must give the same
//! detections on identical detector inputs and the same embeddings on identical chips.

use crate::common::{engine, repo};

use ikd_engine::{AlignedFace, DecodedImage, FacePolicy, SimilarityTransform};
use serde_json::Value;

fn reference() -> Value {
    let text = std::fs::read_to_string(repo().join("datasets/reference/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn embeddings_of_identical_chips_match_onnxruntime() {
    let r = reference();
    let images = r["images"].as_array().unwrap();
    assert!(images.len() >= 5);
    for im in images {
        let chip = image::open(repo().join(im["chip"].as_str().unwrap()))
            .unwrap()
            .to_rgb8();
        let face = AlignedFace {
            chip,
            transform: SimilarityTransform {
                a: 1.0,
                b: 0.0,
                tx: 0.0,
                ty: 0.0,
            },
            landmark_residual: 0.0,
        };
        let ours = plain_engine().embed(&face, 0).unwrap();
        let theirs = floats(&im["embedding"]);
        let c = cosine(ours.as_slice(), &theirs);
        assert!(c >= 0.9999, "{}: cosine {c}", im["name"]);
    }
}

#[test]
fn detections_on_identical_inputs_match_onnxruntime() {
    let r = reference();
    for im in r["images"].as_array().unwrap() {
        let pixels = image::open(repo().join(im["det_input"].as_str().unwrap()))
            .unwrap()
            .to_rgb8();
        let (width, height) = pixels.dimensions();
        let decoded = DecodedImage {
            pixels,
            format: "png",
            width,
            height,
            scale: 1.0,
            exif_orientation: 1,
        };
        let ours = engine().detect(&decoded).unwrap();
        let theirs = im["detections_det_input"].as_array().unwrap();
        // The reference keeps faces >= 0.6; ours may hold more low-score candidates.
        for (k, t) in theirs.iter().enumerate() {
            let o = &ours[k];
            let tb = floats(&t["box"]);
            let tl = floats(&t["landmarks"]);
            assert!(
                (o.score - t["score"].as_f64().unwrap() as f32).abs() < 1e-3,
                "{}",
                im["name"]
            );
            let ob = [o.bbox.x, o.bbox.y, o.bbox.width, o.bbox.height];
            for (a, b) in ob.iter().zip(&tb) {
                assert!((a - b).abs() < 0.05, "{}: box {ob:?} vs {tb:?}", im["name"]);
            }
            for (j, p) in o.landmarks.iter().enumerate() {
                assert!(
                    (p.x - tl[2 * j]).abs() < 0.05 && (p.y - tl[2 * j + 1]).abs() < 0.05,
                    "{}: landmark {j}",
                    im["name"]
                );
            }
        }
    }
}

/// The reference pipeline neither flip-augments nor refines landmarks.
fn plain_engine() -> &'static ikd_engine::Engine {
    static ENGINE: std::sync::OnceLock<ikd_engine::Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        ikd_engine::Engine::new(ikd_engine::EngineConfig {
            matcher: Some("dlib".into()),
            flip_augment: Some(false),
            refine_landmarks: false,
            ..Default::default()
        })
        .unwrap()
    })
}

#[test]
fn whole_pipeline_agrees_with_the_python_onnxruntime_pipeline() {
    // Different resizers and warps: close but not identical inputs, so a looser bound.
    let r = reference();
    for im in r["images"].as_array().unwrap() {
        let source = im["source"].as_str().unwrap();
        if !source.starts_with("datasets/fixtures") || source.contains(" ") {
            continue;
        }
        let bytes = std::fs::read(repo().join(source)).unwrap();
        let ours = plain_engine().template(&bytes, FacePolicy::Center).unwrap();
        let c = cosine(ours.embeddings[0].embedding.as_slice(), &floats(&im["embedding"]));
        // Small faces (obama_and_biden: eyes ~40 px apart) are most sensitive to resampling.
        assert!(c >= 0.985, "{}: cosine {c}", im["name"]);
    }
}

/// Every embedder of the manifest on identical chips (made by
/// `datasets/reference/make_embedder_reference.py` with each model's own template and size):
/// tract's embedding must agree with onnxruntime's.
#[test]
fn every_embedder_matches_onnxruntime_on_identical_chips() {
    let text = std::fs::read_to_string(repo().join("datasets/reference/embedders.json")).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    let engine = ikd_engine::Engine::new(ikd_engine::EngineConfig {
        matcher: Some("all-three".into()),
        flip_augment: Some(false),
        ..Default::default()
    })
    .unwrap();
    let mut checked = 0;
    for im in r["images"].as_array().unwrap() {
        for (k, info) in engine.embedders().enumerate() {
            let e = &im["embedders"][&info.id];
            let chip = image::open(repo().join(e["chip"].as_str().unwrap())).unwrap().to_rgb8();
            assert_eq!(chip.dimensions(), info.input_size, "{}", info.id);
            let face = AlignedFace {
                chip,
                transform: SimilarityTransform {
                    a: 1.0,
                    b: 0.0,
                    tx: 0.0,
                    ty: 0.0,
                },
                landmark_residual: 0.0,
            };
            let ours = engine.embed(&face, k).unwrap();
            let c = cosine(ours.as_slice(), &floats(&e["embedding"]));
            assert!(c >= 0.9999, "{} {}: cosine {c}", im["name"], info.id);
            checked += 1;
        }
    }
    assert_eq!(checked, 6 * 3);
}
