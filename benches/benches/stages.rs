//! Catches speed regressions in each face stage (decode, detect, align, embed, compare) and in
//! the whole verify path of one request, on fixed real photos bundled with the project.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ikd_engine::{Engine, EngineConfig, FacePolicy};
use std::hint::black_box;

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

criterion_group!(benches, stages);
criterion_main!(benches);
