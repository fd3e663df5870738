//! Hostile batch inputs: each is either refused as a whole, with the line or row and the
//! problem (exit code 2, nothing written), or gives exactly one result row per input record
//! with a reason. The table in docs/batch.md lists these cases.

use crate::common::{comparable_results, engine, fixture, read_table, run_config};
use ikd_pipelines::batch::run::run;
use ikd_pipelines::batch::UsageError;
use std::path::{Path, PathBuf};

/// Three demo requests expected to match: (request_id, nik, selfie path relative to the demo).
fn good_rows() -> Vec<(String, String, String)> {
    fixture()
        .demo
        .requests
        .iter()
        .filter(|r| r.expected.as_str() == "match")
        .take(3)
        .map(|r| (r.request_id.clone(), r.nik.clone(), r.selfie_path.clone()))
        .collect()
}

fn demo_dir() -> PathBuf {
    fixture().demo.requests_csv.parent().unwrap().to_path_buf()
}

/// Runs `requests` (bytes, written as `name`) against the demo gallery, selfies from the demo.
fn run_bytes(dir: &Path, name: &str, bytes: &[u8]) -> (anyhow::Result<()>, PathBuf) {
    let requests = dir.join(name);
    std::fs::write(&requests, bytes).unwrap();
    let out = dir.join(format!("out-{name}"));
    let mut cfg = run_config(&requests, &fixture().gallery, &out);
    cfg.selfie_dir = Some(demo_dir());
    (run(engine(), &cfg).map(|_| ()), out)
}

fn assert_refused(result: &anyhow::Result<()>, out: &Path, needles: &[&str]) {
    let err = result.as_ref().expect_err("the file must be refused");
    let text = format!("{err:#}");
    assert!(err.downcast_ref::<UsageError>().is_some(), "not a usage error: {text}");
    for n in needles {
        assert!(text.contains(n), "{text:?} should say {n:?}");
    }
    assert!(read_table(&out.join("results")).is_empty(), "nothing may be committed");
}

fn csv_of(lines: &[String], eol: &str) -> Vec<u8> {
    let mut s = String::from("request_id,nik,selfie_path");
    for l in lines {
        s.push_str(eol);
        s.push_str(l);
    }
    s.push_str(eol);
    s.into_bytes()
}

fn lines() -> Vec<String> {
    good_rows().iter().map(|(i, n, p)| format!("{i},{n},{p}")).collect()
}

#[test]
fn an_unterminated_quote_refuses_the_file_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = lines();
    // Line 3 opens a quote that never closes: it would swallow line 4 into one field.
    l[1] = format!("\"{}", l[1]);
    let (result, out) = run_bytes(dir.path(), "quote.csv", &csv_of(&l, "\n"));
    assert_refused(&result, &out, &["line 3", "unterminated quote"]);

    // Through the binary: exit code 2, and the message names the line.
    let requests = dir.path().join("quote.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ikd"))
        .args(["run", "--requests"])
        .arg(&requests)
        .arg("--gallery")
        .arg(&fixture().gallery)
        .arg("--out")
        .arg(dir.path().join("out-bin"))
        .arg("--selfie-dir")
        .arg(demo_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 3"));
}

#[test]
fn structurally_broken_csv_files_are_refused_with_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let l = lines();
    let with = |i: usize, line: String| {
        let mut l = l.clone();
        l[i] = line;
        csv_of(&l, "\n")
    };
    let nul = with(1, format!("{}\0", l[1]));
    let mut non_utf8 = with(2, format!("{}X", l[2]));
    let pos = non_utf8.len() - 2; // the X
    non_utf8[pos] = 0xff;
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("nul.csv", nul, vec!["line 3", "NUL byte"]),
        ("non-utf8.csv", non_utf8, vec!["line 4", "not UTF-8"]),
        // A 1 MB selfie_path.
        (
            "big-field.csv",
            with(0, format!("{}{}", l[0], "x".repeat(1 << 20))),
            vec!["line 2", "more than 4096"],
        ),
        (
            "extra-field.csv",
            with(0, format!("{},extra", l[0])),
            vec!["line 2", "4 fields where the header has 3"],
        ),
        (
            "short-row.csv",
            with(2, "R9,3174000000000001".into()),
            vec!["line 4", "2 fields where the header has 3"],
        ),
        (
            "duplicate-header.csv",
            format!("request_id,nik,selfie_path,nik\n{},x\n", l[0]).into_bytes(),
            vec!["column nik appears twice"],
        ),
        (
            "missing-header.csv",
            format!("request_id,selfie_path\nR1,{}\n", good_rows()[0].2).into_bytes(),
            vec!["no column nik"],
        ),
        (
            "empty-header-name.csv",
            b"request_id,,nik,selfie_path\nR1,a,1,b\n".to_vec(),
            vec!["column 2 has no name"],
        ),
        (
            "header-only-broken.csv",
            b"request_id,nik,\"selfie_path\n".to_vec(),
            vec!["line 1"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let (result, out) = run_bytes(dir.path(), name, &bytes);
        assert!(result.is_err(), "{name} must be refused");
        assert_refused(&result, &out, &needles);
    }
}

