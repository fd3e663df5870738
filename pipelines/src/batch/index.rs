//! The in-memory gallery index of a run: only the provinces the run needs, and only the
//! embedders the engine runs, stored compactly.
//!
//! Per entry: the NIK as `u64` (8 bytes), the photo SHA-256 as `[u8; 32]`, one row of a
//! contiguous `f32` matrix per embedder (4 x dims bytes each) and a byte with one bit per
//! embedder saying whether the entry has that embedding. No per-entry heap allocation, no hash
//! map; lookup is a binary search.

use super::gallery::{embedding_columns, list_value};
use super::{nik_u64, part_files, unhex32};
use anyhow::{bail, Context};
use arrow::array::{Array, FixedSizeListArray, StringArray};
use ikd_engine::nik::Nik;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Sorted NIKs and parallel arrays.
#[derive(Debug, Default)]
pub struct GalleryIndex {
    niks: Vec<u64>,
    photo_sha: Vec<[u8; 32]>,
    /// The engine's embedders (id, dims), in its order.
    models: Vec<(String, usize)>,
    /// Per embedder, one row per entry (zeros where absent).
    embeddings: Vec<Vec<f32>>,
    /// Per entry, bit k: the entry has embedder k's embedding.
    present: Vec<u8>,
}

/// A found gallery entry.
#[derive(Debug, Clone)]
pub struct GalleryEntry<'a> {
    pub photo_sha256: &'a [u8; 32],
    /// Per embedder of the engine, in its order; `None` where the entry has none (it was
    /// built with other embedders and not extended).
    pub embeddings: Vec<Option<&'a [f32]>>,
}

/// Directory of one province's partition.
pub fn province_dir(gallery: &Path, province: u8) -> PathBuf {
    gallery.join(format!("province={province:02}"))
}

/// Every `province=PP` partition present under `gallery`.
pub fn provinces_on_disk(gallery: &Path) -> anyhow::Result<BTreeSet<u8>> {
    let mut out = BTreeSet::new();
    let entries = match std::fs::read_dir(gallery) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("listing {}", gallery.display())),
    };
    for e in entries {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(p) = name.strip_prefix("province=").and_then(|p| p.parse().ok()) {
            out.insert(p);
        }
    }
    Ok(out)
}

impl GalleryIndex {
    /// Bytes one entry takes in the index for embedders of these sizes (excluding `Vec` slack).
    pub fn bytes_per_entry(dims: &[usize]) -> usize {
        std::mem::size_of::<u64>()
            + std::mem::size_of::<[u8; 32]>()
            + 1
            + dims.iter().map(|d| d * std::mem::size_of::<f32>()).sum::<usize>()
    }

    /// Loads the partitions of `provinces` (missing partitions are simply empty), keeping the
    /// embeddings of `models` (id, dims) only.
    pub fn load(gallery: &Path, provinces: &BTreeSet<u8>, models: &[(String, usize)]) -> anyhow::Result<GalleryIndex> {
        anyhow::ensure!(models.len() <= 8, "at most 8 embedders per gallery index");
        let mut idx = GalleryIndex {
            models: models.to_vec(),
            embeddings: vec![Vec::new(); models.len()],
            ..Default::default()
        };
        for &p in provinces {
            for file in part_files(&province_dir(gallery, p))? {
                idx.load_file(&file)
                    .with_context(|| format!("loading gallery part {}", file.display()))?;
            }
        }
        idx.sort_and_dedup();
        Ok(idx)
    }

