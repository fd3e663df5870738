//! The chunk loop: reads the requests a chunk at a time, picks this shard's rows, looks their
//! NIKs up in the gallery, processes the rows in parallel and commits the chunk. A chunk whose
//! results file exists was committed by an earlier attempt and is skipped; a chunk with an
//! engine fault is not committed (a rerun retries it).

use super::super::lookup::{ChunkGallery, GalleryReader};
use super::super::results::{commit_parquet_remote, outbox_batch, results_batch, review_batch, write_parquet_atomic};
use super::super::results::{OutboxRow, ResultRow, ReviewRow};
use super::super::table::TableReader;
use super::super::{hash64, nik_u64};
use super::config::{RunConfig, REQUEST_COLUMNS};
use super::plan::OutputDirs;
use super::progress::Progress;
use super::row::{process_row, Processed, RowContext, Work};
use ikd_engine::nik::Nik;
use rayon::prelude::*;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// What the loop did in this invocation.
pub(super) struct Executed {
    /// Chunks that hit an engine fault (not committed).
    pub failed_chunks: Vec<u64>,
    /// Rows processed and committed now (not those of earlier attempts).
    pub rows_processed: u64,
    pub seconds: f64,
}

/// The loop's fixed surroundings.
pub(super) struct ChunkLoop<'a> {
    pub cfg: &'a RunConfig,
    pub ctx: &'a RowContext<'a>,
    pub pool: &'a rayon::ThreadPool,
    pub dirs: &'a OutputDirs,
    pub label: &'a str,
    pub n_chunks: u64,
}

/// The result, review and outbox rows of one chunk, in input order.
#[derive(Default)]
struct ChunkRows {
    results: Vec<ResultRow>,
    review: Vec<ReviewRow>,
    outbox: Vec<OutboxRow>,
}

impl ChunkLoop<'_> {
    pub(super) fn execute(&self, gallery: &mut GalleryReader, progress: &mut Progress) -> anyhow::Result<Executed> {
        let chunk_size = self.cfg.chunk_size.max(1);
        let mut seen = SeenSet::default();
        let mut reader = TableReader::open(&self.cfg.requests, &REQUEST_COLUMNS, chunk_size)?;
        let mut executed = Executed {
            failed_chunks: Vec::new(),
            rows_processed: 0,
            seconds: 0.0,
        };
        let mut chunk_no = 0u64;
        let started = Instant::now();
        loop {
            let rows = reader.next_chunk(chunk_size)?;
            if rows.is_empty() {
                break;
            }
            let first = chunk_no * chunk_size as u64 + 1;
            let work = self.select(&rows, first, &mut seen);
            let name = format!("part-{chunk_no:06}.parquet");
            let committed = match &self.dirs.remote {
                Some(r) => r.committed.contains(&name),
                None => self.dirs.results.join(&name).exists(),
            };
            if committed {
                progress.advance(work.len() as u64, false, chunk_no, self.n_chunks);
                chunk_no += 1;
                continue;
            }
            // The chunk's gallery entries, read from disk in one sorted pass.
            let keys: Vec<u64> = work
                .iter()
                .filter(|w| !w.duplicate)
                .filter_map(|w| w.nik.as_ref().ok().map(nik_u64))
                .collect();
            let found = gallery.lookup(&keys)?;
            match self.process(&found, &work) {
                Ok(chunk) => {
                    self.commit(&name, &chunk)?;
                    executed.rows_processed += chunk.results.len() as u64;
                }
                Err(fault) => {
                    progress.log(&format!(
                        "{}: chunk {chunk_no} NOT committed (a rerun retries it): {fault}",
                        self.label
                    ));
                    executed.failed_chunks.push(chunk_no);
                }
            }
            progress.advance(work.len() as u64, true, chunk_no, self.n_chunks);
            chunk_no += 1;
        }
        executed.seconds = started.elapsed().as_secs_f64();
        Ok(executed)
    }

    /// This shard's rows of a chunk. Every shard tracks every request id (in input order), so
    /// "first occurrence wins" is decided identically whichever shard owns the duplicate.
    fn select<'r>(&self, rows: &'r [Vec<String>], first_input_row: u64, seen: &mut SeenSet) -> Vec<Work<'r>> {
        let mut work = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let duplicate = !seen.insert(request_key(&row[0]));
            let nik = Nik::parse(&row[1]);
            if self.cfg.shard.owns(&row[0], nik.as_ref().ok()) {
                work.push(Work {
                    row,
                    input_row: first_input_row + i as u64,
                    nik,
                    duplicate,
                });
            }
        }
        work
    }

    /// Processes the rows in parallel. An engine fault on any row fails the whole chunk (the
    /// first fault, masked NIK, is returned).
    fn process(&self, found: &ChunkGallery, work: &[Work<'_>]) -> Result<ChunkRows, String> {
        let processed: Vec<anyhow::Result<Processed>> = self
            .pool
            .install(|| work.par_iter().map(|w| process_row(self.ctx, found, w)).collect());
        let mut chunk = ChunkRows {
            results: Vec::with_capacity(processed.len()),
            ..Default::default()
        };
        let mut fault = None;
        for (p, w) in processed.into_iter().zip(work) {
            match p {
                Ok(p) => {
                    chunk.results.push(p.result);
                    chunk.review.extend(p.review);
                    chunk.outbox.extend(p.outbox);
                }
                Err(e) => {
                    let who = w
                        .nik
                        .as_ref()
                        .map(|n| n.masked())
                        .unwrap_or_else(|_| "invalid NIK".into());
                    fault.get_or_insert(format!("input row {} ({who}): {e:#}", w.input_row));
                }
            }
        }
        match fault {
            Some(f) => Err(f),
            None => Ok(chunk),
        }
    }

    /// Review and outbox first, results last: the results file is the commit marker.
    fn commit(&self, name: &str, chunk: &ChunkRows) -> anyhow::Result<()> {
        if let Some(remote) = &self.dirs.remote {
            // Same order; each object one create-only put whose footer names its chunk, so a
            // chunk committed by an earlier or a concurrent attempt is recognised, not doubled.
            let shard = self.cfg.shard.index;
            let id = |kind: &str| format!("{}/{kind}/shard={shard}/{name}", self.ctx.run_id);
            if !chunk.review.is_empty() {
                commit_parquet_remote(&remote.review.join(name), &review_batch(&chunk.review)?, &id("review"))?;
            }
            if !chunk.outbox.is_empty() {
                let outbox = remote
                    .outbox
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("credentials were issued but no --outbox was given"))?;
                commit_parquet_remote(&outbox.join(name), &outbox_batch(&chunk.outbox)?, &id("outbox"))?;
            }
            commit_parquet_remote(
                &remote.results.join(name),
                &results_batch(&chunk.results)?,
                &id("results"),
            )?;
            return Ok(());
        }
        if !chunk.review.is_empty() {
            write_parquet_atomic(&self.dirs.review.join(name), &review_batch(&chunk.review)?, None)?;
        }
        if !chunk.outbox.is_empty() {
            write_parquet_atomic(&self.dirs.outbox.join(name), &outbox_batch(&chunk.outbox)?, Some(0o600))?;
        }
        write_parquet_atomic(&self.dirs.results.join(name), &results_batch(&chunk.results)?, None)?;
        Ok(())
    }
}

/// The identity hasher for already-hashed keys (the duplicate set stores 64-bit hashes).
#[derive(Default)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type SeenSet = HashSet<u64, BuildHasherDefault<U64Hasher>>;

fn request_key(request_id: &str) -> u64 {
    hash64(b"ikd/request_id", request_id.as_bytes())
}
