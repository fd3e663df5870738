use ikd_datasets::{generate_demo, DemoConfig, DemoManifest};
use ikd_engine::credential::{generate_key_files, Algorithm};
use ikd_engine::{Engine, EngineConfig};
use ikd_pipelines::batch::gallery::{build, GalleryBuildConfig};
use ikd_pipelines::batch::run::{run, ProgressMode, RunConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const CHUNK: usize = 16;
pub const ISSUED_AT: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

pub struct Fixture {
    pub root: PathBuf,
    pub demo: DemoManifest,
    pub gallery: PathBuf,
    pub keys: PathBuf,
    /// An uninterrupted single run with keys, chunk size CHUNK.
    pub reference: PathBuf,
}

pub fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(EngineConfig::default()).expect("engine"))
}

/// The engine for ID photos (`ikd gallery build` default: no sharpness gate).
pub fn gallery_engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut config = EngineConfig::default();
        config.quality.min_sharpness = 0.0;
        Engine::new(config).expect("engine")
    })
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // Shared by every test of the process, so it outlives them all (no Drop for a static):
        // it lives under target/tmp, and the next test process removes those of processes
        // that have ended.
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_fixtures_of_ended_processes(parent);
        let root = tempfile::Builder::new()
            .prefix("ikd-it-")
            .tempdir_in(parent)
            .expect("tempdir")
            .keep();
        std::fs::write(root.join(".owner-pid"), std::process::id().to_string()).expect("owner pid");
        let demo = generate_demo(&DemoConfig::default(), &root.join("demo")).expect("demo");
        let gallery = root.join("gallery-db");
        build(
            gallery_engine(),
            &GalleryBuildConfig::new(demo.gallery_csv.clone(), gallery.clone()),
        )
        .expect("gallery");
        let keys = root.join("keys");
        generate_key_files(Algorithm::EdDsa, &keys).expect("keys");
        let reference = root.join("reference");
        let mut cfg = run_config(&demo.requests_csv, &gallery, &reference);
        cfg.keys = Some(keys.clone());
        let outcome = run(engine(), &cfg).expect("reference run");
        assert!(outcome.failed_chunks.is_empty());
        Fixture {
            root,
            demo,
            gallery,
            keys,
            reference,
        }
    })
}

/// Removes the `ikd-it-*` fixtures whose test process is gone.
fn remove_fixtures_of_ended_processes(parent: &Path) {
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("ikd-it-") {
            continue;
        }
        let ended = match std::fs::read_to_string(dir.join(".owner-pid")) {
            Ok(pid) => !Path::new("/proc").join(pid.trim()).exists(),
            // No pid yet: another process may be creating it right now; only an old one goes.
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600)),
        };
        if ended {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

pub fn run_config(requests: &Path, gallery: &Path, out: &Path) -> RunConfig {
    let mut cfg = RunConfig::new(requests.to_path_buf(), gallery.to_path_buf(), out.to_path_buf());
    cfg.chunk_size = CHUNK;
    cfg.issued_at = Some(ISSUED_AT);
    cfg.progress = ProgressMode::Quiet;
    cfg
}

/// `ikd run` with the fixture's arguments (same as the reference run) plus `extra`.
pub fn ikd_run(out: &Path, extra: &[&str]) -> Command {
    ikd_run_on(&fixture().demo.requests_csv, out, extra)
}

/// `ikd run` as [`ikd_run`], on another requests file.
pub fn ikd_run_on(requests: &Path, out: &Path, extra: &[&str]) -> Command {
    let f = fixture();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ikd"));
    c.arg("run")
        .arg("--requests")
        .arg(requests)
        .arg("--gallery")
        .arg(&f.gallery)
        .arg("--out")
        .arg(out)
        .arg("--keys")
        .arg(&f.keys)
        .arg("--chunk-size")
        .arg(CHUNK.to_string())
        .arg("--issued-at")
        .arg(ISSUED_AT.to_string())
        .arg("--no-progress-bar")
        .args(extra);
    c
}

/// Columns that legitimately differ between two runs (wall-clock timings).
pub const TIMING_COLUMNS: [&str; 4] = ["decode_ms", "detect_ms", "align_ms", "embed_ms"];

pub type Row = BTreeMap<String, String>;

/// Every row of a Parquet dataset directory (recursively), values rendered as strings.
pub fn read_table(dir: &Path) -> Vec<Row> {
    let mut files = Vec::new();
    collect_parquet(dir, &mut files);
    files.sort();
    let mut rows = Vec::new();
    for f in files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&f).expect("open"),
        )
        .expect("parquet")
        .build()
        .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let schema = batch.schema();
            for r in 0..batch.num_rows() {
                let mut row = Row::new();
                for (i, field) in schema.fields().iter().enumerate() {
                    let col = batch.column(i);
                    let v = if col.is_null(r) {
                        "NULL".to_string()
                    } else {
                        arrow::util::display::array_value_to_string(col, r).expect("display")
                    };
                    row.insert(field.name().clone(), v);
                }
                rows.push(row);
            }
        }
    }
    rows
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_parquet(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
}

/// Results without timing columns, sorted by input row.
pub fn comparable_results(out: &Path) -> Vec<Row> {
    let mut rows = read_table(&out.join("results"));
    for r in &mut rows {
        for c in TIMING_COLUMNS {
            r.remove(c);
        }
    }
    rows.sort_by_key(|r| r["input_row"].parse::<u64>().expect("input_row"));
    rows
}

/// Files whose name marks them as temporary, anywhere under `dir`.
pub fn tmp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(d) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().ends_with(".tmp") {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out
}
