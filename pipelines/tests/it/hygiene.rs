//! Secret hygiene of `ikd run` as a process: what it writes is private to its owner and group
//! whatever the caller's umask, and no secret (private key, activation secret, plaintext code)
//! reaches a results, review or summary file or the log. (Zeroising and core dumps:
//! `ikd_credential::secret` unit tests and `killed_run_resumes_exactly_once`.)

use crate::common::{fixture, read_table, CHUNK, ISSUED_AT};
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(e.path());
        if e.path().is_dir() {
            walk(&e.path(), out);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_run_under_umask_000_writes_nothing_others_can_read_and_no_secret_outside_the_outbox() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("out");
    // The first 24 demo requests (matches among them), with a shell umask that would make
    // everything world-readable and writable.
    let requests = f.demo.requests_csv.with_file_name("requests-hygiene-test.csv");
    let text = std::fs::read_to_string(&f.demo.requests_csv).unwrap();
    std::fs::write(&requests, text.lines().take(25).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"umask 000 && exec "$@""#)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_ikd"))
        .args(["run", "--requests"])
        .arg(&requests)
        .arg("--gallery")
        .arg(&f.gallery)
        .arg("--out")
        .arg(&out)
        .arg("--keys")
        .arg(&f.keys)
        .args([
            "--chunk-size",
            &CHUNK.to_string(),
            "--issued-at",
            &ISSUED_AT.to_string(),
        ])
        .arg("--no-progress-bar")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let mut paths = Vec::new();
    walk(&out, &mut paths);
    assert!(paths.len() > 5);
    for p in &paths {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o007, 0, "{} is {mode:o}: others have access", p.display());
        assert_eq!(mode & 0o020, 0, "{} is {mode:o}: the group may write", p.display());
    }

    // Secrets: the private key (PKCS#8 bytes, and their base64url), the activation secret, and
    // each plaintext activation code appear nowhere but the outbox.
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for e in std::fs::read_dir(&f.keys).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".p8") || name == "activation.secret" {
            let bytes = std::fs::read(e.path()).unwrap();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            secrets.push((format!("{name} (raw)"), bytes.clone()));
            secrets.push((format!("{name} (hex)"), hex.into_bytes()));
        }
    }
    assert!(secrets.len() >= 4, "a private key and the activation secret");
    let outbox = read_table(&out.join("outbox"));
    assert!(!outbox.is_empty(), "some matches got codes");
    for r in &outbox {
        secrets.push((
            format!("code of {}", r["request_id"]),
            r["activation_code"].clone().into_bytes(),
        ));
    }
    let mut files: Vec<(String, Vec<u8>)> = paths
        .iter()
        .filter(|p| p.is_file() && !p.starts_with(out.join("outbox")))
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    files.push(("stderr".into(), output.stderr.clone()));
    files.push(("stdout".into(), output.stdout.clone()));
    for (file, bytes) in &files {
        for (what, secret) in &secrets {
            assert!(!contains(bytes, secret), "{what} found in {file}");
        }
    }
    // NIKs are masked in the log.
    let log = String::from_utf8_lossy(&output.stderr);
    for line in text.lines().skip(1).take(24) {
        let nik = line.split(',').nth(1).unwrap();
        assert!(nik.len() < 16 || !log.contains(nik), "NIK {nik} in the log");
    }
}
