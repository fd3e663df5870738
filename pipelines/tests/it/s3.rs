//! `ikd run` on object storage, against a real S3-protocol server: moto's server mode
//! (`moto_server`, PyPI `moto[server]==5.2.1`, installed by .ci/run), one per test on a free
//! port. moto keeps objects in memory, implements conditional puts (`If-None-Match: *`, what
//! exactly-once rests on), ListObjectsV2, ranged GETs and path-style addressing. It checks no
//! SigV4 signature, so a wrong secret cannot be shown refused here (see the README).
//!
//! Skipped, with a message, only when `moto_server` is not installed; under CI=true a missing
//! server fails the test instead.

use crate::common::{comparable_results, fixture, read_table, Row, CHUNK, ISSUED_AT};
use ikd_pipelines::batch::storage::install_tls_provider;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The secret the tests give the runs: it must appear in no output.
const SECRET: &str = "ikdTestSecret/Do-Not-Print-0123456789abcdef";
const KEY_ID: &str = "AKIAIKDTESTKEY000001";

fn moto_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let p = Path::new(&home).join(".pyenv/shims/moto_server");
            p.is_file().then_some(p)
        })
}

/// A moto server of this test's own, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Option<Moto> {
        let Some(bin) = moto_binary() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("moto_server is not installed: .ci/run installs moto[server]==5.2.1");
            }
            eprintln!("SKIPPED: moto_server not found (python3 -m pip install 'moto[server]==5.2.1')");
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while moto.http("GET", "/").is_err() {
            assert!(Instant::now() < deadline, "moto_server did not answer within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One unsigned HTTP/1.1 request (moto takes them): the status line.
    fn http(&self, method: &str, path: &str) -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply.lines().next().unwrap_or_default().to_string())
    }

    fn create_bucket(&self, name: &str) {
        let status = self.http("PUT", &format!("/{name}")).unwrap();
        assert!(status.contains(" 200"), "creating bucket {name}: {status}");
    }

    fn signal(&self, sig: &str) {
        assert!(Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    /// A client of the test's own (not the one under test) for one bucket.
    fn client(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        install_tls_provider();
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_endpoint(self.endpoint())
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id(KEY_ID)
                .with_secret_access_key(SECRET)
                .build()
                .unwrap(),
        )
    }

    /// The environment a user sets for `ikd` (the standard AWS variables).
    fn env(&self, c: &mut Command) {
        for v in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT",
            "AWS_ENDPOINT_URL_S3",
        ] {
            c.env_remove(v);
        }
        c.env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Uploads every file below `dir` to `prefix/` (relative paths kept).
fn upload_dir(store: &Arc<dyn ObjectStore>, dir: &Path, prefix: &str) {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    rt().block_on(async {
        for f in files {
            let rel = f.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&f).unwrap();
            store
                .put(&ObjectPath::from(format!("{prefix}/{rel}")), PutPayload::from(bytes))
                .await
                .unwrap();
        }
    });
}

/// Every object below `prefix/`, downloaded into `dest` (relative keys kept).
fn download_prefix(store: &Arc<dyn ObjectStore>, prefix: &str, dest: &Path) -> Vec<String> {
    use futures::TryStreamExt;
    rt().block_on(async {
        let metas: Vec<_> = store.list(Some(&ObjectPath::from(prefix))).try_collect().await.unwrap();
        let mut keys = Vec::new();
        for m in metas {
            let key = m.location.to_string();
            let rel = key.strip_prefix(&format!("{prefix}/")).unwrap().to_string();
            let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
            let p = dest.join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &bytes).unwrap();
            keys.push(rel);
        }
        keys.sort();
        keys
    })
}

fn object_names(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    rt().block_on(async {
        let metas: Vec<_> = store.list(Some(&ObjectPath::from(prefix))).try_collect().await.unwrap();
        metas.into_iter().map(|m| m.location.to_string()).collect()
    })
}

/// The demo data set and its built gallery, in bucket `ikd` under `demo/` and `gallery/`.
fn upload_fixture(moto: &Moto) -> Arc<dyn ObjectStore> {
    let f = fixture();
    moto.create_bucket("ikd");
    let store = moto.client("ikd");
    upload_dir(&store, f.demo.requests_csv.parent().unwrap(), "demo");
    upload_dir(&store, &f.gallery, "gallery");
    store
}

fn requests_url() -> String {
    let f = fixture();
    format!(
        "s3://ikd/demo/{}",
        f.demo.requests_csv.file_name().unwrap().to_string_lossy()
    )
}

/// `ikd run` on the bucket, with the reference run's arguments.
fn ikd_run_s3(moto: &Moto, out: &str, extra: &[&str]) -> Command {
    ikd_run_s3_on(moto, &requests_url(), out, extra)
}

