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

fn stages(c: &mut Criterion) {
    let engine = Engine::new(EngineConfig::default()).expect("models load");
    let plain = Engine::new(EngineConfig {
        flip_augment: false,
        ..EngineConfig::default()
    })
    .expect("models load");
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

    c.bench_function("align/similarity_warp_150", |b| {
        b.iter(|| engine.align(black_box(&decoded), &face).unwrap())
    });

    let aligned = engine.align(&decoded, &face).unwrap();
    c.bench_function("embed/dlib_resnet", |b| {
        b.iter(|| plain.embed(black_box(&aligned)).unwrap())
    });
    c.bench_function("embed/dlib_resnet_flip_augmented", |b| {
        b.iter(|| engine.embed(black_box(&aligned)).unwrap())
    });

    let a = engine.template(&selfie, FacePolicy::Single).unwrap().embedding;
    let other = engine
        .template(&fixture("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap()
        .embedding;
    c.bench_function("compare/cosine_128", |b| {
        b.iter(|| engine.score(black_box(&a), black_box(&other)))
    });

    let mut g = c.benchmark_group("verify_one_request");
    g.sample_size(30);
    g.bench_function("selfie_portrait", |b| {
        b.iter(|| engine.verify_embedding(black_box(&selfie), &other).unwrap())
    });
    g.bench_function("phone_12mp", |b| {
        b.iter(|| engine.verify_embedding(black_box(&phone), &other).unwrap())
    });
    g.finish();
}

/// The model stages and one whole request on each available backend, side by side: tract
/// always; ONNX Runtime when built with `--features onnxruntime` and `$ORT_DYLIB_PATH` is set.
fn backends(c: &mut Criterion) {
    let mut engines = vec![(
        "tract",
        Engine::new(EngineConfig {
            flip_augment: false,
            ..EngineConfig::default()
        })
        .expect("models load"),
    )];
    if InferenceBackend::OnnxRuntime.is_available() && std::env::var_os("ORT_DYLIB_PATH").is_some() {
        let config = EngineConfig {
            flip_augment: false,
            backend: BackendConfig {
                kind: InferenceBackend::OnnxRuntime,
                onnxruntime_library: None,
            },
            ..EngineConfig::default()
        };
        engines.push(("onnxruntime", Engine::new(config).expect("ONNX Runtime backend loads")));
    }
    let selfie = fixture("portraits/obama2.jpg");
    let reference = engines[0]
        .1
        .template(&fixture("portraits/obama.jpg"), FacePolicy::Single)
        .unwrap();
    let decoded = engines[0].1.decode(&selfie).unwrap();
    let face = engines[0].1.detect(&decoded).unwrap()[0];
    let aligned = engines[0].1.align(&decoded, &face).unwrap();
    let mut g = c.benchmark_group("backend");
    for (name, engine) in &engines {
        g.bench_with_input(BenchmarkId::new("detect_yunet_320", name), engine, |b, e| {
            b.iter(|| e.detect(black_box(&decoded)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("embed_dlib_resnet", name), engine, |b, e| {
            b.iter(|| e.embed(black_box(&aligned)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("verify_selfie_no_flip", name), engine, |b, e| {
            b.iter(|| e.verify_embedding(black_box(&selfie), &reference.embedding).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, stages, backends);
criterion_main!(benches);
