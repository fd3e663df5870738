//! Point lookups in the on-disk gallery: a run reads only the Parquet pages that can hold the
//! NIKs of its current chunk, so its memory and I/O follow the night's requests, not the size
//! of the province.
//!
//! At open, only each part file's footer is read: per row group, the NIK range (the `nik`
//! column's chunk statistics). A lookup of a chunk's sorted NIKs then, per row group whose
//! range holds one of them:
//! 1. reads that row group's page index (offset index of the needed columns, column index of
//!    `nik`), from a byte-bounded LRU cache or from the file;
//! 2. selects the `nik` pages whose min/max can hold one of the NIKs;
//! 3. reads just those rows (one page of [`PAGE_ROWS`](super::gallery_part::PAGE_ROWS) entries per
//!    column) and keeps the entries asked for.
//!
//! Files written without a page index (older galleries) still work: their row groups are read
//! whole. A compacted file lists the runs it replaces (`ikd.compacted_from`); those are skipped
//! until the next build or compaction removes them, so no NIK is ever seen twice.

use super::encoding::EmbeddingEncoding;
use super::gallery_part::{compacted_from, embedding_columns};
use super::index::{province_dir, provinces_on_disk, remote_part_files};
use super::storage::{is_remote, Location};
use super::{part_files, unhex32};
use anyhow::{bail, Context};
use arrow::array::{Array, StringArray};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::page_index::PageIndexBuilder;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataBuilder, ParquetMetaDataReader};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::index_reader::{decode_column_index, decode_offset_index};
use parquet::file::reader::{ChunkReader, Length};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Default byte budget of the page-index cache.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// A found gallery entry.
#[derive(Debug, Clone)]
pub struct GalleryEntry<'a> {
    pub photo_sha256: &'a [u8; 32],
    /// Where the KTP-el photo lives (only when the reader was opened with photo paths).
    pub photo_path: Option<&'a str>,
    /// Per embedder asked for, in its order; `None` where the entry has none (it was built
    /// with other embedders and not extended).
    pub embeddings: Vec<Option<&'a [f32]>>,
}

#[derive(Debug, Clone)]
struct OwnedEntry {
    photo_sha256: [u8; 32],
    photo_path: Option<String>,
    embeddings: Vec<Option<Vec<f32>>>,
}

/// The entries one lookup found: only the chunk's NIKs, dropped with the chunk.
#[derive(Debug, Default)]
pub struct ChunkGallery {
    entries: HashMap<u64, OwnedEntry>,
}

impl ChunkGallery {
    pub fn get(&self, nik: u64) -> Option<GalleryEntry<'_>> {
        let e = self.entries.get(&nik)?;
        Some(GalleryEntry {
            photo_sha256: &e.photo_sha256,
            photo_path: e.photo_path.as_deref(),
            embeddings: e.embeddings.iter().map(|v| v.as_deref()).collect(),
        })
    }

    pub fn contains(&self, nik: u64) -> bool {
        self.entries.contains_key(&nik)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What the reader did so far (for `summary.json` and the scale measurements).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LookupStats {
    pub part_files: usize,
    pub row_groups: usize,
    /// Entries in the part files the reader opened.
    pub entries: u64,
    /// Bytes read from gallery files: footers at open, page indexes and data pages after.
    pub bytes_read: u64,
    pub lookups: u64,
    pub found: u64,
    pub row_groups_read: u64,
    pub rows_decoded: u64,
    pub page_index_cache_hits: u64,
    pub page_index_cache_misses: u64,
    pub page_index_cache_bytes: usize,
    /// Heap bytes of the footers kept open (per row group: its column chunks' metadata).
    pub footer_bytes_in_memory: usize,
    pub lookup_seconds: f64,
}

/// Where a gallery part's bytes come from: a local file (`pread`) or an object (range reads).
#[derive(Clone)]
enum Source {
    Local(Arc<File>),
    Remote(Location),
}

/// A gallery file opened for positioned reads, counting the bytes it hands out.
#[derive(Clone)]
struct CountingFile {
    file: Source,
    len: u64,
    read: Arc<AtomicU64>,
}

/// How much a sequential read of an object fetches per request (page headers of a row group
/// read whole, in files written without a page index).
const REMOTE_READ_AHEAD: u64 = 256 << 10;

impl CountingFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
        match &self.file {
            Source::Local(f) => f.read_at(buf, pos),
            Source::Remote(loc) => {
                let end = (pos + buf.len() as u64).min(self.len);
                if end <= pos {
                    return Ok(0);
                }
                let bytes = loc.read_range(pos..end).map_err(std::io::Error::other)?;
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
        }
    }
}

