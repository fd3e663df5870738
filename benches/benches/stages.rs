//! Catches speed regressions in each face stage (decode, detect, align, embed, compare) and in
//! the whole verify path of one request, on fixed real photos bundled with the project.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ikd_engine::{BackendConfig, Engine, EngineConfig, FacePolicy, InferenceBackend};
use std::hint::black_box;

// The same allocator as the `ikd` binary, so stage figures match what the jobs see.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fixture(rel: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/fixtures/faces/").to_owned() + rel;
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A 12 MP phone-style JPEG made from a bundled portrait (quality 90).
fn phone_photo() -> Vec<u8> {
    let img = image::load_from_memory(&fixture("portraits/obama.jpg")).unwrap();
    let big = img.resize_exact(3000, 4000, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    big.write_with_encoder(enc).unwrap();
    out
}

fn config(matcher: Option<&str>, cascade: bool) -> EngineConfig {
    EngineConfig {
        matcher: matcher.map(str::to_owned),
        cascade,
        ..EngineConfig::default()
    }
}

fn stages(c: &mut Criterion) {
    // Every embedder, so each one's align and embed stage is measured.
    let all = Engine::new(config(Some("all-three"), false)).expect("models load");
    let engine = Engine::new(EngineConfig::default()).expect("models load");
    let full = Engine::new(config(None, false)).expect("models load");
    let selfie = fixture("portraits/obama2.jpg"); // 1200x1500-ish portrait JPEG
    let id_photo = fixture("essex94/anpage/anpage.1.jpg"); // 180x200 ID-style JPEG
    let phone = phone_photo();

    let mut g = c.benchmark_group("decode");
    for (name, bytes) in [
        ("id_photo_180x200", &id_photo),
        ("selfie_portrait", &selfie),
        ("phone_12mp", &phone),
    ] {
        g.bench_with_input(BenchmarkId::from_parameter(name), bytes, |b, bytes| {
            b.iter(|| engine.decode(black_box(bytes)).unwrap())
        });
    }
    g.finish();

    let decoded = engine.decode(&selfie).unwrap();
    let (w, h) = engine.detector_input_size();
    c.bench_function(&format!("detect/yunet_{w}x{h}"), |b| {
        b.iter(|| engine.detect(black_box(&decoded)).unwrap())
    });

    let face = engine.detect(&decoded).unwrap()[0];
    c.bench_function(&format!("refine/second_detection_{w}x{h}"), |b| {
        b.iter(|| engine.refine(black_box(&decoded), &face).unwrap())
    });

    for (k, info) in all.embedders().enumerate() {
        let (cw, ch) = info.input_size;
        c.bench_function(&format!("align/{}_{cw}x{ch}", info.id), |b| {
            b.iter(|| all.align(black_box(&decoded), &face, k).unwrap())
        });
        let aligned = all.align(&decoded, &face, k).unwrap();
        c.bench_function(
            &format!(
                "embed/{}{}",
                info.id,
                if info.flip_augment { "_flip_augmented" } else { "" }
            ),
            |b| b.iter(|| all.embed(black_box(&aligned), k).unwrap()),
        );
    }

    let a = all.template(&selfie, FacePolicy::Single).unwrap();
    let reference = engine
        .template(&fixture("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap();
    let other = all
        .template(&fixture("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap();
    c.bench_function("compare/fused_score_all_three", |b| {
        b.iter(|| {
            all.decide(
                all.model_scores(black_box(&a.embeddings), black_box(&other.embeddings))
                    .unwrap(),
            )
        })
    });

    let mut g = c.benchmark_group("verify_one_request");
    g.sample_size(20);
    g.bench_function("selfie_portrait_cascade", |b| {
        b.iter(|| {
            engine
                .verify_embeddings(black_box(&selfie), &reference.embeddings)
                .unwrap()
        })
    });
    g.bench_function("selfie_portrait_full_fusion", |b| {
        b.iter(|| {
            full.verify_embeddings(black_box(&selfie), &reference.embeddings)
                .unwrap()
        })
    });
    g.bench_function("phone_12mp_cascade", |b| {
        b.iter(|| {
            engine
                .verify_embeddings(black_box(&phone), &reference.embeddings)
                .unwrap()
        })
    });
    g.finish();
}

/// The model stages (one call each, no mirrored chip) and one whole request on each available
/// backend, side by side: tract always; ONNX Runtime when built with `--features onnxruntime`
/// and `$ORT_DYLIB_PATH` is set.
fn backends(c: &mut Criterion) {
    let single_call = |backend: InferenceBackend| EngineConfig {
        flip_augment: Some(false),
        backend: BackendConfig {
            kind: backend,
            onnxruntime_library: None,
        },
        ..config(Some("all-three"), false)
    };
    let mut engines = vec![(
        "tract",
        Engine::new(single_call(InferenceBackend::Tract)).expect("models load"),
    )];
    if InferenceBackend::OnnxRuntime.is_available() && std::env::var_os("ORT_DYLIB_PATH").is_some() {
        let ort = Engine::new(single_call(InferenceBackend::OnnxRuntime)).expect("ONNX Runtime backend loads");
        engines.push(("onnxruntime", ort));
    }
    let selfie = fixture("portraits/obama2.jpg");
    let first = &engines[0].1;
    let decoded = first.decode(&selfie).unwrap();
    let face = first.detect(&decoded).unwrap()[0];
    let chips: Vec<_> = (0..first.embedders().len())
        .map(|k| first.align(&decoded, &face, k).unwrap())
        .collect();
    let mut g = c.benchmark_group("backend");
    for (name, engine) in &engines {
        g.bench_with_input(BenchmarkId::new("detect_yunet_320", name), engine, |b, e| {
            b.iter(|| e.detect(black_box(&decoded)).unwrap())
        });
        for (k, info) in engine.embedders().enumerate() {
            g.bench_with_input(BenchmarkId::new(format!("embed_{}", info.id), name), engine, |b, e| {
                b.iter(|| e.embed(black_box(&chips[k]), k).unwrap())
            });
        }
    }
    g.finish();
    // The default engine (cascade) on each backend.
    let reference = first
        .template(&fixture("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap();
    let mut g = c.benchmark_group("backend_verify");
    g.sample_size(20);
    for (name, kind) in [
        ("tract", InferenceBackend::Tract),
        ("onnxruntime", InferenceBackend::OnnxRuntime),
    ] {
        if kind == InferenceBackend::OnnxRuntime && engines.len() < 2 {
            continue;
        }
        let e = Engine::new(EngineConfig {
            backend: BackendConfig {
                kind,
                onnxruntime_library: None,
            },
            ..EngineConfig::default()
        })
        .expect("engine");
        g.bench_function(BenchmarkId::new("selfie_cascade", name), |b| {
            b.iter(|| e.verify_embeddings(black_box(&selfie), &reference.embeddings).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, stages, backends);
criterion_main!(benches);
