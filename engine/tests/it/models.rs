//! Model loading fails loudly, naming the file, when a model is missing, corrupt or the wrong one.

use crate::common::repo;
use ikd_engine::{Engine, EngineConfig, Error, ModelError};
use std::path::Path;

fn manifest_in(dir: &Path, edit: impl Fn(String) -> String) -> EngineConfig {
    let models = repo().join("models");
    // Every model file the manifest names, hard-linked when possible (they are large).
    let text = std::fs::read_to_string(models.join("manifest.toml")).unwrap();
    let manifest = ikd_engine::Manifest::parse(&text, &models.join("manifest.toml")).unwrap();
    for m in &manifest.models {
        let (from, to) = (models.join(&m.file), dir.join(&m.file));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    std::fs::write(dir.join("manifest.toml"), edit(text)).unwrap();
    EngineConfig {
        manifest: dir.join("manifest.toml"),
        ..EngineConfig::default()
    }
}

/// The dlib entry of the bundled manifest.
fn dlib_spec() -> ikd_engine::ModelSpec {
    let path = repo().join("models/manifest.toml");
    let manifest = ikd_engine::Manifest::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    manifest.models.into_iter().find(|m| m.id == "dlib-resnet-v1").unwrap()
}

#[test]
fn missing_model_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = manifest_in(dir.path(), |t| t);
    std::fs::remove_file(dir.path().join("face_detection_yunet_2026may.onnx")).unwrap();
    let e = Engine::new(config).unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::FileMissing { .. })), "{e}");
    assert!(e.to_string().contains("face_detection_yunet_2026may.onnx"), "{e}");
}

#[test]
fn corrupt_model_file_fails_the_hash_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = manifest_in(dir.path(), |t| t);
    let file = dlib_spec().file;
    let path = dir.path().join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 1;
    // A fresh file, not the hard link's shared data.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let config = EngineConfig {
        matcher: Some("dlib".into()),
        ..config
    };
    let e = Engine::new(config).unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::HashMismatch { .. })), "{e}");
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");
}

#[test]
fn the_wrong_model_in_a_slot_is_refused() {
    // Point the detector entry at an embedder's file (with that file's true hash).
    let dir = tempfile::tempdir().unwrap();
    let dlib = dlib_spec();
    let config = manifest_in(dir.path(), |t| {
        t.replacen(
            "file = \"face_detection_yunet_2026may.onnx\"",
            &format!("file = \"{}\"", dlib.file.display()),
            1,
        )
        .replacen(
            "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
            &dlib.sha256,
            1,
        )
    });
    let e = Engine::new(config).unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::Load { .. })), "{e}");
}

#[test]
fn an_unknown_matcher_or_embedder_is_refused() {
    let e = Engine::new(EngineConfig {
        matcher: Some("arcface-r100".into()),
        ..EngineConfig::default()
    })
    .unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::UnknownModel { .. })), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let config = manifest_in(dir.path(), |t| {
        t.replacen(
            "embedders = [\"omz-0095\", \"sface-2021dec\"]",
            "embedders = [\"omz-0095\", \"arcface-r100\"]",
            1,
        )
    });
    let e = Engine::new(config).unwrap_err();
    assert!(e.to_string().contains("arcface-r100"), "{e}");
}

/// Each prepared embedder (models/tools/prepare_models.py) computes what its published file
/// computes: tract runs both on the real reference chips, cosine >= 0.99999.
#[test]
fn prepared_models_compute_what_the_published_files_compute() {
    use ikd_engine::{AlignedFace, SimilarityTransform};
    let models = repo().join("models");
    let path = models.join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest = ikd_engine::Manifest::parse(&text, &path).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("datasets/reference/embedders.json")).unwrap())
            .unwrap();
    let mut compared = 0;
    for spec in manifest.models.iter().filter(|m| m.prepared_from.is_some()) {
        let source = spec.prepared_from.as_ref().unwrap();
        // One engine on the prepared file, one on the published file (same manifest otherwise).
        let engine_for = |file: &std::path::Path, sha: &str| {
            let edited = text
                .replacen(&spec.file.display().to_string(), &file.display().to_string(), 1)
                .replacen(&spec.sha256, sha, 1);
            let dir = tempfile::tempdir().unwrap();
            let m = dir.path().join("manifest.toml");
            std::fs::write(
                &m,
                edited.replace("file = \"", &format!("file = \"{}/", models.display())),
            )
            .unwrap();
            let e = Engine::new(EngineConfig {
                manifest: m,
                matcher: Some("all-three".into()),
                flip_augment: Some(false),
                ..EngineConfig::default()
            })
            .unwrap();
            (e, dir)
        };
        let (prepared, _a) = engine_for(&spec.file, &spec.sha256);
        let (published, _b) = engine_for(&source.file, &source.sha256);
        let k = prepared.embedders().position(|e| e.id == spec.id).unwrap();
        for im in reference["images"].as_array().unwrap() {
            let rel = im["embedders"][&spec.id]["chip"].as_str().unwrap();
            let face = AlignedFace {
                chip: image::open(repo().join(rel)).unwrap().to_rgb8(),
                transform: SimilarityTransform {
                    a: 1.0,
                    b: 0.0,
                    tx: 0.0,
                    ty: 0.0,
                },
                landmark_residual: 0.0,
            };
            let (a, b) = (prepared.embed(&face, k).unwrap(), published.embed(&face, k).unwrap());
            let cos = a.similarity(&b).unwrap();
            assert!(cos >= 0.99999, "{} on {rel}: cosine {cos}", spec.id);
            compared += 1;
        }
    }
    assert_eq!(compared, 3 * 6, "three prepared embedders, six chips each");
}
