//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`, minimised by `cargo fuzz cmin`)
//! and the inputs of every crash found (`fuzz/regressions/<target>/`) through the same entry
//! points as the fuzz targets, in the ordinary test build: a parser change that panics on any
//! of them fails here, without a fuzzing toolchain. Then a few seconds of random mutations of
//! those inputs per target (not coverage-guided: CI runs libFuzzer itself only on the targets
//! that build quickly). See docs/fuzzing.md.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 7] = [
    ("image_intake", ikd_engine::fuzzing::image_intake),
    ("credential_text", ikd_engine::credential::fuzzing::credential_text),
    ("credential_cbor", ikd_engine::credential::fuzzing::credential_cbor),
    ("jwks", ikd_engine::credential::fuzzing::jwks),
    ("requests_table", ikd_pipelines::fuzzing::requests_table),
    ("gallery_part", ikd_pipelines::fuzzing::gallery_part),
    ("config_toml", ikd_pipelines::fuzzing::config_toml),
];

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_is_handled_without_a_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for (name, target) in TARGETS {
        let corpus = inputs(&fuzz.join("corpus").join(name));
        assert!(!corpus.is_empty(), "{name}: no committed corpus");
        let regressions = inputs(&fuzz.join("regressions").join(name));
        for path in corpus.iter().chain(&regressions) {
            // (A fuzzer running beside the tests may have just replaced the file.)
            let Ok(data) = std::fs::read(path) else { continue };
            let started = std::time::Instant::now();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panics", path.display());
            // The fuzzer's own hang criterion (-timeout=20): some regressions were inputs that
            // took 20-40 s; fixed, they take milliseconds, so this is not a speed test.
            let took = started.elapsed();
            assert!(took.as_secs() < 20, "{name}: {} took {took:?}", path.display());
        }
    }
}

#[test]
fn the_credential_seeds_reach_past_the_signature() {
    // Otherwise the fuzzer would start outside the claim parsers it is meant to reach.
    use ikd_engine::credential::fuzzing;
    let texts = fuzzing::seed_credentials(Some(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0]));
    assert_eq!(texts.len(), 4);
    for t in &texts {
        assert!(fuzzing::verifies(t.as_bytes()), "a seed does not verify: {t}");
    }
    assert!(!fuzzing::verifies(b"NCF not a credential"));
}

/// A small seeded generator (xorshift64*), so a failure can be replayed with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four of libFuzzer's simplest mutations: flip a bit, set a byte to a boundary value,
/// insert random bytes, erase or duplicate a range, truncate, splice in part of another input.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5)];
            }
            2 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            3 if len > 1 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(64)).min(len);
                data.drain(from..to);
            }
            4 if len > 1 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(256)).min(len);
                let copy = data[from..to].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            5 if len > 1 => data.truncate(rng.below(len)),
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let to = (from + 1 + rng.below(512)).min(other.len());
                let at = rng.below(len + 1);
                data.splice(at..at, other[from..to].iter().copied());
            }
            _ => {}
        }
    }
    data.truncate(1 << 20);
}

#[test]
fn brief_random_mutations_of_the_corpora_do_not_panic() {
    let seed = std::env::var("IKD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    let budget = std::time::Duration::from_secs(3);
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let failures = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-mutation-failures");
    for (name, target) in TARGETS {
        let corpus: Vec<Vec<u8>> = inputs(&fuzz.join("corpus").join(name))
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .collect();
        assert!(!corpus.is_empty(), "{name}: no committed corpus");
        let mut rng = Rng(seed ^ name.len() as u64);
        let started = std::time::Instant::now();
        let mut executions = 0u64;
        while started.elapsed() < budget {
            let mut data = corpus[rng.below(corpus.len())].clone();
            let other = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, &mut data, other);
            executions += 1;
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                std::fs::create_dir_all(&failures).unwrap();
                let file = failures.join(format!("{name}-{}", ikd_engine::sha256_hex(&data)));
                std::fs::write(&file, &data).unwrap();
                panic!(
                    "{name}: a mutated input panics (IKD_FUZZ_SEED={seed}); saved as {}: add it to fuzz/regressions/{name}/ with the fix",
                    file.display()
                );
            }
        }
        eprintln!("{name}: {executions} mutated inputs, seed {seed}");
    }
}
