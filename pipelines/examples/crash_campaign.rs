//! The crash-and-fault campaign of `ikd run` (with credentials and the outbox) and `ikd gallery
//! build`: kill -9 at random instants and in the middle of file writes, then resume, and compare
//! with an uninterrupted run; a full disk, a read-only output directory and too few file
//! descriptors. Every check that fails stops the campaign with a non-zero exit. Run it with
//! `scripts/crash-campaign` (full: 30 + 10 kills over 3,000 rows) or see `--help`.

use anyhow::{bail, ensure, Context};
use arrow::util::display::array_value_to_string;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    ikd: PathBuf,
    work: PathBuf,
    rows: usize,
    run_kills: usize,
    gallery_kills: usize,
    faults: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        ikd: PathBuf::from("target/release/ikd"),
        work: std::env::temp_dir().join("ikd-crash-campaign"),
        rows: 3000,
        run_kills: 30,
        gallery_kills: 10,
        faults: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().context("a value after the flag");
        match flag.as_str() {
            "--ikd" => a.ikd = value()?.into(),
            "--work" => a.work = value()?.into(),
            "--rows" => a.rows = value()?.parse()?,
            "--run-kills" => a.run_kills = value()?.parse()?,
            "--gallery-kills" => a.gallery_kills = value()?.parse()?,
            "--no-faults" => a.faults = false,
            _ => bail!(
                "usage: crash_campaign [--ikd PATH] [--work DIR] [--rows N] [--run-kills N] [--gallery-kills N] [--no-faults]"
            ),
        }
    }
    Ok(a)
}

/// A small deterministic generator for kill instants (xorshift; seeded, so a campaign repeats).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

type Row = BTreeMap<String, String>;
const TIMINGS: [&str; 4] = ["decode_ms", "detect_ms", "align_ms", "embed_ms"];

/// Every row of the visible (non-temporary) Parquet files under `dir`; each must be complete.
fn read_table(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    let mut rows = Vec::new();
    for f in files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f)?)
            .with_context(|| format!("{} is visible but not a complete Parquet file", f.display()))?
            .build()?;
        for batch in reader {
            let batch = batch?;
            for r in 0..batch.num_rows() {
                let mut row = Row::new();
                for (i, field) in batch.schema().fields().iter().enumerate() {
                    if TIMINGS.contains(&field.name().as_str()) {
                        continue;
                    }
                    let col = batch.column(i);
                    let v = if arrow::array::Array::is_null(col, r) {
                        "NULL".into()
                    } else {
                        array_value_to_string(col, r)?
                    };
                    row.insert(field.name().clone(), v);
                }
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            collect(&p, out);
        } else if name.ends_with(".parquet") && !name.starts_with('.') {
            out.push(p);
        }
    }
}

