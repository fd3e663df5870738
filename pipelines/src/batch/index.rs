//! The in-memory gallery index of a run: only the provinces the run needs, stored compactly.
//!
//! Per entry: the NIK as `u64` (8 bytes), one row of a contiguous `f32` matrix (4 x dims
//! bytes), the photo SHA-256 as `[u8; 32]`, and a 1-byte index into the list of embedder model
//! ids. No per-entry heap allocation, no hash map; lookup is a binary search.

use super::{nik_u64, part_files, unhex32};
use anyhow::{bail, Context};
use arrow::array::{Array, FixedSizeListArray, Float32Array, StringArray};
use ikd_engine::nik::Nik;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Sorted NIKs and parallel arrays.
#[derive(Debug, Default)]
pub struct GalleryIndex {
    niks: Vec<u64>,
    embeddings: Vec<f32>,
    photo_sha: Vec<[u8; 32]>,
    model: Vec<u8>,
    models: Vec<String>,
    dims: usize,
    /// Entries whose stored embedding length differed from `dims` (kept as zero rows, flagged
    /// as a model mismatch on lookup).
    wrong_dims: Vec<u64>,
}

/// A found gallery entry.
#[derive(Debug, Clone, Copy)]
pub struct GalleryEntry<'a> {
    pub embedding: &'a [f32],
    pub photo_sha256: &'a [u8; 32],
    pub embedder_model: &'a str,
    /// The stored embedding has another length than this engine's.
    pub wrong_dims: bool,
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
    /// Bytes one entry takes in the index (excluding the `Vec` slack).
    pub const fn bytes_per_entry(dims: usize) -> usize {
        std::mem::size_of::<u64>() + dims * std::mem::size_of::<f32>() + std::mem::size_of::<[u8; 32]>() + 1
    }

    /// Loads the partitions of `provinces` (missing partitions are simply empty).
    pub fn load(gallery: &Path, provinces: &BTreeSet<u8>, dims: usize) -> anyhow::Result<GalleryIndex> {
        let mut idx = GalleryIndex {
            dims,
            ..Default::default()
        };
        for &p in provinces {
            for file in part_files(&province_dir(gallery, p))? {
                idx.load_file(&file)
                    .with_context(|| format!("loading gallery part {}", file.display()))?;
            }
        }
        idx.sort_and_dedup();
        idx.wrong_dims.sort_unstable();
        idx.niks.shrink_to_fit();
        idx.embeddings.shrink_to_fit();
        idx.photo_sha.shrink_to_fit();
        idx.model.shrink_to_fit();
        Ok(idx)
    }

    fn load_file(&mut self, file: &Path) -> anyhow::Result<()> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(file)?)?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
        self.niks.reserve(rows);
        self.embeddings.reserve(rows * self.dims);
        self.photo_sha.reserve(rows);
        self.model.reserve(rows);
        for batch in builder.with_batch_size(8192).build()? {
            let batch = batch?;
            let col = |name: &str| batch.column_by_name(name).with_context(|| format!("no column {name}"));
            let nik = col("nik")?
                .as_any()
                .downcast_ref::<StringArray>()
                .context("nik is not a string")?;
            let emb = col("embedding")?
                .as_any()
                .downcast_ref::<FixedSizeListArray>()
                .context("embedding is not a list")?;
            let model = col("embedder_model")?
                .as_any()
                .downcast_ref::<StringArray>()
                .context("embedder_model not a string")?;
            let sha = col("photo_sha256")?
                .as_any()
                .downcast_ref::<StringArray>()
                .context("photo_sha256 not a string")?;
            let width = emb.value_length() as usize;
            let values = emb
                .values()
                .as_any()
                .downcast_ref::<Float32Array>()
                .context("embedding is not float32")?;
            for r in 0..batch.num_rows() {
                let Ok(n) = Nik::parse(nik.value(r)) else { continue };
                let key = nik_u64(&n);
                let m = model.value(r);
                let mi = match self.models.iter().position(|x| x == m) {
                    Some(i) => i,
                    None => {
                        if self.models.len() >= 255 {
                            bail!("more than 255 embedder models in one gallery");
                        }
                        self.models.push(m.to_string());
                        self.models.len() - 1
                    }
                };
                self.niks.push(key);
                self.model.push(mi as u8);
                self.photo_sha.push(unhex32(sha.value(r)).unwrap_or([0; 32]));
                let start = emb.value_offset_at(r);
                if width == self.dims && !emb.is_null(r) {
                    self.embeddings
                        .extend_from_slice(&values.values()[start..start + width]);
                } else {
                    self.embeddings.extend(std::iter::repeat_n(0.0, self.dims));
                    self.wrong_dims.push(key);
                }
            }
        }
        Ok(())
    }

    /// Sorts every parallel array by NIK in place (cycle-following permutation, one spare
    /// row of scratch) and keeps the first entry of a repeated NIK.
    fn sort_and_dedup(&mut self) {
        let n = self.niks.len();
        let mut perm: Vec<u32> = (0..n as u32).collect();
        perm.sort_by_key(|&i| (self.niks[i as usize], i));
        // perm[j] = the index whose entry must end at position j.
        let d = self.dims;
        let mut row = vec![0f32; d];
        for start in 0..n {
            if perm[start] as usize == start {
                continue;
            }
            let (nik, sha, model) = (self.niks[start], self.photo_sha[start], self.model[start]);
            row.copy_from_slice(&self.embeddings[start * d..(start + 1) * d]);
            let mut j = start;
            loop {
                let k = perm[j] as usize;
                perm[j] = j as u32;
                if k == start {
                    self.niks[j] = nik;
                    self.photo_sha[j] = sha;
                    self.model[j] = model;
                    self.embeddings[j * d..(j + 1) * d].copy_from_slice(&row);
                    break;
                }
                self.niks[j] = self.niks[k];
                self.photo_sha[j] = self.photo_sha[k];
                self.model[j] = self.model[k];
                self.embeddings.copy_within(k * d..(k + 1) * d, j * d);
                j = k;
            }
        }
        // Compact repeated NIKs (the gallery builder never writes them; be safe anyway).
        let mut w = 0;
        for r in 0..n {
            if r > 0 && self.niks[r] == self.niks[w - 1] {
                continue;
            }
            if w != r {
                self.niks[w] = self.niks[r];
                self.photo_sha[w] = self.photo_sha[r];
                self.model[w] = self.model[r];
                self.embeddings.copy_within(r * d..(r + 1) * d, w * d);
            }
            w += 1;
        }
        self.niks.truncate(w);
        self.photo_sha.truncate(w);
        self.model.truncate(w);
        self.embeddings.truncate(w * d);
    }

    pub fn len(&self) -> usize {
        self.niks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.niks.is_empty()
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Heap bytes held by the index.
    pub fn heap_bytes(&self) -> usize {
        self.niks.capacity() * 8
            + self.embeddings.capacity() * 4
            + self.photo_sha.capacity() * 32
            + self.model.capacity()
            + self.wrong_dims.capacity() * 8
    }

    pub fn get(&self, nik: u64) -> Option<GalleryEntry<'_>> {
        let i = self.niks.binary_search(&nik).ok()?;
        Some(GalleryEntry {
            embedding: &self.embeddings[i * self.dims..(i + 1) * self.dims],
            photo_sha256: &self.photo_sha[i],
            embedder_model: self
                .models
                .get(usize::from(self.model[i]))
                .map(String::as_str)
                .unwrap_or(""),
            wrong_dims: self.wrong_dims.binary_search(&nik).is_ok(),
        })
    }
}
