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
use anyhow::Context;
use std::path::Path;

/// Writes the report page of the run in `out` to `path` (atomically).
pub fn write_report(out: &Path, path: &Path) -> anyhow::Result<()> {
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
