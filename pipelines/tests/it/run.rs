use crate::common::{comparable_results, engine, fixture, ikd_run, read_table, run_config, tmp_files, Row};
use ikd_engine::credential::{verify, ActivationSecret, KeySet, VerifyOptions};
use ikd_pipelines::batch::run::run;
use ikd_pipelines::batch::UsageError;
use ikd_pipelines::demo::check_expected;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[test]
fn every_demo_row_gets_its_expected_outcome() {
    let f = fixture();
    let rows = comparable_results(&f.reference);
    assert_eq!(rows.len(), f.demo.request_count, "one result row per input row");
    let input_rows: Vec<u64> = rows.iter().map(|r| r["input_row"].parse().unwrap()).collect();
    assert_eq!(input_rows, (1..=f.demo.request_count as u64).collect::<Vec<_>>());
    let (agree, total, mismatches) = check_expected(&f.reference, &f.demo.expected_csv).unwrap();
    // Request-level bad rows are decided by the pipeline itself: they must be exact.
    let pipeline_kinds = ["invalid_nik", "not_in_gallery", "file_not_found", "duplicate_request"];
    let wrong: Vec<&String> = mismatches
        .iter()
        .filter(|m| pipeline_kinds.iter().any(|k| m.contains(&format!("expected {k},"))))
        .collect();
    assert!(
        wrong.is_empty(),
        "request-level bad rows with another outcome: {wrong:?}"
    );
    // Image-level bad rows depend on the engine's quality gates (one face_cut_off selfie is
    // borderline in the debug build): allow one disagreement over all of them.
    let image_level: Vec<&String> = mismatches
        .iter()
        .filter(|m| !m.contains("expected match,") && !m.contains("expected no_match,"))
        .filter(|m| !pipeline_kinds.iter().any(|k| m.contains(&format!("expected {k},"))))
        .collect();
    assert!(
        image_level.len() <= 1,
        "image-level bad rows with another outcome: {image_level:?}"
    );
    let kinds: BTreeSet<&str> = f.demo.requests.iter().map(|r| r.expected.as_str()).collect();
    for k in [
        "invalid_nik",
        "not_in_gallery",
        "file_not_found",
        "duplicate_request",
        "no_face",
        "multiple_faces",
    ] {
        assert!(kinds.contains(k), "demo data has a {k} row");
    }
    // Face decisions depend on the model; require a high agreement.
    assert!(
        agree * 100 >= total * 90,
        "only {agree}/{total} rows agree: {mismatches:?}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.reference.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["rows"], f.demo.request_count as u64);
    assert_eq!(summary["complete"], true);
    assert!(summary["this_invocation"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    // Review queue: every rejected row, with its reason.
    let review = read_table(&f.reference.join("review"));
    let rejected = rows.iter().filter(|r| r["decision"] == "rejected").count();
    assert_eq!(review.iter().filter(|r| r["decision"] == "rejected").count(), rejected);
    assert!(review.iter().all(|r| r["review_reason"] != "NULL"));
}

#[test]
fn credentials_only_for_matches_codes_only_in_outbox() {
    let f = fixture();
    let rows = comparable_results(&f.reference);
    let keys = KeySet::from_key_dir(&f.keys).unwrap();
    let secret = ActivationSecret::load(&f.keys).unwrap();
    let outbox = read_table(&f.reference.join("outbox"));
    let by_id: BTreeMap<&str, &Row> = outbox.iter().map(|r| (r["request_id"].as_str(), r)).collect();
    let mut matches = 0;
    for r in &rows {
        if r["decision"] == "match" {
            matches += 1;
            let v = verify(
                &r["credential"],
                &keys,
                crate::common::ISSUED_AT + 10,
                &VerifyOptions::default(),
            )
            .unwrap();
            assert_eq!(v.identity.id, r["nik"]);
            let o = by_id[r["request_id"].as_str()];
            assert!(secret.check(
                &r["request_id"],
                &r["nik"],
                &o["activation_code"],
                &r["activation_code_hash"]
            ));
            assert!(
                r.values().all(|v| v != &o["activation_code"]),
                "plaintext code never in results"
            );
        } else {
            assert_eq!(r["credential"], "NULL");
            assert_eq!(r["activation_code_hash"], "NULL");
        }
    }
    assert!(matches > 0);
    assert_eq!(outbox.len(), matches);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&f.reference.join("outbox")), 0o700);
        let shard = f.reference.join("outbox/shard=0");
        assert_eq!(mode(&shard), 0o700);
        for e in std::fs::read_dir(&shard).unwrap().flatten() {
            assert_eq!(mode(&e.path()), 0o600);
        }
    }
}

