//! The inference-backend seam. tract is always there; the ONNX Runtime backend is tested when
//! the crate is built with `--features onnxruntime` and `$ORT_DYLIB_PATH` names the library
//! (`.ci/run` installs it from the onnxruntime wheel and runs these tests).

use ikd_engine::{BackendConfig, Engine, EngineConfig, Error, InferenceBackend, ModelError};

fn config_for(kind: InferenceBackend, library: Option<&str>) -> EngineConfig {
    EngineConfig {
        backend: BackendConfig {
            kind,
            onnxruntime_library: library.map(Into::into),
        },
        ..EngineConfig::default()
    }
}

fn assert_unavailable(err: Error, needle: &str) {
    match &err {
        Error::Model(ModelError::BackendUnavailable { backend, detail }) => {
            assert_eq!(*backend, "onnxruntime");
            assert!(detail.contains(needle), "{detail:?} should mention {needle:?}");
        }
        other => panic!("expected BackendUnavailable, got {other:?}"),
    }
}

#[test]
fn backend_names_parse_and_print() {
    for kind in [InferenceBackend::Tract, InferenceBackend::OnnxRuntime] {
        assert_eq!(kind.as_str().parse::<InferenceBackend>().unwrap(), kind);
    }
    assert!("cuda".parse::<InferenceBackend>().is_err());
    let config: EngineConfig = toml::from_str("[backend]\nkind = \"onnxruntime\"\n").unwrap();
    assert_eq!(config.backend.kind, InferenceBackend::OnnxRuntime);
    assert_eq!(EngineConfig::default().backend.kind, InferenceBackend::Tract);
}

#[cfg(not(feature = "onnxruntime"))]
#[test]
fn onnxruntime_without_the_feature_is_a_clear_error() {
    assert!(!InferenceBackend::OnnxRuntime.is_available());
    let err = Engine::new(config_for(InferenceBackend::OnnxRuntime, None)).unwrap_err();
    assert_unavailable(err, "--features onnxruntime");
}

#[cfg(feature = "onnxruntime")]
mod onnxruntime {
    use super::*;
    use crate::common::{engine, read};
    use ikd_engine::{Decision, FacePolicy, FaceTemplate};
    use std::sync::OnceLock;

    /// Library path from the environment; these tests only run where it is set (CI sets it).
    fn library() -> String {
        std::env::var("ORT_DYLIB_PATH").expect(
            "built with --features onnxruntime: set ORT_DYLIB_PATH to libonnxruntime.so \
             (`.ci/run` shows how to get it from the onnxruntime wheel)",
        )
    }

    fn ort_engine() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(|| {
            Engine::new(config_for(InferenceBackend::OnnxRuntime, Some(&library())))
                .expect("ONNX Runtime backend loads")
        })
    }

    fn tract_engine() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(|| Engine::new(config_for(InferenceBackend::Tract, None)).expect("tract backend loads"))
    }

    const IMAGES: [&str; 10] = [
        "portraits/obama.jpg",
        "portraits/obama2.jpg",
        "portraits/biden.jpg",
        "portraits/biden2.jpg",
        "essex94/9336923/9336923.1.jpg",
        "essex94/9336923/9336923.2.jpg",
        "essex94/anpage/anpage.1.jpg",
        "orl/s1/1.pgm",
        "orl/s1/2.pgm",
        "orl/s2/1.pgm",
    ];

    fn templates(engine: &Engine) -> Vec<FaceTemplate> {
        IMAGES
            .iter()
            .map(|rel| {
                engine
                    .template(&read(rel), FacePolicy::Single)
                    .unwrap_or_else(|e| panic!("{rel}: {e}"))
            })
            .collect()
    }

    #[test]
    fn both_backends_give_the_same_detections_and_embeddings() {
        assert_eq!(ort_engine().backend(), InferenceBackend::OnnxRuntime);
        assert_eq!(tract_engine().backend(), InferenceBackend::Tract);
        let (t, o) = (templates(tract_engine()), templates(ort_engine()));
        for ((rel, a), b) in IMAGES.iter().zip(&t).zip(&o) {
            for (x, y) in a.embeddings.iter().zip(&b.embeddings) {
                assert_eq!(x.model, y.model);
                let cos = x.embedding.similarity(&y.embedding).unwrap();
                assert!(cos >= 0.9999, "{rel} {}: tract vs onnxruntime cosine {cos}", x.model);
            }
            let (da, db) = (&a.face.detection, &b.face.detection);
            assert!(
                (da.score - db.score).abs() < 1e-3,
                "{rel}: scores {} vs {}",
                da.score,
                db.score
            );
            for (p, q) in da.landmarks.iter().zip(&db.landmarks) {
                let d = ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt();
                assert!(d < 0.5, "{rel}: landmark moved {d} px between backends");
            }
        }
    }

    #[test]
    fn onnxruntime_backend_decides_like_tract() {
        let (t, o) = (templates(tract_engine()), templates(ort_engine()));
        let mut matches = 0;
        for i in 0..IMAGES.len() {
            for j in i + 1..IMAGES.len() {
                let decide = |e: &Engine, a: &FaceTemplate, b: &FaceTemplate| {
                    e.decide(e.model_scores(&a.embeddings, &b.embeddings).unwrap()).decision
                };
                let (dt, d_ort) = (decide(tract_engine(), &t[i], &t[j]), decide(ort_engine(), &o[i], &o[j]));
                assert_eq!(dt, d_ort, "{} vs {}", IMAGES[i], IMAGES[j]);
                matches += usize::from(d_ort == Decision::Match);
            }
        }
        // obama/obama2, biden/biden2, the two essex 9336923 shots, orl s1/1 and s1/2.
        assert_eq!(matches, 4);
    }

    #[test]
    fn whole_verify_path_runs_on_onnxruntime() {
        let reference = ort_engine()
            .template(&read("portraits/obama.jpg"), FacePolicy::Single)
            .unwrap();
        let same = ort_engine().verify(&read("portraits/obama2.jpg"), &reference).unwrap();
        assert_eq!(same.decision, Decision::Match);
        let other = ort_engine().verify(&read("portraits/biden.jpg"), &reference).unwrap();
        assert_eq!(other.decision, Decision::NoMatch);
        let two = ort_engine()
            .verify(&read("portraits/obama_and_biden.jpg"), &reference)
            .unwrap();
        assert_eq!(two.decision, Decision::Rejected);
        // The default engine of this test binary is unaffected by the ORT one.
        assert_eq!(engine().backend(), InferenceBackend::Tract);
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let err = Engine::new(config_for(
            InferenceBackend::OnnxRuntime,
            Some("/nonexistent/libonnxruntime.so"),
        ))
        .unwrap_err();
        assert_unavailable(err, "does not exist");
    }
}
