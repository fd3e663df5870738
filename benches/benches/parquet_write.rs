//! Writing N result rows of `ikd run` to Parquet (zstd), as one chunk file is written.
//!
//! ```text
//! cargo bench -p ikd-benches --bench parquet_write
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ikd_pipelines::batch::results::{write_results, ResultRow};

fn row(i: u64) -> ResultRow {
    let matched = i % 3 != 0;
    ResultRow {
        request_id: format!("REQ-{i:08}"),
        nik: format!("3174{:012}", 15_0590_0001u64 + i),
        input_row: i + 1,
        decision: if matched { "match" } else { "rejected" }.into(),
        score: matched.then_some(9.3 + (i % 7) as f32 * 0.01),
        threshold: 4.9,
        operating_point: "fmr-1e-4".into(),
        reason: (!matched).then(|| "no_face".into()),
        detail: (!matched).then(|| "no face found in the image".into()),
        detector_model: "yunet-2026may".into(),
        matcher: "omz-0095+sface".into(),
        model_scores: if matched {
            vec![ikd_engine::ModelScore {
                model: "omz-0095".into(),
                cosine: 0.71,
                z: 9.3,
            }]
        } else {
            Vec::new()
        },
        embedders_used: u8::from(matched),
        selfie_sha256: Some(format!("{:064x}", i * 2_654_435_761)),
        gallery_photo_sha256: Some(format!("{:064x}", i * 40_503)),
        run_id: "run-0123456789abcdef".into(),
        engine_version: "0.1.0".into(),
        decode_ms: Some(4.2),
        detect_ms: Some(11.0),
        align_ms: Some(0.8),
        embed_ms: Some(9.5),
        credential: matched.then(|| "NCF".repeat(120)),
        credential_kid: matched.then(|| "kid-abcdefghijkl".into()),
        credential_id: matched.then(|| format!("{i:032x}")),
        credential_expires_at: matched.then_some(1_900_000_000),
        activation_code_hash: matched.then(|| format!("{:064x}", i * 7)),
    }
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("ikd-parquet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut group = c.benchmark_group("parquet_write_results");
    for n in [512u64, 4096, 32_768] {
        let rows: Vec<ResultRow> = (0..n).map(row).collect();
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &rows, |b, rows| {
            let path = dir.join(format!("part-{n}.parquet"));
            b.iter(|| write_results(&path, rows).expect("write"));
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