#[test]
fn killed_run_resumes_exactly_once() {
    let f = fixture();
    let out = f.root.join("killed");
    let mut child = ikd_run(&out, &["--threads", "2"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first_part = out.join("results/shard=0/part-000000.parquet");
    let deadline = Instant::now() + Duration::from_secs(600);
    while !first_part.exists() {
        assert!(Instant::now() < deadline, "no chunk committed in time");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ikd run ended before it could be killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The process that holds the keys cannot dump core (secret hygiene): core size limit 0.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap();
    assert_eq!(core.split_whitespace().nth(4), Some("0"), "{core}");
    assert_eq!(core.split_whitespace().nth(5), Some("0"), "{core}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let committed = std::fs::read_dir(out.join("results/shard=0")).unwrap().count();
    let n_chunks = f.demo.request_count.div_ceil(crate::common::CHUNK);
    assert!(committed < n_chunks, "the kill came before the end");
    let status = ikd_run(&out, &[]).status().unwrap();
    assert!(status.success(), "resume: {status}");
    let resumed = comparable_results(&out);
    let reference = comparable_results(&f.reference);
    assert_eq!(resumed.len(), reference.len(), "no duplicate or missing rows");
    assert_eq!(
        resumed, reference,
        "same table as an uninterrupted run (credentials included)"
    );
    assert!(tmp_files(&out).is_empty(), "no temp files left: {:?}", tmp_files(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["resumed"], true);
    assert!(summary["chunks_committed_before_start"].as_u64().unwrap() >= 1);
    assert_eq!(summary["rows"], f.demo.request_count as u64);
    // A third start has nothing to do and changes nothing.
    assert!(ikd_run(&out, &[]).status().unwrap().success());
    assert_eq!(comparable_results(&out), reference);
}

#[test]
fn three_shard_processes_equal_one_run() {
    let f = fixture();
    let out = f.root.join("sharded");
    let children: Vec<_> = (0..3)
        .map(|i| {
            let mut c = ikd_run(&out, &["--threads", "1"]);
            if i == 2 {
                // The third shard takes its index from the Kubernetes Indexed Job variable.
                c.args(["--shards", "3"]).env("JOB_COMPLETION_INDEX", "2");
            } else {
                c.arg("--shard").arg(format!("{i}/3"));
            }
            c.stderr(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    for i in 0..3 {
        assert!(out.join(format!("results/shard={i}")).is_dir());
    }
    let union = comparable_results(&out);
    assert_eq!(
        union,
        comparable_results(&f.reference),
        "3 shards = 1 run, row for row (same run_id)"
    );
    let ids: BTreeSet<_> = union.iter().map(|r| r["run_id"].clone()).collect();
    assert_eq!(ids.len(), 1);
}

fn write_requests(dir: &std::path::Path, rows: &[[&str; 3]]) -> std::path::PathBuf {
    let p = dir.join("dups.csv");
    let mut text = String::from("request_id,nik,selfie_path\n");
    for r in rows {
        text.push_str(&r.join(","));
        text.push('\n');
    }
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn duplicate_request_ids_are_decided_once_across_shards() {
    let f = fixture();
    let good: Vec<_> = f
        .demo
        .requests
        .iter()
        .filter(|r| r.expected.as_str() == "match")
        .take(3)
        .collect();
    let sel = |i: usize| {
        f.demo
            .requests_csv
            .parent()
            .unwrap()
            .join(&good[i].selfie_path)
            .display()
            .to_string()
    };
    let (s0, s1, s2) = (sel(0), sel(1), sel(2));
    let dir = tempfile::tempdir().unwrap();
    let requests = write_requests(
        dir.path(),
        &[
            ["A", &good[0].nik, &s0],
            ["B", &good[1].nik, &s1],
            ["A", &good[0].nik, &s0],           // same row again
            ["A", &good[2].nik, &s2],           // same id, another NIK (another region/shard)
            ["A", "12345", &s2],                // same id, invalid NIK
            ["C", &good[2].nik, "missing.jpg"], // a fresh id
        ],
    );
    let single = dir.path().join("single");
    let selfie_dir = f.demo.requests_csv.parent().unwrap().to_path_buf();
    let mut cfg = run_config(&requests, &f.gallery, &single);
    cfg.selfie_dir = Some(selfie_dir.clone()); // the requests file is elsewhere
    cfg.chunk_size = 2; // duplicates across chunk boundaries
    run(engine(), &cfg).unwrap();
    let rows = comparable_results(&single);
    let outcome: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["request_id"].clone(), r["reason"].clone()))
        .collect();
    assert_eq!(outcome[0], ("A".into(), "NULL".into()), "first occurrence is processed");
    assert_eq!(outcome[1].1, "NULL");
    for o in &outcome[2..5] {
        assert_eq!(o, &("A".to_string(), "duplicate_request".to_string()));
    }
    assert_eq!(outcome[5], ("C".into(), "file_not_found".into()));
    assert_eq!(rows[2]["selfie_sha256"], "NULL", "a duplicate is never processed");

    let sharded = dir.path().join("sharded");
    for i in 0..3 {
        let mut cfg = run_config(&requests, &f.gallery, &sharded);
        cfg.selfie_dir = Some(selfie_dir.clone());
        cfg.chunk_size = 2;
        cfg.shard = ikd_pipelines::batch::shard::Shard::new(i, 3).unwrap();
        run(engine(), &cfg).unwrap();
    }
    assert_eq!(comparable_results(&sharded), rows);
}

#[test]
fn resume_with_other_arguments_or_input_is_refused() {
    let f = fixture();
    let good = f.demo.requests.iter().find(|r| r.expected.as_str() == "match").unwrap();
    let selfie = f
        .demo
        .requests_csv
        .parent()
        .unwrap()
        .join(&good.selfie_path)
        .display()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let requests = write_requests(dir.path(), &[["X", &good.nik, &selfie], ["Y", "1", "none.jpg"]]);
    let out = dir.path().join("out");
    let selfie_dir = f.demo.requests_csv.parent().unwrap();
    let config = || {
        let mut cfg = run_config(&requests, &f.gallery, &out);
        cfg.selfie_dir = Some(selfie_dir.to_path_buf());
        cfg
    };
    run(engine(), &config()).unwrap();
    let mut other = config();
    other.chunk_size = 7;
    let err = run(engine(), &other).unwrap_err();
    assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
    write_requests(dir.path(), &[["X", &good.nik, &selfie]]);
    let err = run(engine(), &config()).unwrap_err();
    assert!(err.to_string().contains("input_sha256"), "{err:#}");
    // Through the binary: exit code 2.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ikd"))
        .args(["run", "--requests"])
        .arg(&requests)
        .arg("--gallery")
        .arg(&f.gallery)
        .arg("--out")
        .arg(&out)
        .arg("--selfie-dir")
        .arg(selfie_dir)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn parquet_requests_give_the_same_results_as_csv() {
    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let f = fixture();
    let mut reader = csv::Reader::from_path(&f.demo.requests_csv).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let schema = Arc::new(Schema::new(
        headers
            .iter()
            .map(|h| Field::new(h.as_str(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let cols: Vec<ArrayRef> = (0..headers.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.get(i).unwrap_or("")),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    // Next to requests.csv, so the relative selfie paths resolve the same way.
    let path = f.demo.requests_csv.with_file_name("it-requests.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let out = f.root.join("from-parquet");
    let mut cfg = run_config(&path, &f.gallery, &out);
    cfg.keys = Some(f.keys.clone());
    run(engine(), &cfg).unwrap();
    let strip = |rows: Vec<Row>| -> Vec<Row> {
        rows.into_iter()
            .map(|mut r| {
                r.remove("run_id"); // the run id covers the input file's hash
                r
            })
            .collect()
    };
    assert_eq!(strip(comparable_results(&out)), strip(comparable_results(&f.reference)));
}

/// `ikd keys generate --kind aes256` + `ikd run --encrypt-key`: the same decisions as the
/// signed-only reference run; every credential is encrypted (refused without the key, valid
/// with it, for the row's NIK), through the library and `ikd credential verify`.
#[test]
fn encrypted_run_issues_credentials_only_the_key_holder_reads() {
    use ikd_engine::credential::{verify_with_decryption, EncryptionKey};
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let aes_dir = tmp.path().join("aes");
    let ikd = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ikd"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = ikd(&[
        "keys",
        "generate",
        "--kind",
        "aes256",
        "--out",
        aes_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key_file = std::fs::read_dir(&aes_dir).unwrap().flatten().next().unwrap().path();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let key = EncryptionKey::load(&key_file).unwrap();

    let run_dir = tmp.path().join("run");
    let status = ikd_run(&run_dir, &["--encrypt-key", key_file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let reference = comparable_results(&f.reference);
    let rows = comparable_results(&run_dir);
    assert_eq!(rows.len(), reference.len());
    let keys = KeySet::from_key_dir(&f.keys).unwrap();
    let at = crate::common::ISSUED_AT + 10;
    let jwks = tmp.path().join("jwks.json");
    std::fs::write(&jwks, keys.to_jwks()).unwrap();
    let mut checked_cli = false;
    for (r, reference) in rows.iter().zip(&reference) {
        assert_eq!(r["request_id"], reference["request_id"]);
        assert_eq!(r["decision"], reference["decision"]);
        if r["decision"] != "match" {
            assert_eq!(r["credential"], "NULL");
            continue;
        }
        let text = &r["credential"];
        assert_ne!(text, &reference["credential"]);
        let e = verify(text, &keys, at, &VerifyOptions::default()).unwrap_err();
        assert_eq!(e.code(), "encrypted_no_key");
        let v = verify_with_decryption(text, &keys, Some(&key), at, &VerifyOptions::default()).unwrap();
        assert_eq!(v.identity.id, r["nik"]);
        if !checked_cli {
            checked_cli = true;
            let (t, k, a) = (text.as_str(), jwks.to_str().unwrap(), at.to_string());
            let without = ikd(&["credential", "verify", t, "--keyset", k, "--at", &a, "--json"]);
            assert_eq!(without.status.code(), Some(3));
            let shown = String::from_utf8_lossy(&without.stdout);
            assert!(
                shown.contains("encrypted_no_key") && !shown.contains(&r["nik"]),
                "{shown}"
            );
            let kf = key_file.to_str().unwrap();
            let with = ikd(&[
                "credential",
                "verify",
                t,
                "--keyset",
                k,
                "--at",
                &a,
                "--decrypt-key",
                kf,
                "--json",
            ]);
            assert_eq!(with.status.code(), Some(0), "{}", String::from_utf8_lossy(&with.stderr));
            assert!(String::from_utf8_lossy(&with.stdout).contains(&r["nik"]));
        }
    }
    assert!(checked_cli, "the demo has matches");

    // Revocation: the results name each credential's id; revoking one refuses it (and only
    // it) through a published status list; an expired list is refused.
    let matches: Vec<&Row> = rows.iter().filter(|r| r["decision"] == "match").collect();
    assert!(matches.len() >= 2);
    let ids: std::collections::BTreeSet<&str> = matches.iter().map(|r| r["credential_id"].as_str()).collect();
    assert_eq!(ids.len(), matches.len(), "one id per credential");
    let (gone, kept) = (matches[0], matches[1]);
    let list = tmp.path().join("revoked.jsonl");
    let status = tmp.path().join("status.cbor");
    let (l, st, k) = (list.to_str().unwrap(), status.to_str().unwrap(), jwks.to_str().unwrap());
    let kf = key_file.to_str().unwrap();
    let out = ikd(&[
        "credential",
        "revoke",
        "--list",
        l,
        "--id",
        &gone["credential_id"],
        "--reason",
        "lost phone",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let issued = crate::common::ISSUED_AT.to_string();
    let keys_dir = f.keys.to_str().unwrap();
    let out = ikd(&[
        "credential",
        "status-list",
        "publish",
        "--keys",
        keys_dir,
        "--list",
        l,
        "--at",
        &issued,
        "--valid-hours",
        "24",
        "--out",
        st,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = |r: &Row, at: u64| {
        let a = at.to_string();
        let o = ikd(&[
            "credential",
            "verify",
            &r["credential"],
            "--keyset",
            k,
            "--at",
            &a,
            "--decrypt-key",
            kf,
            "--status-list",
            st,
            "--json",
        ]);
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, shown) = check(gone, at);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("\"revoked\""), "{shown}");
    let (code, shown) = check(kept, at);
    assert_eq!(code, Some(0), "{shown}");
    let (code, shown) = check(kept, crate::common::ISSUED_AT + 25 * 3600);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("status_list_expired"), "{shown}");
}

/// `ikd run --photo-budget`: every credential carries the holder's portrait (from the gallery
/// entry's KTP-el photo) within the budget, and `ikd credential verify --face` compares a live
/// photo with it: the holder's own selfie matches (exit 0), another holder's does not (exit 4),
/// a photo without a face is undecided (exit 5).
#[test]
fn photo_run_carries_portraits_that_verify_face_checks() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    // The first 40 demo requests (next to the demo's requests file, so the selfie paths hold):
    // enough matches, and a third of the face work of the whole demo.
    let base = f.demo.requests_csv.parent().unwrap();
    let requests = base.join("requests-photo-test.csv");
    let mut selfies = BTreeMap::new();
    {
        let mut reader = csv::Reader::from_path(&f.demo.requests_csv).unwrap();
        let mut writer = csv::Writer::from_path(&requests).unwrap();
        let headers = reader.headers().unwrap().clone();
        writer.write_record(&headers).unwrap();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (id_col, path_col) = (col("request_id"), col("selfie_path"));
        for record in reader.records().take(40) {
            let record = record.unwrap();
            selfies.insert(record[id_col].to_string(), base.join(&record[path_col]));
            writer.write_record(&record).unwrap();
        }
    }
    let run_dir = tmp.path().join("run");
    let status = crate::common::ikd_run_on(&requests, &run_dir, &["--photo-budget", "1000"])
        .status()
        .unwrap();
    assert!(status.success());
    let rows = comparable_results(&run_dir);
    assert_eq!(rows.len(), 40, "one row per input row");
    let reference: Vec<Row> = comparable_results(&f.reference).into_iter().take(40).collect();

    let keys = KeySet::from_key_dir(&f.keys).unwrap();
    let at = crate::common::ISSUED_AT + 10;
    let jwks = tmp.path().join("jwks.json");
    std::fs::write(&jwks, keys.to_jwks()).unwrap();
    let mut matches = Vec::new();
    for (r, reference) in rows.iter().zip(&reference) {
        assert_eq!(r["request_id"], reference["request_id"]);
        assert_eq!(r["decision"], reference["decision"], "the photo changes no decision");
        if r["decision"] == "match" {
            let v = verify(&r["credential"], &keys, at, &VerifyOptions::default()).unwrap();
            let photo = v.identity.photo.expect("every credential carries the portrait");
            assert!(photo.bytes.len() <= 1000, "{} bytes", photo.bytes.len());
            assert!(photo.bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
            matches.push(r);
        }
    }
    assert!(matches.len() >= 7, "the demo has matches");

    let verify_face = |credential: &str, live: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ikd"))
            .args(["credential", "verify", credential, "--keyset"])
            .arg(&jwks)
            .args(["--at", &at.to_string(), "--json", "--face"])
            .arg(live)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), json)
    };
    // The holder's own selfie against their credential, for several holders; each against
    // the next holder's credential. Distinct NIKs are distinct people in the demo.
    let (mut own, mut others) = (0, 0);
    for pair in matches.windows(2).take(6) {
        let (a, b) = (pair[0], pair[1]);
        assert_ne!(a["nik"], b["nik"]);
        let (code, json) = verify_face(&a["credential"], &selfies[&a["request_id"]]);
        assert_eq!(json["face_check"]["verdict"]["decision"], "match", "{json}");
        assert_eq!(code, Some(0));
        assert!(json["face_check"]["caveat"].as_str().unwrap().contains("small photo"));
        own += 1;
        let (code, json) = verify_face(&b["credential"], &selfies[&a["request_id"]]);
        assert_eq!(json["face_check"]["verdict"]["decision"], "no_match", "{json}");
        assert_eq!(code, Some(4));
        others += 1;
    }
    assert_eq!((own, others), (6, 6));
    // A live photo without a face: the credential is valid, the check undecided.
    let garbage = tmp.path().join("noface.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([120, 120, 120]))
        .save(&garbage)
        .unwrap();
    let (code, json) = verify_face(&matches[0]["credential"], &garbage);
    assert_eq!(code, Some(5), "{json}");
    assert_eq!(json["face_check"]["verdict"]["decision"], "rejected");
}