fn ikd_run_s3_on(moto: &Moto, requests: &str, out: &str, extra: &[&str]) -> Command {
    let f = fixture();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ikd"));
    moto.env(&mut c);
    c.arg("run")
        .args(["--requests", requests])
        .args(["--gallery", "s3://ikd/gallery"])
        .args(["--out", out])
        .arg("--keys")
        .arg(&f.keys)
        .args(["--chunk-size", &CHUNK.to_string()])
        .args(["--issued-at", &ISSUED_AT.to_string()])
        .arg("--no-progress-bar")
        .args(extra);
    c
}

/// Reference rows and S3 rows compared: every column but the wording of `detail` for a missing
/// selfie (a file's error message vs an object's).
fn normalise(mut rows: Vec<Row>) -> Vec<Row> {
    for r in &mut rows {
        if r.get("reason").is_some_and(|x| x == "file_not_found") {
            r.insert("detail".into(), "(missing)".into());
        }
    }
    rows
}

#[test]
fn s3_run_equals_the_local_run_through_a_kill_and_a_paused_server() {
    let Some(moto) = Moto::start() else { return };
    let f = fixture();
    let store = upload_fixture(&moto);
    moto.create_bucket("ikd-outbox");
    let outbox_store = moto.client("ikd-outbox");
    let out = "s3://ikd/runs/night-1";
    let outbox = ["--outbox", "s3://ikd-outbox/night-1"];

    // 1. Killed (SIGKILL) once its first chunk is committed.
    let mut child = ikd_run_s3(&moto, out, &[&outbox[..], &["--threads", "2"]].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while object_names(&store, "runs/night-1/results").is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("ikd run ended before it could be killed: {status}\n{err}");
        }
        assert!(Instant::now() < deadline, "no chunk committed in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let committed = object_names(&store, "runs/night-1/results").len();
    assert!(committed >= 1);

    // 2. Resumed; the server is frozen (SIGSTOP) for 4 s once one more chunk is committed: the
    // requests in flight wait (or time out and are retried) and the run goes on.
    let resumed = ikd_run_s3(&moto, out, &[&outbox[..], &["--threads", "2"]].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut paused = false;
    while !paused && Instant::now() < deadline {
        if object_names(&store, "runs/night-1/results").len() > committed {
            moto.signal("-STOP");
            std::thread::sleep(Duration::from_secs(4));
            moto.signal("-CONT");
            paused = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = resumed.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "resumed run failed: {stdout}\n{stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret leaked into the output"
    );

    // Every input row exactly once, the same rows (credentials included) as the local run.
    let local = tempfile::tempdir().unwrap();
    download_prefix(&store, "runs/night-1", local.path());
    let rows = comparable_results(local.path());
    let ids: BTreeSet<&str> = rows.iter().map(|r| r["input_row"].as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "an input row twice");
    assert_eq!(rows.len(), f.demo.request_count);
    assert_eq!(normalise(rows), normalise(comparable_results(&f.reference)));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["rows"], f.demo.request_count as u64);
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["resumed"], true);
    assert!(local.path().join("run.json").is_file());
    let report = std::fs::read_to_string(local.path().join("report.html")).expect("OUT/report.html on the bucket");
    assert!(report.contains("<html") && report.contains(&summary["run_id"].as_str().unwrap().to_string()));
    // The outbox only under --outbox, none below --out; the same rows as the local run's.
    assert!(!local.path().join("outbox").exists(), "an outbox below --out");
    let ob = tempfile::tempdir().unwrap();
    download_prefix(&outbox_store, "night-1", ob.path());
    let sort = |mut v: Vec<Row>| {
        v.sort_by(|a, b| a["request_id"].cmp(&b["request_id"]));
        v
    };
    assert_eq!(
        sort(read_table(ob.path())),
        sort(read_table(&f.reference.join("outbox")))
    );
    let review = read_table(&local.path().join("review"));
    assert_eq!(review.len(), read_table(&f.reference.join("review")).len());

    duckdb_reads_back(&moto, "s3://ikd/runs/night-1/results/*/*.parquet", f.demo.request_count);

    // 3. A third start finds everything committed and changes nothing.
    let before = object_names(&store, "runs/night-1/results");
    let again = ikd_run_s3(&moto, out, &outbox).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(object_names(&store, "runs/night-1/results"), before);
}

#[test]
fn two_processes_given_one_shard_index_commit_each_chunk_once() {
    let Some(moto) = Moto::start() else { return };
    let f = fixture();
    let store = upload_fixture(&moto);
    let out = "s3://ikd/runs/twice";
    // Shard 1 of 4 (a quarter of the rows), started twice at once, without keys (no outbox).
    let run = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ikd"));
        moto.env(&mut c);
        c.arg("run")
            .args([
                "--requests",
                &requests_url(),
                "--gallery",
                "s3://ikd/gallery",
                "--out",
                out,
            ])
            .args(["--chunk-size", &CHUNK.to_string(), "--shard", "1/4", "--threads", "1"])
            .arg("--no-progress-bar")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (run(), run());
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let local = tempfile::tempdir().unwrap();
    download_prefix(&store, "runs/twice", local.path());
    let rows = read_table(&local.path().join("results"));
    let ids: Vec<&str> = rows.iter().map(|r| r["input_row"].as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a row committed twice");
    let reference: BTreeSet<String> = comparable_results(&f.reference)
        .iter()
        .map(|r| r["input_row"].clone())
        .collect();
    assert!(!rows.is_empty() && rows.len() < f.demo.request_count);
    assert!(unique.iter().all(|i| reference.contains(*i)));
}

/// Where .ci/run installs DuckDB and its httpfs extension from PyPI (`duckdb==1.4.4`,
/// `duckdb-ext-httpfs`: extensions.duckdb.org, where `INSTALL httpfs` downloads from, is not
/// reachable from CI).
fn duckdb_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("IKD_DUCKDB_PYTHONPATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/duckdb-1.4.4"));
    dir.join("duckdb_ext/extensions").is_dir().then_some(dir)
}