/// A run's tables as a reader sees them, sorted by input row; no input row twice.
fn run_tables(out: &Path) -> anyhow::Result<[Vec<Row>; 3]> {
    let mut tables = [Vec::new(), Vec::new(), Vec::new()];
    for (t, sub) in tables.iter_mut().zip(["results", "review", "outbox"]) {
        *t = read_table(&out.join(sub))?;
        // The outbox has no input_row: its rows are keyed by request_id (unique per run).
        let key = |r: &Row| {
            (
                r.get("input_row").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
                r.get("request_id").cloned().unwrap_or_default(),
            )
        };
        t.sort_by_key(key);
        let mut seen = std::collections::HashSet::new();
        for r in t.iter() {
            ensure!(seen.insert(key(r)), "{sub}: row {:?} visible twice", key(r));
        }
    }
    Ok(tables)
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if e.file_name().to_string_lossy().ends_with(".tmp") {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out
}

struct Setup {
    requests: PathBuf,
    photos: PathBuf,
    gallery: PathBuf,
    keys: PathBuf,
}

fn ikd_run(a: &Args, s: &Setup, out: &Path) -> Command {
    let mut c = Command::new(&a.ikd);
    c.arg("run")
        .arg("--requests")
        .arg(&s.requests)
        .arg("--gallery")
        .arg(&s.gallery)
        .arg("--out")
        .arg(out)
        .arg("--keys")
        .arg(&s.keys)
        .args(["--chunk-size", "64", "--issued-at", "1767225600", "--no-progress-bar"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn ikd_gallery(a: &Args, s: &Setup, out: &Path) -> Command {
    let mut c = Command::new(&a.ikd);
    c.args(["gallery", "build", "--photos"])
        .arg(&s.photos)
        .arg("--out")
        .arg(out)
        .args(["--chunk-size", "8", "--flush-rows", "8"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Starts `cmd` again and again, killing it with SIGKILL `kills` times: at random instants
/// (even attempts) or as soon as a temporary file is being written (odd ones: mid-write), then
/// lets it finish. After each kill, what a reader sees must be whole: `check`.
fn kill_campaign(
    name: &str,
    kills: usize,
    rng: &mut Rng,
    expected_secs: f64,
    mut start: impl FnMut() -> Command,
    watch: &Path,
    mut check: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(usize, usize)> {
    let (mut done, mut mid_write) = (0, 0);
    while done < kills {
        let mut child = start().stderr(Stdio::null()).spawn()?;
        let at_write = done % 2 == 1;
        let delay = Duration::from_millis(300 + rng.below((expected_secs * 1000.0 / kills as f64 * 2.0) as u64));
        let t0 = Instant::now();
        let killed = loop {
            if let Some(status) = child.try_wait()? {
                ensure!(status.success(), "{name}: an attempt failed: {status}");
                break false;
            }
            let now_writing = at_write && !temp_files(watch).is_empty();
            if now_writing || (!at_write && t0.elapsed() >= delay) || t0.elapsed() > delay * 20 {
                child.kill()?; // SIGKILL
                child.wait()?;
                if now_writing {
                    mid_write += 1;
                }
                break true;
            }
            std::thread::sleep(Duration::from_millis(if at_write { 1 } else { 10 }));
        };
        if !killed {
            eprintln!(
                "{name}: finished before kill {} of {kills}; starting over is not needed",
                done + 1
            );
            break;
        }
        done += 1;
        check().with_context(|| format!("{name}: after kill {done}"))?;
    }
    let status = start().stderr(Stdio::null()).status()?;
    ensure!(status.success(), "{name}: the final resume failed: {status}");
    Ok((done, mid_write))
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    ensure!(
        a.ikd.is_file(),
        "{} not found: build it with cargo build --release -p ikd-pipelines",
        a.ikd.display()
    );
    let _ = std::fs::remove_dir_all(&a.work);
    std::fs::create_dir_all(&a.work)?;
    let started = Instant::now();
    let mut report = Vec::<String>::new();

    // The demo data set, its requests repeated to `rows` rows with new ids, keys and a gallery.
    let demo = ikd_datasets::generate_demo(&ikd_datasets::DemoConfig::default(), &a.work.join("demo"))?;
    let requests = demo.requests_csv.with_file_name(format!("requests-{}.csv", a.rows));
    ikd_datasets::expand_requests(&demo.requests_csv, a.rows, &requests)?;
    let keys = a.work.join("keys");
    ikd_engine::credential::generate_key_files(ikd_engine::credential::Algorithm::EdDsa, &keys)?;
    let mut s = Setup {
        requests,
        photos: demo.gallery_csv.clone(),
        gallery: a.work.join("gallery-ref"),
        keys,
    };

    // ikd gallery build: uninterrupted, then killed `gallery_kills` times and resumed.
    let t = Instant::now();
    ensure!(
        ikd_gallery(&a, &s, &s.gallery).status()?.success(),
        "reference gallery build"
    );
    let gallery_secs = t.elapsed().as_secs_f64();
    let reference_gallery = read_table(&s.gallery)?;
    let killed_gallery = a.work.join("gallery-killed");
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (g_kills, g_mid) = kill_campaign(
        "gallery build",
        a.gallery_kills,
        &mut rng,
        gallery_secs,
        || ikd_gallery(&a, &s, &killed_gallery),
        &killed_gallery,
        || read_table(&killed_gallery).map(|_| ()),
    )?;
    let strip = |rows: Vec<Row>| -> Vec<Row> {
        let mut rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| r.contains_key("photo_sha256"))
            .map(|mut r| {
                r.remove("created_at");
                r
            })
            .collect();
        rows.sort_by(|x, y| x.get("nik").cmp(&y.get("nik")));
        rows
    };
    ensure!(
        strip(read_table(&killed_gallery)?) == strip(reference_gallery.clone()),
        "gallery build: the resumed gallery differs from the uninterrupted one"
    );
    report.push(format!(
        "gallery build: {g_kills} kills ({g_mid} during a write), resumed gallery = uninterrupted ({} entries)",
        strip(reference_gallery).len()
    ));

    // ikd run: uninterrupted, then killed `run_kills` times and resumed.
    let reference = a.work.join("run-ref");
    let t = Instant::now();
    let out = ikd_run(&a, &s, &reference).output()?;
    ensure!(
        out.status.success(),
        "reference run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_secs = t.elapsed().as_secs_f64();
    let ref_tables = run_tables(&reference)?;
    ensure!(
        ref_tables[0].len() == a.rows,
        "reference run: {} result rows for {} requests",
        ref_tables[0].len(),
        a.rows
    );
    let killed = a.work.join("run-killed");
    let (r_kills, r_mid) = kill_campaign(
        "run",
        a.run_kills,
        &mut rng,
        run_secs,
        || ikd_run(&a, &s, &killed),
        &killed,
        || run_tables(&killed).map(|_| ()),
    )?;
    ensure!(
        run_tables(&killed)? == ref_tables,
        "run: the resumed tables differ from the uninterrupted run's"
    );
    ensure!(
        temp_files(&killed).is_empty(),
        "run: temporary files left: {:?}",
        temp_files(&killed)
    );
    report.push(format!(
        "run: {r_kills} kills ({r_mid} during a write) over {} rows, results/review/outbox = uninterrupted run ({} / {} / {} rows)",
        ref_tables[0].len(),
        ref_tables[0].len(),
        ref_tables[1].len(),
        ref_tables[2].len()
    ));

    if a.faults {
        faults(&a, &mut s, &ref_tables, &mut report)?;
    }
    println!(
        "crash campaign: all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    for line in report {
        println!("  {line}");
    }
    Ok(())
}

/// A fault, then the same command again with the fault gone: it must complete exactly once.
fn faults(a: &Args, s: &mut Setup, reference: &[Vec<Row>; 3], report: &mut Vec<String>) -> anyhow::Result<()> {
    let mount_dir = a.work.join("mnt");
    std::fs::create_dir_all(&mount_dir)?;
    let mount = |opts: &str| -> bool {
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(&mount_dir)
            .status()
            .is_ok_and(|s| s.success())
    };
    let remount = |opts: &str| -> anyhow::Result<()> {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&mount_dir)
            .status()?;
        ensure!(ok.success(), "remount {opts}");
        Ok(())
    };
    let umount = || {
        let _ = Command::new("umount").arg(&mount_dir).status();
    };
    let stderr_line = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .rfind(|l| l.contains("error"))
            .unwrap_or_default()
            .to_string()
    };

    // A full disk: a tmpfs of half the size of the uninterrupted run's output.
    let mut files = Vec::new();
    collect(&a.work.join("run-ref"), &mut files);
    let full_size: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let small = (full_size / 2 / 4096).max(8) * 4096;
    if mount(&format!("size={small}")) {
        let out = mount_dir.join("out");
        let o = ikd_run(a, s, &out).output()?;
        let code = o.status.code();
        ensure!(!o.status.success(), "full disk: the run must fail");
        let visible = run_tables(&out).context("full disk: a half-written file is visible")?;
        remount("size=256m")?;
        ensure!(
            ikd_run(a, s, &out).status()?.success(),
            "full disk: the rerun with space"
        );
        ensure!(
            run_tables(&out)? == *reference,
            "full disk: rerun differs from the uninterrupted run"
        );
        report.push(format!(
            "full disk (tmpfs of {} KiB, half the run's output): exit {code:?}, `{}`; {} rows committed before, none half; with space the rerun completes = uninterrupted run",
            small / 1024,
            stderr_line(&o),
            visible[0].len()
        ));
        umount();
    } else {
        report.push("full disk: skipped (cannot mount a tmpfs here; needs root)".into());
    }

    // A read-only output directory.
    if mount("size=64m") {
        let out = mount_dir.join("out");
        std::fs::create_dir_all(&out)?;
        remount("ro")?;
        let o = ikd_run(a, s, &out).output()?;
        ensure!(!o.status.success(), "read-only: the run must fail");
        ensure!(
            read_table(&out.join("results"))?.is_empty(),
            "read-only: nothing can be committed"
        );
        remount("rw")?;
        ensure!(
            ikd_run(a, s, &out).status()?.success(),
            "read-only: the rerun once writable"
        );
        ensure!(run_tables(&out)? == *reference, "read-only: rerun differs");
        report.push(format!(
            "read-only output directory: exit {:?}, `{}`; writable again, the rerun completes = uninterrupted run",
            o.status.code(),
            stderr_line(&o)
        ));
        umount();
    } else {
        report.push("read-only output: skipped (cannot mount a tmpfs here)".into());
    }

    // Too few file descriptors: RLIMIT_NOFILE 12 (stdin/out/err, the models, a few files).
    let out = a.work.join("run-fds");
    let mut c = ikd_run(a, s, &out);
    let ikd = a.ikd.display().to_string();
    let args: Vec<String> = c.get_args().map(|x| x.to_string_lossy().into_owned()).collect();
    c = Command::new("sh");
    c.arg("-c")
        .arg(r#"ulimit -n 12 && exec "$@""#)
        .arg("sh")
        .arg(&ikd)
        .args(&args);
    c.stderr(Stdio::piped()).stdout(Stdio::null());
    let o = c.output()?;
    ensure!(!o.status.success(), "too few fds: the run must fail");
    let visible = run_tables(&out).context("too few fds: a half-written file is visible")?;
    ensure!(ikd_run(a, s, &out).status()?.success(), "too few fds: the rerun");
    ensure!(run_tables(&out)? == *reference, "too few fds: rerun differs");
    report.push(format!(
        "out of file descriptors (ulimit -n 12): exit {:?}, `{}`; {} rows committed before; the rerun completes = uninterrupted run",
        o.status.code(),
        stderr_line(&o),
        visible[0].len()
    ));
    Ok(())
}
