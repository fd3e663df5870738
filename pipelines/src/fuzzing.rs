//! Entry points for coverage-guided fuzzing (`fuzz/`, cargo feature `fuzzing`) and for the
//! replay of the fuzz corpora in the tests: the readers of files a batch job takes from outside.
//! Each takes arbitrary bytes and must return, never panic; the fuzz targets are one call each.
//! The readers take paths, so the bytes go through a per-process file in the temp directory.

use crate::batch::lookup::GalleryReader;
use crate::batch::run::REQUEST_COLUMNS;
use crate::batch::table::TableReader;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// libFuzzer's panic hook aborts on every panic, even one the code catches. The `parquet`
/// crate panics on some malformed files and `batch::guard_parser` turns those into errors:
/// under the fuzzer, such panics inside the guard return to it; every other panic still
/// aborts (a finding).
fn let_parquet_panics_reach_the_guard() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Inside the guard: a panic raised in the parquet or arrow crates, or an allocation they asked
            // for that overflows (`capacity overflow`, raised in alloc on its behalf).
            let in_parquet = info
                .location()
                .is_some_and(|l| l.file().contains("/parquet-") || l.file().contains("/arrow-"));
            let overflow = info.payload().downcast_ref::<&str>() == Some(&"capacity overflow")
                || info
                    .payload()
                    .downcast_ref::<String>()
                    .is_some_and(|m| m == "capacity overflow");
            if !(crate::batch::inside_parser_guard() && (in_parquet || overflow)) {
                previous(info);
            }
        }));
    });
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("ikd-fuzz-{}", std::process::id()))
        .join(name)
}

fn write(path: &PathBuf, data: &[u8]) -> bool {
    path.parent().is_some_and(|d| std::fs::create_dir_all(d).is_ok()) && std::fs::write(path, data).is_ok()
}

/// A requests (or gallery photo list) file: the first byte picks CSV (even) or Parquet (odd),
/// the rest is the file. Every row is read.
pub fn requests_table(data: &[u8]) {
    let_parquet_panics_reach_the_guard();
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let path = scratch(if which % 2 == 0 {
        "requests.csv"
    } else {
        "requests.parquet"
    });
    if !write(&path, rest) {
        return;
    }
    if let Ok(mut reader) = TableReader::open(&path, &REQUEST_COLUMNS, 64) {
        while let Ok(rows) = reader.next_chunk(64) {
            if rows.is_empty() {
                break;
            }
        }
    }
}

/// A gallery part file (Parquet) in province 31's partition: opened as a run opens it, then
/// looked up for a few NIKs of that province, with the default embedders' columns.
pub fn gallery_part(data: &[u8]) {
    let_parquet_panics_reach_the_guard();
    let gallery = scratch("gallery");
    let part = gallery.join("province=31").join("part-00000.parquet");
    if !write(&part, data) {
        return;
    }
    let models = [
        ("omz-0095".to_string(), 256),
        ("sface-2021dec".to_string(), 128),
        ("dlib-resnet-v1".to_string(), 128),
    ];
    if let Ok(mut reader) = GalleryReader::open_with_photo_paths(&gallery, &BTreeSet::from([31]), &models) {
        let _ = reader.lookup(&[3_100_000_000_000_000, 3_174_010_101_900_001, 3_199_999_999_999_999]);
    }
}

/// TOML the engine takes: the first byte picks the model manifest (even) or the engine
/// configuration (odd), as `--manifest` and `--config` read them.
pub fn config_toml(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if which % 2 == 0 {
        let _ = ikd_engine::Manifest::parse(&text, std::path::Path::new("fuzz/manifest.toml"));
    } else {
        let _ = toml::from_str::<ikd_engine::EngineConfig>(&text);
    }
}