/// DuckDB, as a user would, counts the results in the bucket over httpfs.
fn duckdb_reads_back(moto: &Moto, glob: &str, rows: usize) {
    let Some(dir) = duckdb_dir() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("DuckDB with httpfs is not installed: .ci/run installs it into target/duckdb-1.4.4");
        }
        eprintln!("SKIPPED the DuckDB read-back: no target/duckdb-1.4.4 (see .ci/run)");
        return;
    };
    let script = format!(
        r#"
import duckdb
con = duckdb.connect()
con.execute("SET extension_directory = '{ext}'")
con.execute("SET autoinstall_known_extensions = false")
con.execute("LOAD httpfs")
con.execute("CREATE SECRET s (TYPE s3, KEY_ID '{KEY_ID}', SECRET '{SECRET}', REGION 'us-east-1', ENDPOINT '127.0.0.1:{port}', URL_STYLE 'path', USE_SSL false)")
n, distinct, shards = con.execute("SELECT count(*), count(DISTINCT input_row), count(DISTINCT shard) FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()
print(n, distinct, shards)
"#,
        ext = dir.join("duckdb_ext/extensions").display(),
        port = moto.port,
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", &dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "DuckDB: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.trim(), format!("{rows} {rows} 1"), "DuckDB's count of the results");
}

/// Runs `ikd run` and returns (exit code, stderr); the secret must appear nowhere.
fn fails(mut c: Command) -> (i32, String) {
    let o = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "expected a failure: {text}");
    assert!(!text.contains(SECRET), "the secret leaked: {text}");
    (o.status.code().unwrap_or(-1), text)
}

