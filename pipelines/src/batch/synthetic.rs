//! `ikd gallery synthesize`: a synthetic province next to a real gallery, for measuring
//! lookups at scale (docs/batch.md, "The gallery at national scale").
//!
//! The NIKs and templates come from `ikd_datasets::synthetic`; this module writes them as one
//! sorted run with the gallery's own writer, and optionally a requests file that asks for them.

use super::encoding::EmbeddingEncoding;
use super::gallery_part::{
    batch_templates, embedding_columns, next_part, write_synthetic_part, ModelColumn, SyntheticEntry, ROW_GROUP_ROWS,
};
use super::index::{province_dir, provinces_on_disk};
use super::part_files;
use anyhow::{bail, Context};
use ikd_datasets::synthetic::{synthetic_niks, TemplateSampler, DEFAULT_SPREAD};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;

pub struct SynthesizeConfig {
    pub like: PathBuf,
    pub out: PathBuf,
    pub province: u8,
    pub entries: usize,
    pub encoding: EmbeddingEncoding,
    pub seed: u64,
    /// Rows and path of a requests CSV to write.
    pub requests: Option<(usize, PathBuf)>,
}

#[derive(Debug, serde::Serialize)]
pub struct SynthesizeReport {
    pub part_file: PathBuf,
    pub entries: u64,
    pub seed_templates: usize,
    pub models: Vec<String>,
    pub encoding: EmbeddingEncoding,
    pub bytes_on_disk: u64,
    pub requests_file: Option<PathBuf>,
    pub seconds: f64,
}

/// Per real entry, one template per model.
type SeedTemplates = Vec<Vec<Vec<f32>>>;

/// The real templates of `like` that have every embedder (model columns of its first file).
fn seed_templates(like: &std::path::Path) -> anyhow::Result<(Vec<ModelColumn>, SeedTemplates)> {
    let mut models: Option<Vec<ModelColumn>> = None;
    let mut seeds = Vec::new();
    for p in provinces_on_disk(like)? {
        for file in part_files(&province_dir(like, p))? {
            let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)
                .with_context(|| format!("reading {}", file.display()))?;
            let columns = embedding_columns(builder.schema())?;
            let these: Vec<ModelColumn> = columns.iter().map(|(m, _)| m.clone()).collect();
            let models = models.get_or_insert(these.clone());
            if these
                .iter()
                .map(|m| (&m.model, m.dims))
                .ne(models.iter().map(|m| (&m.model, m.dims)))
            {
                continue;
            }
            for batch in builder.build()? {
                for t in batch_templates(&batch?, &columns)? {
                    if let Some(all) = t.embeddings.into_iter().collect::<Option<Vec<_>>>() {
                        seeds.push(all);
                    }
                }
            }
        }
    }
    match models {
        Some(m) if !seeds.is_empty() => Ok((m, seeds)),
        _ => bail!("{} holds no complete templates to sample around", like.display()),
    }
}

pub fn synthesize(cfg: &SynthesizeConfig) -> anyhow::Result<SynthesizeReport> {
    let started = std::time::Instant::now();
    if ikd_engine::nik::province_name(cfg.province).is_none() {
        bail!("{:02} is not a province code", cfg.province);
    }
    let (models, seeds) = seed_templates(&cfg.like)?;
    let models: Vec<ModelColumn> = models
        .into_iter()
        .map(|m| ModelColumn::new(&m.model, m.dims, cfg.encoding))
        .collect();
    let niks = synthetic_niks(cfg.province, cfg.entries, cfg.seed);
    let dir = province_dir(&cfg.out, cfg.province);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("part-{:05}.parquet", next_part(&dir)?));
    let seed = cfg.seed;
    let entries = niks.chunks(ROW_GROUP_ROWS).enumerate().flat_map(|(c, chunk)| {
        chunk
            .par_iter()
            .enumerate()
            .map(|(i, nik)| {
                let mut s = TemplateSampler::new(
                    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (c * ROW_GROUP_ROWS + i) as u64,
                    DEFAULT_SPREAD,
                );
                let real = &seeds[s.pick(seeds.len())];
                SyntheticEntry {
                    nik: nik.clone(),
                    embeddings: real.iter().map(|t| s.sample(t)).collect(),
                }
            })
            .collect::<Vec<_>>()
    });
    let n = write_synthetic_part(&path, &models, entries)?;
    let requests_file = match &cfg.requests {
        Some((rows, file)) => {
            write_requests(file, &niks, cfg.province, *rows, cfg.seed)?;
            Some(file.clone())
        }
        None => None,
    };
    Ok(SynthesizeReport {
        bytes_on_disk: std::fs::metadata(&path)?.len(),
        part_file: path,
        entries: n,
        seed_templates: seeds.len(),
        models: models.iter().map(|m| m.model.clone()).collect(),
        encoding: cfg.encoding,
        requests_file,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `rows` requests: 90 % for present synthetic NIKs (uniformly over the province), 10 % for
/// valid NIKs of the province that are absent. No selfie file exists.
fn write_requests(file: &std::path::Path, niks: &[String], province: u8, rows: usize, seed: u64) -> anyhow::Result<()> {
    let absent: Vec<String> = synthetic_niks(province, rows / 10 + 1, seed ^ 0xAB5E)
        .into_iter()
        .filter(|n| niks.binary_search(n).is_err())
        .collect();
    let mut pick = TemplateSampler::new(seed ^ 0x5EED, 0.0);
    let mut w = std::io::BufWriter::new(std::fs::File::create(file)?);
    writeln!(w, "request_id,nik,selfie_path")?;
    for r in 0..rows {
        let nik = if r % 10 == 9 && !absent.is_empty() {
            &absent[pick.pick(absent.len())]
        } else {
            &niks[pick.pick(niks.len())]
        };
        writeln!(w, "syn-{r:07},{nik},selfies/synthetic-no-such-file.jpg")?;
    }
    w.flush()?;
    Ok(())
}
