//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`, minimised by `cargo fuzz cmin`)
//! and the inputs of every crash found (`fuzz/regressions/<target>/`) through the same entry
//! points as the fuzz targets, in the ordinary test build: a parser change that panics on any
//! of them fails here, without a fuzzing toolchain. See docs/fuzzing.md.

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
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panics", path.display());
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