#[test]
fn bad_buckets_objects_and_endpoints_get_clear_errors() {
    let Some(moto) = Moto::start() else { return };
    let f = fixture();
    let store = upload_fixture(&moto);

    // The output bucket does not exist (nothing may be written): refused, no object anywhere.
    let (_, err) = fails(ikd_run_s3(
        &moto,
        "s3://no-such-bucket/out",
        &["--outbox", "s3://no-such-bucket-2/o"],
    ));
    assert!(
        err.contains("no-such-bucket") && err.contains("does not exist"),
        "{err}"
    );

    // The requests object is missing: a usage error naming it.
    let (code, err) = fails(ikd_run_s3_on(
        &moto,
        "s3://ikd/demo/nothing.csv",
        "s3://ikd/runs/missing",
        &["--outbox", "s3://ikd-outbox/m"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s3://ikd/demo/nothing.csv does not exist"), "{err}");

    // --keys on an s3:// --out without --outbox: refused before anything is read.
    let (code, err) = fails(ikd_run_s3(&moto, "s3://ikd/runs/no-outbox", &[]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--outbox"), "{err}");
    // --outbox below --out: refused.
    let (code, err) = fails(ikd_run_s3(
        &moto,
        "s3://ikd/runs/x",
        &["--outbox", "s3://ikd/runs/x/outbox"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must not lie inside"), "{err}");

    // Plain HTTP without AWS_ALLOW_HTTP=true: refused, saying how to allow it.
    let mut c = ikd_run_s3(&moto, "s3://ikd/runs/http", &["--outbox", "s3://ikd-outbox/h"]);
    c.env_remove("AWS_ALLOW_HTTP");
    let (_, err) = fails(c);
    assert!(err.contains("AWS_ALLOW_HTTP=true"), "{err}");

    // An endpoint nobody listens on: fails after its retries, naming the object.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = ikd_run_s3(&moto, "s3://ikd/runs/unreachable", &["--outbox", "s3://ikd-outbox/u"]);
    c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("IKD_S3_RETRIES", "2")
        .env("IKD_S3_RETRY_SECONDS", "5");
    let started = Instant::now();
    let (_, err) = fails(c);
    assert!(err.contains(&requests_url()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));

    // A status list published to the bucket is the file a local publish writes.
    let dir = tempfile::tempdir().unwrap();
    let publish = |out: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ikd"));
        moto.env(&mut c);
        let o = c
            .args([
                "credential",
                "status-list",
                "publish",
                "--at",
                "1767225600",
                "--out",
                out,
            ])
            .arg("--keys")
            .arg(&f.keys)
            .arg("--list")
            .arg(dir.path().join("revoked.jsonl"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let local_list = dir.path().join("status.bin");
    publish(local_list.to_str().unwrap());
    publish("s3://ikd/public/status.bin");
    let remote = rt().block_on(async {
        store
            .get(&ObjectPath::from("public/status.bin"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    assert_eq!(remote.as_ref(), std::fs::read(&local_list).unwrap().as_slice());

    // A corrupt gallery part: refused with the part's name; no result committed.
    let part = object_names(&store, "gallery")
        .into_iter()
        .find(|k| k.ends_with(".parquet") && k.contains("province="))
        .unwrap();
    rt().block_on(async {
        store
            .put(
                &ObjectPath::from(part.as_str()),
                PutPayload::from(b"PAR1 not a parquet file PAR1".to_vec()),
            )
            .await
            .unwrap();
    });
    moto.create_bucket("ikd-outbox");
    let (_, err) = fails(ikd_run_s3(
        &moto,
        "s3://ikd/runs/corrupt",
        &["--outbox", "s3://ikd-outbox/c"],
    ));
    assert!(err.contains(&format!("s3://ikd/{part}")), "{err}");
    assert!(object_names(&store, "runs/corrupt/results").is_empty());
    let _ = f;
}

#[test]
fn selfie_keys_stay_inside_their_prefix_and_within_the_intake_limit() {
    let Some(moto) = Moto::start() else { return };
    let f = fixture();
    let store = upload_fixture(&moto);
    let good: Vec<_> = f
        .demo
        .requests
        .iter()
        .filter(|r| r.expected.as_str() == "match")
        .take(5)
        .collect();
    let mut csv = String::from("request_id,nik,selfie_path\n");
    for (id, r, path) in [
        ("R1", good[0], "big.jpg".to_string()),
        ("R2", good[1], "../outside.jpg".to_string()),
        ("R3", good[2], "s3://ikd/outside.jpg".to_string()),
        ("R4", good[3], "selfies/none.jpg".to_string()),
        ("R5", good[4], good[4].selfie_path.clone()),
    ] {
        csv.push_str(&format!("{id},{},{path}\n", r.nik));
    }
    rt().block_on(async {
        for (key, bytes) in [
            ("hostile/requests.csv", csv.into_bytes()),
            // Over the intake limit (25 MiB): refused from the reply's headers.
            ("demo/big.jpg", vec![0u8; 25 * 1024 * 1024 + 1]),
            (
                "outside.jpg",
                std::fs::read(f.demo.requests_csv.parent().unwrap().join(&good[0].selfie_path)).unwrap(),
            ),
        ] {
            store
                .put(&ObjectPath::from(key), PutPayload::from(bytes))
                .await
                .unwrap();
        }
    });
    let mut c = Command::new(env!("CARGO_BIN_EXE_ikd"));
    moto.env(&mut c);
    let o = c
        .arg("run")
        .args([
            "--requests",
            "s3://ikd/hostile/requests.csv",
            "--selfie-dir",
            "s3://ikd/demo",
        ])
        .args([
            "--gallery",
            "s3://ikd/gallery",
            "--out",
            "s3://ikd/runs/hostile",
            "--no-progress-bar",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let local = tempfile::tempdir().unwrap();
    download_prefix(&store, "runs/hostile", local.path());
    let mut rows = read_table(&local.path().join("results"));
    rows.sort_by(|a, b| a["request_id"].cmp(&b["request_id"]));
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["decision"].as_str(), r["reason"].as_str()))
        .collect();
    // The good selfie, read from the prefix, is decided as in the local reference run.
    let reference = comparable_results(&f.reference);
    let same = reference
        .iter()
        .find(|r| r["request_id"] == good[4].request_id)
        .unwrap();
    assert_eq!(
        got,
        [
            ("rejected", "image_too_large"),
            ("rejected", "path_outside_base"),
            ("rejected", "path_outside_base"),
            ("rejected", "file_not_found"),
            (same["decision"].as_str(), same["reason"].as_str()),
        ],
        "{rows:?}"
    );
}
