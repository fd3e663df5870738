//! The run report (`ikd report OUT`, and OUT/report.html after `ikd run` / `ikd demo`): a
//! run's figures ([`figures`]) drawn ([`plots`]) into one self-contained HTML page ([`html`]):
//! counts per decision and reason, score histograms per decision with the threshold, the time
//! per stage, throughput over the run, the cascade's share decided per step, and the review
//! queue.

pub mod figures;
pub mod html;
pub mod plots;

pub use figures::{figures, RunFigures};

use crate::batch::run::RunState;
use crate::batch::storage::{is_remote, Location};
use anyhow::Context;
use std::path::Path;

/// Writes the report page of the run in `out` to `path` (atomically).
pub fn write_report(out: &Path, path: &Path) -> anyhow::Result<()> {
    if is_remote(out) || is_remote(path) {
        return write_report_remote(out, path);
    }
    let f = figures(out)?;
    let summary_path = out.join("summary.json");
    let summary: serde_json::Value = match std::fs::read(&summary_path) {
        Ok(b) => serde_json::from_slice(&b)?,
        Err(_) => serde_json::Value::Null,
    };
    let state = RunState::read(out)?;
    let page = html::render(&f, &state, &summary)?;
    crate::batch::write_atomic(path, page.as_bytes(), None).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
/// The report of a run on object storage (or to be written there): the run's results, review
/// parts and JSON files are copied into a private temp directory (each part with its commit
/// time, which the throughput figure is drawn from), the page is made there, and put to `path`.
fn write_report_remote(out: &Path, path: &Path) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "ikd-report-{}-{}",
        std::process::id(),
        crate::batch::unix_now()
    ));
    crate::batch::create_dir(&dir, Some(0o700)).with_context(|| format!("creating {}", dir.display()))?;
    struct Cleanup<'a>(&'a Path);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _cleanup = Cleanup(&dir);
    let local_out = if is_remote(out) {
        let root = Location::from_path(out)?;
        for o in root.list()? {
            let wanted = if o.name.contains('/') {
                (o.name.starts_with("results/") || o.name.starts_with("review/")) && o.name.ends_with(".parquet")
            } else {
                o.name.ends_with(".json")
            };
            if !wanted {
                continue;
            }
            let dest = dir.join(&o.name);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            root.join(&o.name).download_to(&dest)?;
            std::fs::File::options()
                .write(true)
                .open(&dest)?
                .set_modified(o.last_modified)?;
        }
        dir.clone()
    } else {
        out.to_path_buf()
    };
    let page = dir.join(".report.html");
    write_report(&local_out, &page)?;
    let bytes = std::fs::read(&page)?;
    if is_remote(path) {
        Location::from_path(path)?.put_overwrite(bytes.into())?;
    } else {
        crate::batch::write_atomic(path, &bytes, None).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// After `ikd run` / `ikd demo`: writes OUT/report.html and prints where it is (a report that
/// cannot be written is a warning: the run itself is committed).
/// The line goes to stderr when stdout carries JSON (`--print-summary`).
pub fn after_run(out: &Path, stdout_is_json: bool) {
    let path = out.join("report.html");
    match write_report(out, &path) {
        Ok(()) if stdout_is_json => eprintln!("  report: {}", path.display()),
        Ok(()) => println!("  report: {}", path.display()),
        Err(e) => eprintln!("ikd: warning: the run report could not be written: {e:#}"),
    }
}