    fn load_file(&mut self, file: &Path) -> anyhow::Result<()> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(file)?)?;
        let schema = builder.schema().clone();
        let columns = embedding_columns(&schema);
        if columns.is_empty() && schema.index_of("embedding").is_ok() {
            bail!("written by an older ikd (one untagged `embedding` column): rebuild the gallery with `ikd gallery build`");
        }
        // For each engine model, the file's column holding it (if any).
        let wanted: Vec<Option<usize>> = self
            .models
            .iter()
            .map(|(m, _)| columns.iter().find(|(c, _)| c == m).map(|(_, i)| *i))
            .collect();
        let (nik_i, sha_i) = (schema.index_of("nik")?, schema.index_of("photo_sha256")?);
        let mut roots = vec![nik_i, sha_i];
        roots.extend(wanted.iter().flatten().copied());
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
        let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
        self.niks.reserve(rows);
        self.photo_sha.reserve(rows);
        self.present.reserve(rows);
        for (k, e) in self.embeddings.iter_mut().enumerate() {
            e.reserve(rows * self.models[k].1);
        }
        for batch in builder.with_projection(mask).with_batch_size(8192).build()? {
            let batch = batch?;
            let col = |name: &str| batch.column_by_name(name).with_context(|| format!("no column {name}"));
            let nik = col("nik")?
                .as_any()
                .downcast_ref::<StringArray>()
                .context("nik is not a string")?;
            let sha = col("photo_sha256")?
                .as_any()
                .downcast_ref::<StringArray>()
                .context("photo_sha256 not a string")?;
            let lists: Vec<Option<&FixedSizeListArray>> = wanted
                .iter()
                .map(|w| {
                    w.and_then(|i| batch.column_by_name(schema.field(i).name()))
                        .and_then(|c| c.as_any().downcast_ref::<FixedSizeListArray>())
                })
                .collect();
            for r in 0..batch.num_rows() {
                let Ok(n) = Nik::parse(nik.value(r)) else { continue };
                self.niks.push(nik_u64(&n));
                self.photo_sha.push(unhex32(sha.value(r)).unwrap_or([0; 32]));
                let mut bits = 0u8;
                for (k, list) in lists.iter().enumerate() {
                    let dims = self.models[k].1;
                    match list.and_then(|l| list_value(l, r)).filter(|v| v.len() == dims) {
                        Some(v) => {
                            self.embeddings[k].extend_from_slice(&v);
                            bits |= 1 << k;
                        }
                        None => self.embeddings[k].extend(std::iter::repeat_n(0.0, dims)),
                    }
                }
                self.present.push(bits);
            }
        }
        Ok(())
    }

    /// Sorts every parallel array by NIK and keeps the first entry of a repeated NIK.
    fn sort_and_dedup(&mut self) {
        let mut order: Vec<u32> = (0..self.niks.len() as u32).collect();
        order.sort_by_key(|&i| (self.niks[i as usize], i));
        // The gallery builder never writes a NIK twice; be safe anyway.
        order.dedup_by_key(|i| self.niks[*i as usize]);
        self.niks = order.iter().map(|&i| self.niks[i as usize]).collect();
        self.photo_sha = order.iter().map(|&i| self.photo_sha[i as usize]).collect();
        self.present = order.iter().map(|&i| self.present[i as usize]).collect();
        for (k, matrix) in self.embeddings.iter_mut().enumerate() {
            let d = self.models[k].1;
            let mut sorted = Vec::with_capacity(order.len() * d);
            for &i in &order {
                sorted.extend_from_slice(&matrix[i as usize * d..(i as usize + 1) * d]);
            }
            *matrix = sorted;
        }
    }

    pub fn len(&self) -> usize {
        self.niks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.niks.is_empty()
    }

    /// The embedders' sizes, in the engine's order.
    pub fn dims(&self) -> Vec<usize> {
        self.models.iter().map(|m| m.1).collect()
    }

    /// Heap bytes held by the index.
    pub fn heap_bytes(&self) -> usize {
        self.niks.capacity() * 8
            + self.photo_sha.capacity() * 32
            + self.present.capacity()
            + self.embeddings.iter().map(|e| e.capacity() * 4).sum::<usize>()
    }

    pub fn get(&self, nik: u64) -> Option<GalleryEntry<'_>> {
        let i = self.niks.binary_search(&nik).ok()?;
        Some(GalleryEntry {
            photo_sha256: &self.photo_sha[i],
            embeddings: (0..self.models.len())
                .map(|k| {
                    let d = self.models[k].1;
                    (self.present[i] & (1 << k) != 0).then(|| &self.embeddings[k][i * d..(i + 1) * d])
                })
                .collect(),
        })
    }
}