impl Length for CountingFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for CountingFile {
    type T = PositionedRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<PositionedRead> {
        Ok(PositionedRead {
            file: self.clone(),
            pos: start,
            ahead: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let bytes = match &self.file {
            Source::Local(f) => {
                let mut buf = vec![0u8; length];
                f.read_exact_at(&mut buf, start)?;
                Bytes::from(buf)
            }
            Source::Remote(loc) => {
                let end = start + length as u64;
                let b = loc
                    .read_range(start..end)
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
                if b.len() != length {
                    return Err(parquet::errors::ParquetError::EOF(format!(
                        "{loc}: {} bytes at {start} where {length} were asked for",
                        b.len()
                    )));
                }
                b
            }
        };
        self.read.fetch_add(length as u64, Ordering::Relaxed);
        Ok(bytes)
    }
}

/// `Read` at an offset with `pread` (or, for an object, range reads of
/// [`REMOTE_READ_AHEAD`] bytes), so readers of one file never share a seek position.
struct PositionedRead {
    file: CountingFile,
    pos: u64,
    ahead: Bytes,
}

impl Read for PositionedRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Source::Remote(_) = &self.file.file {
            if self.ahead.is_empty() {
                let want = REMOTE_READ_AHEAD.max(buf.len() as u64) as usize;
                let mut fresh = vec![0u8; want];
                let n = self.file.read_at(&mut fresh, self.pos)?;
                fresh.truncate(n);
                self.file.read.fetch_add(n as u64, Ordering::Relaxed);
                self.ahead = Bytes::from(fresh);
            }
            let n = buf.len().min(self.ahead.len());
            buf[..n].copy_from_slice(&self.ahead[..n]);
            self.ahead = self.ahead.slice(n..);
            self.pos += n as u64;
            return Ok(n);
        }
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        self.file.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One part file: its footer and where its columns are.
struct PartFile {
    path: PathBuf,
    file: CountingFile,
    meta: Arc<ParquetMetaData>,
    /// Root columns to read (`nik`, `photo_sha256`, the wanted embedding columns).
    projection: Vec<usize>,
    /// Leaf columns of the projection (their offset indexes are loaded).
    leaves: Vec<usize>,
    nik_leaf: usize,
    /// Per wanted model: the file's column name and encoding, if it holds that model.
    models: Vec<Option<(String, EmbeddingEncoding, usize)>>,
    /// Per row group, the NIK range `[min, max]`; `None` when the statistics are missing.
    ranges: Vec<Option<(u64, u64)>>,
}

/// Parses 16 ASCII digits.
fn nik_digits(b: &[u8]) -> Option<u64> {
    if b.len() != 16 {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// Byte-bounded LRU of row-group reader metadata (footer of one row group + its page index).
#[derive(Default)]
struct PageIndexCache {
    budget: usize,
    bytes: usize,
    tick: u64,
    entries: HashMap<(usize, usize), (Arc<ArrowReaderMetadata>, usize, u64)>,
    order: BTreeMap<u64, (usize, usize)>,
}

impl PageIndexCache {
    fn get(&mut self, key: (usize, usize)) -> Option<Arc<ArrowReaderMetadata>> {
        self.tick += 1;
        let tick = self.tick;
        let (meta, _, used) = self.entries.get_mut(&key)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, key);
        Some(meta.clone())
    }

    fn put(&mut self, key: (usize, usize), meta: Arc<ArrowReaderMetadata>) {
        let size = meta.metadata().memory_size();
        if size > self.budget {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((_, old)) = self.order.pop_first() else { break };
            if let Some((_, s, _)) = self.entries.remove(&old) {
                self.bytes -= s;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key);
        self.entries.insert(key, (meta, size, self.tick));
        self.bytes += size;
    }
}

/// Looks gallery entries up on disk, chunk by chunk.
pub struct GalleryReader {
    files: Vec<PartFile>,
    models: Vec<(String, usize)>,
    cache: PageIndexCache,
    read: Arc<AtomicU64>,
    stats: LookupStats,
    /// Also read each entry's `photo_path`.
    photo_paths: bool,
}

impl GalleryReader {
    /// Opens the partitions of `provinces` (missing partitions are empty) for lookups of the
    /// embeddings of `models` (id, dims), in that order.
    pub fn open(gallery: &Path, provinces: &BTreeSet<u8>, models: &[(String, usize)]) -> anyhow::Result<Self> {
        Self::open_reading(gallery, provinces, models, false)
    }

    /// [`GalleryReader::open`], and each found entry also carries its `photo_path` (one more
    /// column read per lookup: for the holder's portrait in credentials).
    pub fn open_with_photo_paths(
        gallery: &Path,
        provinces: &BTreeSet<u8>,
        models: &[(String, usize)],
    ) -> anyhow::Result<Self> {
        Self::open_reading(gallery, provinces, models, true)
    }

    fn open_reading(
        gallery: &Path,
        provinces: &BTreeSet<u8>,
        models: &[(String, usize)],
        photo_paths: bool,
    ) -> anyhow::Result<Self> {
        let mut reader = GalleryReader {
            photo_paths,
            files: Vec::new(),
            models: models.to_vec(),
            cache: PageIndexCache {
                budget: DEFAULT_CACHE_BYTES,
                ..Default::default()
            },
            read: Arc::new(AtomicU64::new(0)),
            stats: LookupStats::default(),
        };
        for &p in provinces {
            let dir = province_dir(gallery, p);
            let mut opened = Vec::new();
            let parts: Vec<(PathBuf, Option<(Location, u64)>)> = if is_remote(gallery) {
                remote_part_files(&dir)?
                    .into_iter()
                    .map(|(loc, len)| (PathBuf::from(loc.url()), Some((loc, len))))
                    .collect()
            } else {
                part_files(&dir)?.into_iter().map(|p| (p, None)).collect()
            };
            for (path, remote) in parts {
                let (file, replaces) = super::guard_parser(
                    || path.display().to_string(),
                    || reader.open_file(&path, remote.clone()),
                )
                .with_context(|| format!("opening gallery part {}", path.display()))?;
                // A part file copied into another province's partition would answer for NIKs
                // that are not its own: its NIK ranges (footer statistics) must be of `p`.
                let province = |nik: u64| nik / 100_000_000_000_000; // the first 2 of 16 digits
                if let Some(&(lo, hi)) = file
                    .ranges
                    .iter()
                    .flatten()
                    .find(|&&(lo, hi)| province(lo) != u64::from(p) || province(hi) != u64::from(p))
                {
                    bail!(
                        "gallery part {} is in the partition of province {p:02} but holds NIKs of province {:02}..={:02}",
                        path.display(),
                        province(lo),
                        province(hi)
                    );
                }
                opened.push((file, replaces));
            }
            let replaced = replaced_runs(&opened);
            reader.files.extend(
                opened
                    .into_iter()
                    .filter(|(f, _)| {
                        !replaced.contains(f.path.file_name().and_then(|n| n.to_str()).unwrap_or_default())
                    })
                    .map(|(f, _)| f),
            );
        }
        reader.stats.part_files = reader.files.len();
        reader.stats.row_groups = reader.files.iter().map(|f| f.ranges.len()).sum();
        reader.stats.entries = reader
            .files
            .iter()
            .map(|f| f.meta.file_metadata().num_rows().max(0) as u64)
            .sum();
        reader.stats.footer_bytes_in_memory = reader.files.iter().map(|f| f.meta.memory_size()).sum();
        Ok(reader)
    }

    /// Every partition under `gallery`.
    pub fn open_all(gallery: &Path, models: &[(String, usize)]) -> anyhow::Result<Self> {
        Self::open(gallery, &provinces_on_disk(gallery)?, models)
    }

    /// Sets the page-index cache's byte budget (0: no cache).
    pub fn with_cache_bytes(mut self, budget: usize) -> Self {
        self.cache.budget = budget;
        self
    }

    fn open_file(&mut self, path: &Path, remote: Option<(Location, u64)>) -> anyhow::Result<(PartFile, Vec<String>)> {
        let (file, len) = match remote {
            Some((loc, len)) => (Source::Remote(loc), len),
            None => {
                let file = File::open(path)?;
                let len = file.metadata()?.len();
                (Source::Local(Arc::new(file)), len)
            }
        };
        let file = CountingFile {
            file,
            len,
            read: self.read.clone(),
        };
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Skip)
            .parse_and_finish(&file)?;
        let replaces = compacted_from(meta.file_metadata());
        let meta = Arc::new(meta);
        let arrow_meta = ArrowReaderMetadata::try_new(meta.clone(), ArrowReaderOptions::new())?;
        let schema = arrow_meta.schema();
        let columns = embedding_columns(schema)?;
        if columns.is_empty() && schema.index_of("embedding").is_ok() {
            bail!("written by an older ikd (one untagged `embedding` column): rebuild the gallery with `ikd gallery build`");
        }
        let (nik_root, sha_root) = (schema.index_of("nik")?, schema.index_of("photo_sha256")?);
        let mut projection = vec![nik_root, sha_root];
        if self.photo_paths {
            projection.push(schema.index_of("photo_path")?);
        }
        let models: Vec<Option<(String, EmbeddingEncoding, usize)>> = self
            .models
            .iter()
            .map(|(m, dims)| {
                columns
                    .iter()
                    .find(|(c, _)| &c.model == m && c.dims == *dims)
                    .map(|(c, i)| (schema.field(*i).name().clone(), c.encoding, *i))
            })
            .collect();
        projection.extend(models.iter().flatten().map(|(_, _, i)| *i));
        let descr = meta.file_metadata().schema_descr();
        let leaves: Vec<usize> = (0..descr.num_columns())
            .filter(|&l| projection.contains(&descr.get_column_root_idx(l)))
            .collect();
        let nik_leaf = (0..descr.num_columns())
            .find(|&l| descr.get_column_root_idx(l) == nik_root)
            .context("no nik leaf column")?;
        let ranges = meta
            .row_groups()
            .iter()
            .map(|rg| {
                let s = rg.column(nik_leaf).statistics()?;
                Some((nik_digits(s.min_bytes_opt()?)?, nik_digits(s.max_bytes_opt()?)?))
            })
            .collect();
        Ok((
            PartFile {
                path: path.to_path_buf(),
                file,
                meta,
                projection,
                leaves,
                nik_leaf,
                models,
                ranges,
            },
            replaces,
        ))
    }

    pub fn stats(&self) -> LookupStats {
        let mut s = self.stats.clone();
        s.bytes_read = self.read.load(Ordering::Relaxed);
        s.page_index_cache_bytes = self.cache.bytes;
        s
    }

    /// The entries of `niks` (any order, repeats allowed) that the gallery holds. A NIK in
    /// several part files is taken from the first (in partition and file order).
    pub fn lookup(&mut self, niks: &[u64]) -> anyhow::Result<ChunkGallery> {
        let started = Instant::now();
        let mut wanted: Vec<u64> = niks.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        self.stats.lookups += wanted.len() as u64;
        let mut out = ChunkGallery::default();
        for fi in 0..self.files.len() {
            if wanted.is_empty() {
                break;
            }
            for rg in 0..self.files[fi].ranges.len() {
                let keys: &[u64] = match self.files[fi].ranges[rg] {
                    Some((lo, hi)) => {
                        let a = wanted.partition_point(|&k| k < lo);
                        let b = wanted.partition_point(|&k| k <= hi);
                        &wanted[a..b]
                    }
                    None => &wanted,
                };
                if keys.is_empty() {
                    continue;
                }
                let keys = keys.to_vec();
                let path = self.files[fi].path.clone();
                super::guard_parser(
                    || path.display().to_string(),
                    || self.read_row_group(fi, rg, &keys, &mut out),
                )
                .with_context(|| format!("reading gallery part {}", path.display()))?;
            }
            wanted.retain(|k| !out.entries.contains_key(k));
        }
        self.stats.found += out.entries.len() as u64;
        self.stats.lookup_seconds += started.elapsed().as_secs_f64();
        Ok(out)
    }

    /// Reader metadata of row group `rg` of file `fi` alone, with its page index.
    fn row_group_meta(&mut self, fi: usize, rg: usize) -> anyhow::Result<Arc<ArrowReaderMetadata>> {
        if let Some(m) = self.cache.get((fi, rg)) {
            self.stats.page_index_cache_hits += 1;
            return Ok(m);
        }
        self.stats.page_index_cache_misses += 1;
        let f = &self.files[fi];
        let rg_meta = f.meta.row_group(rg);
        let mut index = PageIndexBuilder::new(1, rg_meta.num_columns());
        for &leaf in &f.leaves {
            let c = rg_meta.column(leaf);
            if let (Some(off), Some(len)) = (c.offset_index_offset(), c.offset_index_length()) {
                let bytes = f.file.get_bytes(off as u64, len as usize)?;
                index.try_put_offset_index(decode_offset_index(&bytes)?, 0, leaf)?;
            }
        }
        let c = rg_meta.column(f.nik_leaf);
        if let (Some(off), Some(len)) = (c.column_index_offset(), c.column_index_length()) {
            let bytes = f.file.get_bytes(off as u64, len as usize)?;
            index.try_put_column_index(decode_column_index(&bytes, c.column_type())?, 0, f.nik_leaf)?;
        }
        let meta = ParquetMetaDataBuilder::new(f.meta.file_metadata().clone())
            .add_row_group(rg_meta.clone())
            .set_page_index(Some(Arc::new(index.build())))
            .build();
        let meta = Arc::new(ArrowReaderMetadata::try_new(Arc::new(meta), ArrowReaderOptions::new())?);
        self.cache.put((fi, rg), meta.clone());
        Ok(meta)
    }

    /// The rows of row group `rg` whose `nik` page can hold one of `keys` (sorted).
    fn selection(meta: &ParquetMetaData, nik_leaf: usize, keys: &[u64]) -> Option<RowSelection> {
        let rows = meta.row_group(0).num_rows().max(0) as usize;
        let index = meta.page_index()?;
        let locations = index.page_locations(0, nik_leaf)?;
        let Some(ColumnIndexMetaData::BYTE_ARRAY(ci)) = index.column_index(0, nik_leaf) else {
            return None;
        };
        let mut ranges = Vec::new();
        for (p, loc) in locations.iter().enumerate() {
            let start = loc.first_row_index.max(0) as usize;
            let end = locations.get(p + 1).map_or(rows, |n| n.first_row_index.max(0) as usize);
            let holds = match (
                ci.min_value(p).and_then(nik_digits),
                ci.max_value(p).and_then(nik_digits),
            ) {
                (Some(lo), Some(hi)) => {
                    let a = keys.partition_point(|&k| k < lo);
                    a < keys.len() && keys[a] <= hi
                }
                _ => true,
            };
            if holds && start < end {
                ranges.push(start..end);
            }
        }
        Some(RowSelection::from_consecutive_ranges(ranges.into_iter(), rows))
    }

    fn read_row_group(&mut self, fi: usize, rg: usize, keys: &[u64], out: &mut ChunkGallery) -> anyhow::Result<()> {
        let meta = self.row_group_meta(fi, rg)?;
        let f = &self.files[fi];
        let selection = Self::selection(meta.metadata(), f.nik_leaf, keys);
        if selection.as_ref().is_some_and(|s| !s.selects_any()) {
            return Ok(());
        }
        self.stats.row_groups_read += 1;
        let mask = ProjectionMask::roots(
            meta.metadata().file_metadata().schema_descr(),
            f.projection.iter().copied(),
        );
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(f.file.clone(), (*meta).clone())
            .with_projection(mask)
            .with_batch_size(1024);
        if let Some(s) = selection {
            builder = builder.with_row_selection(s);
        }
        for batch in builder.build()? {
            let batch = batch?;
            self.stats.rows_decoded += batch.num_rows() as u64;
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                    .with_context(|| format!("no string column {name}"))
            };
            let (nik, sha) = (col("nik")?, col("photo_sha256")?);
            let paths = if self.photo_paths {
                Some(col("photo_path")?)
            } else {
                None
            };
            for r in 0..batch.num_rows() {
                let Some(k) = nik_digits(nik.value(r).as_bytes()) else {
                    continue;
                };
                if keys.binary_search(&k).is_err() || out.entries.contains_key(&k) {
                    continue;
                }
                let embeddings = f
                    .models
                    .iter()
                    .zip(&self.models)
                    .map(|(m, (_, dims))| {
                        let (name, enc, _) = m.as_ref()?;
                        enc.decode(batch.column_by_name(name)?.as_ref(), *dims, r)
                    })
                    .collect();
                out.entries.insert(
                    k,
                    OwnedEntry {
                        photo_sha256: unhex32(sha.value(r)).unwrap_or([0; 32]),
                        photo_path: paths.map(|p| p.value(r).to_owned()),
                        embeddings,
                    },
                );
            }
        }
        Ok(())
    }
}

/// Names of runs that a compacted file among `opened` replaces.
fn replaced_runs(opened: &[(PartFile, Vec<String>)]) -> BTreeSet<String> {
    opened.iter().flat_map(|(_, r)| r.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::compact::{compact, finish_interrupted};
    use crate::batch::gallery_part::{write_synthetic_part, ModelColumn, SyntheticEntry, PAGE_ROWS, ROW_GROUP_ROWS};
    use ikd_datasets::synthetic::{synthetic_niks, TemplateSampler};

    const DIMS: [usize; 2] = [8, 4];

    /// Entries with embeddings that encode their NIK (so a wrong row is caught).
    fn entries(niks: &[String]) -> Vec<SyntheticEntry> {
        niks.iter()
            .map(|n| {
                let k = n.parse::<u64>().unwrap();
                SyntheticEntry {
                    nik: n.clone(),
                    embeddings: DIMS
                        .iter()
                        .map(|&d| (0..d).map(|i| ((k >> (i * 3)) % 97) as f32 + 1.0).collect())
                        .collect(),
                }
            })
            .collect()
    }

    fn models(enc: EmbeddingEncoding) -> Vec<ModelColumn> {
        vec![
            ModelColumn::new("m-a", DIMS[0], enc),
            ModelColumn::new("m-b", DIMS[1], enc),
        ]
    }

    fn wanted() -> Vec<(String, usize)> {
        vec![("m-a".into(), DIMS[0]), ("m-b".into(), DIMS[1])]
    }

    fn write_runs(dir: &Path, runs: &[Vec<String>], enc: EmbeddingEncoding) {
        let p = province_dir(dir, 31);
        std::fs::create_dir_all(&p).unwrap();
        for (i, r) in runs.iter().enumerate() {
            let path = p.join(format!("part-{i:05}.parquet"));
            write_synthetic_part(&path, &models(enc), entries(r).into_iter()).unwrap();
        }
    }

    /// Every answer of a lookup, as plain values.
    fn answers(g: &Path, keys: &[u64]) -> Vec<(u64, Vec<Option<Vec<f32>>>)> {
        let mut r = GalleryReader::open_all(g, &wanted()).unwrap();
        let found = r.lookup(keys).unwrap();
        let mut out: Vec<_> = keys
            .iter()
            .filter_map(|k| {
                found
                    .get(*k)
                    .map(|e| (*k, e.embeddings.iter().map(|v| v.map(<[f32]>::to_vec)).collect()))
            })
            .collect();
        out.sort_by_key(|a| a.0);
        out.dedup_by_key(|a| a.0);
        out
    }

    #[test]
    fn present_absent_and_boundary_niks_are_found_across_row_groups_reading_only_their_pages() {
        let dir = tempfile::tempdir().unwrap();
        let n = ROW_GROUP_ROWS * 3 + 123;
        let niks = synthetic_niks(31, n, 5);
        write_runs(dir.path(), std::slice::from_ref(&niks), EmbeddingEncoding::F32);
        let keys: Vec<u64> = niks.iter().map(|s| s.parse().unwrap()).collect();
        let mut probe = Vec::new();
        for rg in 0..4 {
            let first = rg * ROW_GROUP_ROWS;
            let last = ((rg + 1) * ROW_GROUP_ROWS).min(n) - 1;
            probe.extend([keys[first], keys[last]]);
            // Just outside a row group's range, between two present NIKs.
            if keys[last] + 1 < keys.get(last + 1).copied().unwrap_or(u64::MAX) {
                probe.push(keys[last] + 1);
            }
            probe.push(keys[first + 7]);
        }
        let absent_between: Vec<u64> = keys
            .windows(2)
            .filter(|w| w[1] > w[0] + 1)
            .take(5)
            .map(|w| w[0] + 1)
            .collect();
        probe.extend(&absent_between);
        probe.extend([keys[0] - 1, keys[n - 1] + 1, 0, u64::MAX]);
        let mut reader = GalleryReader::open_all(dir.path(), &wanted()).unwrap();
        assert_eq!(reader.stats().row_groups, 4);
        let found = reader.lookup(&probe).unwrap();
        for k in &probe {
            let present = keys.binary_search(k).is_ok();
            assert_eq!(found.get(*k).is_some(), present, "NIK {k}");
            if let Some(e) = found.get(*k) {
                let expect = &entries(&[format!("{k:016}")])[0].embeddings;
                for (got, want) in e.embeddings.iter().zip(expect) {
                    assert_eq!(got.unwrap(), want.as_slice(), "NIK {k}: its own row, not a neighbour's");
                }
                assert_eq!(
                    e.photo_sha256,
                    &unhex32(&ikd_engine::sha256_hex(format!("{k:016}").as_bytes())).unwrap()
                );
            }
        }
        let s = reader.stats();
        let file_len = std::fs::metadata(province_dir(dir.path(), 31).join("part-00000.parquet"))
            .unwrap()
            .len();
        assert!(
            s.rows_decoded <= (probe.len() * PAGE_ROWS) as u64,
            "only the pages holding the NIKs are decoded: {} rows for {} NIKs",
            s.rows_decoded,
            probe.len()
        );
        assert!(s.bytes_read < file_len / 4, "{} of {file_len} bytes read", s.bytes_read);
        // A second lookup in the same row groups uses the cached page indexes.
        reader.lookup(&probe[..4]).unwrap();
        assert!(reader.stats().page_index_cache_hits > 0);
        // Without a cache, the same answers.
        let mut uncached = GalleryReader::open_all(dir.path(), &wanted())
            .unwrap()
            .with_cache_bytes(0);
        assert_eq!(uncached.lookup(&probe).unwrap().len(), found.len());
    }

    #[test]
    fn a_partition_built_in_steps_answers_like_one_built_at_once_before_and_after_compaction() {
        let niks = synthetic_niks(31, 9000, 9);
        let keys: Vec<u64> = niks.iter().map(|s| s.parse().unwrap()).collect();
        let mut probe: Vec<u64> = keys.iter().step_by(7).copied().collect();
        probe.extend(keys.iter().map(|k| k + 1).step_by(11));
        let once = tempfile::tempdir().unwrap();
        write_runs(once.path(), std::slice::from_ref(&niks), EmbeddingEncoding::F16);
        // Three incremental builds: interleaved NIKs, each run sorted.
        let steps = tempfile::tempdir().unwrap();
        let runs: Vec<Vec<String>> = (0..3)
            .map(|r| niks.iter().skip(r).step_by(3).cloned().collect())
            .collect();
        write_runs(steps.path(), &runs, EmbeddingEncoding::F16);
        let expect = answers(once.path(), &probe);
        assert!(expect.len() > 1000);
        assert_eq!(answers(steps.path(), &probe), expect);

        // Keep copies of the runs to fake a compaction that crashed before deleting them.
        let p = province_dir(steps.path(), 31);
        let saved: Vec<(PathBuf, Vec<u8>)> = part_files(&p)
            .unwrap()
            .into_iter()
            .map(|f| (f.clone(), std::fs::read(&f).unwrap()))
            .collect();
        let report = compact(steps.path(), None).unwrap();
        assert_eq!(report.entries, 9000);
        assert_eq!(part_files(&p).unwrap().len(), 1);
        assert_eq!(answers(steps.path(), &probe), expect);
        for (f, bytes) in &saved {
            std::fs::write(f, bytes).unwrap();
        }
        assert_eq!(
            answers(steps.path(), &probe),
            expect,
            "replaced runs are skipped, never double-counted"
        );
        assert_eq!(finish_interrupted(steps.path()).unwrap().len(), 3);
        assert_eq!(part_files(&p).unwrap().len(), 1);
        assert_eq!(answers(steps.path(), &probe), expect);
    }

    #[test]
    fn compact_encodings_read_back_within_their_precision() {
        let niks = synthetic_niks(31, 300, 2);
        let mut s = TemplateSampler::new(3, 5.0);
        let base: Vec<f32> = (0..128).map(|i| (i as f32).sin()).collect();
        let vectors: Vec<Vec<f32>> = niks.iter().map(|_| s.sample(&base)).collect();
        for (enc, min_cos) in [
            (EmbeddingEncoding::F32, 1.0 - 1e-6),
            (EmbeddingEncoding::F16, 0.99999),
            (EmbeddingEncoding::Int8, 0.9995),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let p = province_dir(dir.path(), 31);
            std::fs::create_dir_all(&p).unwrap();
            let models = vec![ModelColumn::new("m", 128, enc)];
            let es = niks.iter().zip(&vectors).map(|(n, v)| SyntheticEntry {
                nik: n.clone(),
                embeddings: vec![v.clone()],
            });
            write_synthetic_part(&p.join("part-00000.parquet"), &models, es).unwrap();
            let mut r = GalleryReader::open_all(dir.path(), &[("m".into(), 128)]).unwrap();
            let keys: Vec<u64> = niks.iter().map(|s| s.parse().unwrap()).collect();
            let found = r.lookup(&keys).unwrap();
            for (k, v) in keys.iter().zip(&vectors) {
                let got = found.get(*k).unwrap().embeddings[0].unwrap();
                let dot: f32 = got.iter().zip(v).map(|(a, b)| a * b).sum();
                let n: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!(dot / n >= min_cos, "{enc:?}: cosine {}", dot / n);
            }
            // A model the file does not hold comes back as None, not as another model's vector.
            let mut other = GalleryReader::open_all(dir.path(), &[("m".into(), 128), ("x".into(), 128)]).unwrap();
            let e = other.lookup(&keys[..1]).unwrap();
            assert!(e.get(keys[0]).unwrap().embeddings[1].is_none());
        }
    }
}
