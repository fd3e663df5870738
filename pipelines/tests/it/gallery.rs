use crate::common::{engine, fixture, gallery_engine, read_table, run_config};
use ikd_pipelines::batch::gallery::{build, GalleryBuildConfig};
use ikd_pipelines::batch::lookup::GalleryReader;
use ikd_pipelines::batch::run::run;
use std::collections::BTreeSet;

#[test]
fn gallery_is_partitioned_by_province_and_indexed() {
    let f = fixture();
    let rows = read_table(&f.gallery);
    assert_eq!(rows.len(), f.demo.gallery_count, "every demo gallery photo is embedded");
    let mut provinces = BTreeSet::new();
    for p in std::fs::read_dir(&f.gallery).unwrap().flatten() {
        let name = p.file_name().to_string_lossy().into_owned();
        if let Some(code) = name.strip_prefix("province=") {
            provinces.insert(code.parse::<u8>().unwrap());
            let t = read_table(&p.path());
            assert!(
                t.iter().all(|r| r["nik"].starts_with(code)),
                "rows of {name} belong to it"
            );
        }
    }
    let one = *provinces.iter().next().unwrap();
    let models: Vec<(String, usize)> = engine().embedders().map(|e| (e.id.clone(), e.dims)).collect();
    let mut reader = GalleryReader::open(&f.gallery, &BTreeSet::from([one]), &models).unwrap();
    let in_one = rows
        .iter()
        .filter(|r| r["nik"].starts_with(&format!("{one:02}")))
        .count();
    assert_eq!(
        reader.stats().entries,
        in_one as u64,
        "only the asked province is opened"
    );
    let all_keys: Vec<u64> = rows.iter().map(|r| r["nik"].parse().unwrap()).chain([1]).collect();
    let idx = reader.lookup(&all_keys).unwrap();
    assert_eq!(idx.len(), in_one, "NIKs of other provinces are not found");
    for r in rows.iter().filter(|r| r["nik"].starts_with(&format!("{one:02}"))) {
        let key: u64 = r["nik"].parse().unwrap();
        let e = idx.get(key).expect("lookup");
        for (emb, (_, dims)) in e.embeddings.iter().zip(&models) {
            assert_eq!(emb.map(|v| v.len()), Some(*dims));
        }
        assert_eq!(ikd_pipelines::batch::hex(e.photo_sha256), r["photo_sha256"]);
    }
    assert!(idx.get(1).is_none());
}

#[test]
fn gallery_rebuild_adds_only_new_niks_and_rejects_bad_rows() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(&f.demo.gallery_csv).unwrap();
    let lines: Vec<&str> = src.lines().collect();
    let photos_dir = f.demo.gallery_csv.parent().unwrap();
    // Paths stay relative to the CSV: write the CSVs next to the demo gallery.csv.
    let first = photos_dir.join("it-first.csv");
    let second = photos_dir.join("it-second.csv");
    std::fs::write(&first, lines[..5].join("\n") + "\n").unwrap();
    let mut more = lines[..9].to_vec();
    more.push("1234,photos/none.jpg,Bad Nik,1990-01-01,male");
    more.push("3171014101900001,photos/does-not-exist.jpg,Missing,1990-01-01,female");
    std::fs::write(&second, more.join("\n") + "\n").unwrap();
    let out = dir.path().join("g");
    let r1 = build(gallery_engine(), &GalleryBuildConfig::new(first, out.clone())).unwrap();
    assert_eq!((r1.added, r1.already_present, r1.rejected), (4, 0, 0));
    let before: Vec<_> = r1
        .files_written
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    let r2 = build(gallery_engine(), &GalleryBuildConfig::new(second, out.clone())).unwrap();
    assert_eq!((r2.added, r2.already_present, r2.rejected), (4, 4, 2));
    assert_eq!(r2.rejects_by_reason.get("invalid_nik"), Some(&1));
    assert_eq!(r2.rejects_by_reason.get("file_not_found"), Some(&1));
    for (p, bytes) in before {
        assert_eq!(
            std::fs::read(&p).unwrap(),
            bytes,
            "existing part files are not rewritten"
        );
    }
    let all: Vec<_> = read_table(&out)
        .into_iter()
        .filter(|r| r.contains_key("photo_sha256"))
        .collect();
    assert_eq!(all.len(), 8);
    let niks: BTreeSet<_> = all.iter().map(|r| r["nik"].clone()).collect();
    assert_eq!(niks.len(), 8, "no NIK embedded twice");
    let rejects = read_table(&out.join("rejects"));
    assert_eq!(rejects.len(), 2);
    let r3 = build(
        gallery_engine(),
        &GalleryBuildConfig::new(photos_dir.join("it-first.csv"), out),
    )
    .unwrap();
    assert_eq!((r3.added, r3.already_present), (0, 4));
}

