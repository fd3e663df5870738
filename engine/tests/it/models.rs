//! Model loading fails loudly, naming the file, when a model is missing, corrupt or the wrong one.

use crate::common::repo;
use ikd_engine::{Engine, EngineConfig, Error, ModelError};
use std::path::Path;

fn manifest_in(dir: &Path, edit: impl Fn(String) -> String) -> EngineConfig {
    let models = repo().join("models");
    for f in [
        "face_detection_yunet_2026may.onnx",
        "dlib_face_recognition_resnet_model_v1.onnx",
    ] {
        std::fs::copy(models.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(models.join("manifest.toml")).unwrap();
    std::fs::write(dir.join("manifest.toml"), edit(text)).unwrap();
    EngineConfig {
        manifest: dir.join("manifest.toml"),
        ..EngineConfig::default()
    }
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
    let path = dir.path().join("dlib_face_recognition_resnet_model_v1.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let e = Engine::new(config).unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::HashMismatch { .. })), "{e}");
    assert!(
        e.to_string().contains("dlib_face_recognition_resnet_model_v1.onnx"),
        "{e}"
    );
}

#[test]
fn the_wrong_model_in_a_slot_is_refused() {
    // Point the detector entry at the embedder's file (with that file's true hash).
    let dir = tempfile::tempdir().unwrap();
    let config = manifest_in(dir.path(), |t| {
        t.replacen(
            "file = \"face_detection_yunet_2026may.onnx\"",
            "file = \"dlib_face_recognition_resnet_model_v1.onnx\"",
            1,
        )
        .replacen(
            "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
            "db47eb2f67840ac79c92d941d4a51c49ac89b2c0563c4953bf05544c7f6e6588",
            1,
        )
    });
    let e = Engine::new(config).unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::Load { .. })), "{e}");
}

#[test]
fn an_unknown_embedder_id_is_refused() {
    let e = Engine::new(EngineConfig {
        embedder: Some("arcface-r100".into()),
        ..EngineConfig::default()
    })
    .unwrap_err();
    assert!(matches!(e, Error::Model(ModelError::UnknownModel { .. })), "{e}");
}