#[test]
fn bom_and_mixed_line_ends_give_one_row_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let l = lines();
    let (plain, out) = run_bytes(dir.path(), "plain.csv", &csv_of(&l, "\n"));
    plain.unwrap();
    let reference = comparable_results(&out);
    assert_eq!(reference.len(), l.len());

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(csv_of(&l, "\n"));
    let mixed = format!("request_id,nik,selfie_path\r\n{}\n{}\r\n{}\r\n", l[0], l[1], l[2]).into_bytes();
    for (name, bytes) in [("bom.csv", bom), ("mixed.csv", mixed), ("crlf.csv", csv_of(&l, "\r\n"))] {
        let (result, out) = run_bytes(dir.path(), name, &bytes);
        result.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let rows = comparable_results(&out);
        assert_eq!(rows.len(), l.len(), "{name}: one row per record");
        let decisions = |rows: &[crate::common::Row]| -> Vec<(String, String)> {
            rows.iter()
                .map(|r| (r["request_id"].clone(), r["decision"].clone()))
                .collect()
        };
        assert_eq!(decisions(&rows), decisions(&reference), "{name}");
        assert!(rows.iter().all(|r| r["decision"] == "match"), "{name}: {rows:?}");
    }
}

#[test]
fn parquet_requests_with_a_wrong_schema_are_refused() {
    use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, columns: Vec<(&str, ArrayRef)>| -> PathBuf {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let path = dir.path().join(name);
        let mut w =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    };
    let text = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
    let float_nik = write(
        "float-nik.parquet",
        vec![
            ("request_id", text(&["R1"])),
            ("nik", Arc::new(Float64Array::from(vec![3.174e15])) as ArrayRef),
            ("selfie_path", text(&["a.jpg"])),
        ],
    );
    let no_selfie = write(
        "no-selfie.parquet",
        vec![("request_id", text(&["R1"])), ("nik", text(&["1"]))],
    );
    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"PAR1 this is not a parquet file PAR1").unwrap();
    for (path, needle) in [
        (float_nik, "column nik is of type Float64"),
        (no_selfie, "no column selfie_path"),
        (garbage, "not a readable Parquet file"),
    ] {
        let out = dir
            .path()
            .join(format!("out-{}", path.file_name().unwrap().to_string_lossy()));
        let mut cfg = run_config(&path, &fixture().gallery, &out);
        cfg.selfie_dir = Some(demo_dir());
        let result = run(engine(), &cfg).map(|_| ());
        assert_refused(&result, &out, &[needle]);
    }
}

#[test]
fn selfie_paths_that_leave_the_selfie_directory_are_refused_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let selfies = dir.path().join("selfies");
    std::fs::create_dir(&selfies).unwrap();
    let good = &good_rows()[0];
    let photo = std::fs::read(demo_dir().join(&good.2)).unwrap();
    std::fs::write(selfies.join("own.jpg"), &photo).unwrap();
    // The same photo outside the selfie directory: reachable by `..`, by an absolute path, and
    // through a symlink inside. A job must read none of them.
    let outside = dir.path().join("outside.jpg");
    std::fs::write(&outside, &photo).unwrap();
    std::os::unix::fs::symlink(&outside, selfies.join("link.jpg")).unwrap();
    std::os::unix::fs::symlink(selfies.join("own.jpg"), selfies.join("inner-link.jpg")).unwrap();
    let nik = &good.1;
    let csv = format!(
        "request_id,nik,selfie_path\nA,{nik},own.jpg\nB,{nik},../outside.jpg\nC,{nik},{}\nD,{nik},link.jpg\nE,{nik},inner-link.jpg\nF,{nik},missing.jpg\nG,{nik},{}\n",
        outside.display(),
        selfies.join("own.jpg").display(),
    );
    let requests = selfies.join("requests.csv");
    std::fs::write(&requests, csv).unwrap();
    let out = dir.path().join("out");
    run(engine(), &run_config(&requests, &fixture().gallery, &out)).unwrap();
    let rows = comparable_results(&out);
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r["request_id"].as_str(), r["decision"].as_str(), r["reason"].as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("A", "match", "NULL"),
            ("B", "rejected", "path_outside_base"),
            ("C", "rejected", "path_outside_base"),
            ("D", "rejected", "path_outside_base"),
            ("E", "match", "NULL"), // a symlink that stays inside
            ("F", "rejected", "file_not_found"),
            ("G", "match", "NULL"), // an absolute path inside
        ],
        "{rows:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The gallery's province partitions, in order.
