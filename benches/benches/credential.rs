//! Catches a regression in credential issuance speed (must stay >= 30,000 Ed25519 credentials/s
//! per core: payload + sign + zlib + Base45), by timing full issuance next to a bare ring Ed25519
//! signature over a message of the same size, plus verification and the zlib level trade-off.
//!
//! With the holder's photo: issue and verify with a 1,000-byte portrait inside, and the offline
//! face check (`Engine::compare_with_portrait`) that a verifier runs after decrypting; making the
//! portrait from an ID photo is an issuer's one-off, timed too.
//!
//! Run: `cargo bench -p ikd-benches --bench credential`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ikd_engine::credential::{
    verify, verify_with_decryption, Algorithm, CredentialIssuer, EncryptionAlgorithm, EncryptionKey, Gender, Identity,
    IssuerKey, KeySet, VerifyOptions,
};
use ikd_engine::credential::{Photo, PhotoFormat};
use ikd_engine::{Engine, EngineConfig, FacePolicy};
use ring::signature::Ed25519KeyPair;

// The same allocator as the `ikd` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The photo budget of the photo benches (bytes).
const PHOTO_BUDGET: usize = 1000;

fn fixture(rel: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/fixtures/faces/").to_owned() + rel;
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The identity with the holder's portrait (of a bundled ID photo) at [`PHOTO_BUDGET`].
fn identity_with_photo(engine: &Engine) -> Identity {
    let portrait = engine
        .portrait(&fixture("portraits/obama.jpg"), FacePolicy::Single, PHOTO_BUDGET)
        .expect("portrait");
    Identity {
        photo: Some(Photo {
            format: PhotoFormat::Jpeg,
            bytes: portrait.jpeg,
        }),
        ..identity()
    }
}

const T: u64 = 1_700_000_000;

fn identity() -> Identity {
    Identity {
        id: "3171234567890123".into(),
        full_name: "Siti Rahayu Kusumawardhani".into(),
        date_of_birth: Some("1990-05-15".into()),
        gender: Some(Gender::Female),
        email: Some("siti.rahayu@example.id".into()),
        address: None,
        phone: None,
        nationality: Some("ID".into()),
        photo: None,
    }
}

fn issuer(alg: Algorithm) -> CredentialIssuer {
    let key = IssuerKey::generate(alg).expect("key generation");
    CredentialIssuer::new(
        key,
        "https://ikd.dukcapil.example.id".into(),
        Duration::from_secs(5 * 365 * 86_400),
    )
}

fn bench_issue(c: &mut Criterion) {
    let id = identity();
    let mut g = c.benchmark_group("credential_issue");
    g.throughput(Throughput::Elements(1));
    for (name, alg) in [("ed25519", Algorithm::EdDsa), ("es256", Algorithm::Es256)] {
        let issuer = issuer(alg);
        g.bench_function(name, |b| {
            b.iter(|| issuer.issue(black_box(&id), black_box(T)).expect("issue"))
        });
    }
    // Ed25519 + AES-256-GCM (COSE_Encrypt0 around the COSE_Sign1, synthetic IV).
    let (aes, _) = EncryptionKey::generate(EncryptionAlgorithm::A256Gcm).expect("aes key");
    let encrypting = issuer(Algorithm::EdDsa).with_encryption(aes);
    g.bench_function("ed25519_aes256gcm", |b| {
        b.iter(|| encrypting.issue(black_box(&id), black_box(T)).expect("issue"))
    });
    // The floor: ring's Ed25519 signature alone over a message as long as our Sig_structure.
    let issuer = issuer(Algorithm::EdDsa);
    let msg_len = issuer.sign_cose(&id, T).expect("cose").len() - 64;
    let msg = vec![0x5au8; msg_len];
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("pkcs8");
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
    g.bench_function("ring_ed25519_sign_only", |b| b.iter(|| kp.sign(black_box(&msg))));
    // The same with the holder's photo inside.
    let engine = Engine::new(EngineConfig::default()).expect("models load");
    let with_photo = identity_with_photo(&engine);
    let (aes, _) = EncryptionKey::generate(EncryptionAlgorithm::A256Gcm).expect("aes key");
    let encrypting = self::issuer(Algorithm::EdDsa).with_encryption(aes);
    g.bench_function("ed25519_aes256gcm_photo", |b| {
        b.iter(|| encrypting.issue(black_box(&with_photo), black_box(T)).expect("issue"))
    });
    g.finish();

    // The issuer's one-off per citizen: the portrait of a KTP-el photo at the budget (decode,
    // detect, align, JPEG search).
    let id_photo = fixture("portraits/obama.jpg");
    let mut g = c.benchmark_group("portrait");
    g.sample_size(20);
    g.bench_function("make_portrait", |b| {
        b.iter(|| {
            engine
                .portrait(black_box(&id_photo), FacePolicy::Single, PHOTO_BUDGET)
                .expect("portrait")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("credential_zlib_level");
    g.throughput(Throughput::Elements(1));
    for level in [0u32, 1, 6, 9] {
        let issuer = self::issuer(Algorithm::EdDsa).with_zlib_level(level);
        let len = issuer.issue(&id, T).expect("issue").text.len();
        eprintln!("zlib level {level}: {len} Base45 chars");
        g.bench_function(format!("level_{level}"), |b| {
            b.iter(|| issuer.issue(black_box(&id), black_box(T)).expect("issue"))
        });
    }
    g.finish();
}

fn bench_verify(c: &mut Criterion) {
    let id = identity();
    let mut g = c.benchmark_group("credential_verify");
    g.throughput(Throughput::Elements(1));
    for (name, alg) in [("ed25519", Algorithm::EdDsa), ("es256", Algorithm::Es256)] {
        let issuer = issuer(alg);
        let mut keys = KeySet::new();
        keys.insert(issuer.key().public_key().clone()).expect("keyset");
        let text = issuer.issue(&id, T).expect("issue").text;
        let opts = VerifyOptions::default();
        g.bench_function(name, |b| {
            b.iter(|| verify(black_box(&text), &keys, T + 60, &opts).expect("verify"))
        });
    }
    let (aes, bytes) = EncryptionKey::generate(EncryptionAlgorithm::A256Gcm).expect("aes key");
    let reader = EncryptionKey::from_bytes(EncryptionAlgorithm::A256Gcm, &bytes, None).expect("aes key");
    let encrypting = issuer(Algorithm::EdDsa).with_encryption(aes);
    let mut keys = KeySet::new();
    keys.insert(encrypting.key().public_key().clone()).expect("keyset");
    let text = encrypting.issue(&id, T).expect("issue").text;
    let opts = VerifyOptions::default();
    g.bench_function("ed25519_aes256gcm_decrypt", |b| {
        b.iter(|| verify_with_decryption(black_box(&text), &keys, Some(&reader), T + 60, &opts).expect("verify"))
    });
    let engine = Engine::new(EngineConfig::default()).expect("models load");
    let photo_text = encrypting.issue(&identity_with_photo(&engine), T).expect("issue").text;
    g.bench_function("ed25519_aes256gcm_decrypt_photo", |b| {
        b.iter(|| verify_with_decryption(black_box(&photo_text), &keys, Some(&reader), T + 60, &opts).expect("verify"))
    });
    g.finish();

    // The verifier's whole offline check: verify + decrypt, then the live photo against the
    // credential's photo with the face engine (default models, cascade, operating point).
    let live = fixture("portraits/obama2.jpg");
    let mut g = c.benchmark_group("credential_verify_face");
    g.sample_size(20);
    g.bench_function("ed25519_aes256gcm_decrypt_face_check", |b| {
        b.iter(|| {
            let v =
                verify_with_decryption(black_box(&photo_text), &keys, Some(&reader), T + 60, &opts).expect("verify");
            let photo = v.identity.photo.expect("photo");
            let c = engine
                .compare_with_portrait(black_box(&live), &photo.bytes)
                .expect("face check");
            assert_eq!(c.verdict.decision, ikd_engine::Decision::Match);
            c
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_issue, bench_verify
}
criterion_main!(benches);
