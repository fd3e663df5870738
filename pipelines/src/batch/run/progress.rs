//! Progress on stderr: a bar on a terminal, a log line every few seconds otherwise.

use super::config::ProgressMode;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    mode: ProgressMode,
    last_line: Instant,
    started: Instant,
    total: u64,
    done: u64,
    processed_now: u64,
    label: String,
}

impl Progress {
    pub(super) fn new(mode: ProgressMode, total: u64, label: String) -> Progress {
        let bar = (mode == ProgressMode::Auto && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix} {elapsed_precise} [{wide_bar}] {pos}/{len} rows  {per_sec}  ETA {eta}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(label.clone());
            bar
        });
        Progress {
            bar,
            mode,
            last_line: Instant::now() - Duration::from_secs(60),
            started: Instant::now(),
            total,
            done: 0,
            processed_now: 0,
            label,
        }
    }

    pub(super) fn log(&self, msg: &str) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(msg),
            (None, ProgressMode::Quiet) => {}
            (None, _) => eprintln!("{msg}"),
        }
    }

    pub(super) fn advance(&mut self, rows: u64, processed: bool, chunk: u64, chunks: u64) {
        self.done += rows;
        if processed {
            self.processed_now += rows;
        }
        if let Some(bar) = &self.bar {
            if processed {
                bar.inc(rows);
            } else {
                // Rows committed by an earlier attempt: move the bar without counting them in the rate.
                bar.set_position(self.done);
                bar.reset_eta();
            }
            return;
        }
        if self.mode == ProgressMode::Quiet {
            return;
        }
        let last = chunk + 1 == chunks;
        if self.last_line.elapsed() < Duration::from_secs(5) && !last {
            return;
        }
        self.last_line = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = self.processed_now as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0} s", (self.total - self.done) as f64 / rate)
        } else {
            "?".into()
        };
        eprintln!(
            "{}: chunk {}/{chunks}: {}/{} rows, {rate:.1} rows/s, ETA {eta}",
            self.label,
            chunk + 1,
            self.done,
            self.total
        );
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