fn partitions(gallery: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(gallery)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("province="))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn a_damaged_or_misplaced_gallery_partition_stops_the_run_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let demo = &fixture().demo.requests_csv;
    type Damage = fn(&[PathBuf]) -> PathBuf;
    let cases: [(&str, Damage, &str); 3] = [
        (
            "truncated",
            |parts| {
                let file = parts[0].join("part-00000.parquet");
                let bytes = std::fs::read(&file).unwrap();
                std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
                file
            },
            "opening gallery part",
        ),
        (
            "corrupt",
            |parts| {
                let file = parts[0].join("part-00000.parquet");
                let len = std::fs::metadata(&file).unwrap().len() as usize;
                std::fs::write(&file, (0..len).map(|i| (i * 131 % 251) as u8).collect::<Vec<_>>()).unwrap();
                file
            },
            "opening gallery part",
        ),
        (
            "copied into another province",
            |parts| {
                let copy = parts[1].join("part-00099.parquet");
                std::fs::copy(parts[0].join("part-00000.parquet"), &copy).unwrap();
                copy
            },
            "holds NIKs of province",
        ),
    ];
    for (name, damage, needle) in cases {
        let gallery = dir.path().join(format!("gallery-{}", name.replace(' ', "-")));
        copy_dir(&fixture().gallery, &gallery);
        let parts = partitions(&gallery);
        assert!(parts.len() >= 2);
        let damaged = damage(&parts);
        let out = dir.path().join(format!("out-{}", name.replace(' ', "-")));
        let err = run(engine(), &run_config(demo, &gallery, &out)).expect_err(name);
        let text = format!("{err:#}");
        assert!(text.contains(needle), "{name}: {text}");
        assert!(
            text.contains(&damaged.display().to_string()),
            "{name}: names the file: {text}"
        );
        assert!(read_table(&out.join("results")).is_empty(), "{name}: nothing committed");
    }
}

#[test]
fn gallery_photo_paths_that_leave_the_photo_list_directory_are_rejected_rows() {
    use ikd_pipelines::batch::gallery::{build, GalleryBuildConfig};
    let dir = tempfile::tempdir().unwrap();
    let photos_dir = dir.path().join("photos");
    std::fs::create_dir(&photos_dir).unwrap();
    let gallery_csv = &fixture().demo.gallery_csv;
    let mut reader = csv::Reader::from_path(gallery_csv).unwrap();
    let rec = reader.records().next().unwrap().unwrap();
    let (nik, photo) = (rec[0].to_string(), gallery_csv.parent().unwrap().join(&rec[1]));
    std::fs::copy(&photo, photos_dir.join("own.jpg")).unwrap();
    std::fs::copy(&photo, dir.path().join("outside.jpg")).unwrap();
    let other_nik = format!("{}9", &nik[..15]);
    let list = photos_dir.join("photos.csv");
    std::fs::write(
        &list,
        format!("nik,photo_path\n{nik},own.jpg\n{other_nik},../outside.jpg\n"),
    )
    .unwrap();
    let out = dir.path().join("gallery");
    let outcome = build(
        crate::common::gallery_engine(),
        &GalleryBuildConfig::new(list, out.clone()),
    )
    .unwrap();
    assert_eq!(outcome.added, 1);
    let rejects = read_table(&out.join("rejects"));
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0]["nik"], other_nik);
    assert_eq!(rejects[0]["reason"], "path_outside_base");
}