/// A gallery built with fewer embedders (dlib only) is refused per row by a run with the
/// default matcher (`gallery_model_mismatch`, never compared against the wrong model), and a
/// build with the default engine extends it in place: only the missing embedders run, and the
/// dlib column stays as it was.
#[test]
fn a_gallery_with_fewer_embedders_is_refused_then_extended_in_place() {
    use ikd_engine::{Engine, EngineConfig};
    use ikd_pipelines::batch::gallery_part::embedding_column;
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(&f.demo.gallery_csv).unwrap();
    let photos = f.demo.gallery_csv.parent().unwrap().join("it-extend.csv");
    std::fs::write(&photos, src.lines().take(9).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let out = dir.path().join("g");
    let mut dlib = EngineConfig {
        matcher: Some("dlib".into()),
        ..EngineConfig::default()
    };
    dlib.quality.min_sharpness = 0.0;
    let dlib = Engine::new(dlib).unwrap();
    let first = build(&dlib, &GalleryBuildConfig::new(photos.clone(), out.clone())).unwrap();
    assert_eq!(first.added, 8);
    let before = read_table(&out);
    let dlib_col = embedding_column("dlib-resnet-v1");
    assert!(before
        .iter()
        .all(|r| r.contains_key(&dlib_col) && !r.contains_key(&embedding_column("sface-2021dec"))));

    // A run with the default matcher refuses every row against this gallery.
    let requests = dir.path().join("requests.csv");
    // Each entry's own KTP-el photo as the selfie: the same image, so a match once comparable.
    let mut csv = String::from("request_id,nik,selfie_path\n");
    for (i, r) in before.iter().enumerate() {
        csv.push_str(&format!("R{i},{},{}\n", r["nik"], r["photo_path"]));
    }
    std::fs::write(&requests, csv).unwrap();
    // The photos (absolute paths in the gallery) are the selfies: they lie in the demo's tree.
    let selfie_dir = f.demo.gallery_csv.parent().unwrap().to_path_buf();
    let run_config = |requests: &std::path::Path, gallery: &std::path::Path, out: &std::path::Path| {
        let mut cfg = run_config(requests, gallery, out);
        cfg.selfie_dir = Some(selfie_dir.clone());
        cfg
    };
    let outcome = run(engine(), &run_config(&requests, &out, &dir.path().join("run1"))).unwrap();
    let rows = read_table(&dir.path().join("run1/results"));
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r["reason"] == "gallery_model_mismatch"), "{rows:?}");
    assert_eq!(outcome.summary["reasons"]["gallery_model_mismatch"], 8);

    // Extending: only the two embedders the gallery lacks run, for every entry.
    let second = build(gallery_engine(), &GalleryBuildConfig::new(photos, out.clone())).unwrap();
    assert_eq!((second.added, second.already_present, second.not_extended), (0, 8, 0));
    assert_eq!(second.extended_by_model.get("omz-0095"), Some(&8));
    assert_eq!(second.extended_by_model.get("sface-2021dec"), Some(&8));
    assert!(!second.extended_by_model.contains_key("dlib-resnet-v1"));
    let after = read_table(&out);
    assert_eq!(after.len(), 8);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a["nik"], b["nik"]);
        assert_eq!(a[&dlib_col], b[&dlib_col], "the dlib embedding is kept, not recomputed");
        assert_ne!(b[&embedding_column("omz-0095")], "NULL");
    }
    let run2 = run(engine(), &run_config(&requests, &out, &dir.path().join("run2"))).unwrap();
    assert!(run2.summary["reasons"].get("gallery_model_mismatch").is_none());
    assert_eq!(run2.summary["decisions"]["match"], 8, "{}", run2.summary);
}

/// Gallery rows without the build time: what a lookup can see.
fn gallery_content(dir: &std::path::Path) -> Vec<crate::common::Row> {
    let mut rows: Vec<_> = read_table(dir)
        .into_iter()
        .filter(|r| r.contains_key("photo_sha256"))
        .map(|mut r| {
            r.remove("created_at");
            r
        })
        .collect();
    rows.sort_by(|a, b| a["nik"].cmp(&b["nik"]));
    rows
}

#[test]
fn a_gallery_build_killed_repeatedly_resumes_to_the_same_gallery() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g");
    let parts = |out: &std::path::Path| -> usize {
        std::fs::read_dir(out)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("province="))
                    .map(|e| ikd_pipelines::batch::part_files(&e.path()).unwrap().len())
                    .sum()
            })
            .unwrap_or(0)
    };
    let mut kills = 0;
    for attempt in 0..20 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ikd"))
            .args(["gallery", "build", "--photos"])
            .arg(&f.demo.gallery_csv)
            .arg("--out")
            .arg(&out)
            .args(["--chunk-size", "4", "--flush-rows", "4", "--threads", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let before = parts(&out);
        // Kill -9 once this attempt has written a new run (mid-build), unless it finishes first.
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "attempt {attempt}: {status}");
                break true;
            }
            if parts(&out) > before + attempt % 3 {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        if finished {
            break;
        }
    }
    assert!(kills >= 2, "the build was interrupted ({kills} kills)");
    assert_eq!(
        gallery_content(&out),
        gallery_content(&f.gallery),
        "the resumed gallery holds exactly the entries of an uninterrupted build"
    );
    // Compacting the runs of the interrupted builds changes nothing a reader sees.
    let report = ikd_pipelines::batch::compact::compact(&out, None).unwrap();
    assert!(!report.merged_runs.is_empty());
    assert_eq!(gallery_content(&out), gallery_content(&f.gallery));
}
