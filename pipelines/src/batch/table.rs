//! Streaming reader of a fixed list of string columns from a CSV or Parquet file (chosen by
//! extension). Never materialises the whole file: at most one Parquet record batch plus the
//! rows asked for are held.

use anyhow::{bail, Context};
use arrow::array::{Array, StringArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;

/// One column the caller wants.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub required: bool,
}

pub const fn required(name: &'static str) -> Column {
    Column { name, required: true }
}

pub const fn optional(name: &'static str) -> Column {
    Column { name, required: false }
}

enum Inner {
    Csv {
        reader: csv::Reader<File>,
        record: csv::ByteRecord,
    },
    Parquet(ParquetRecordBatchReader),
}

/// Rows come back as `Vec<String>` in the order of the requested columns; a missing optional
/// column, a short CSV row or a Parquet null gives `""`.
pub struct TableReader {
    inner: Inner,
    /// For each requested column, its position in the file (CSV) or in the projected batch.
    positions: Vec<Option<usize>>,
    pending: VecDeque<Vec<String>>,
    done: bool,
}

/// Whether a path names a Parquet file (by extension).
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

impl TableReader {
    pub fn open(path: &Path, columns: &[Column], batch_size: usize) -> anyhow::Result<TableReader> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        if is_parquet(path) {
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .with_context(|| format!("reading Parquet footer of {}", path.display()))?;
            let fields = builder.schema().fields().clone();
            let mut roots = Vec::new();
            let mut positions = Vec::new();
            for c in columns {
                match fields.iter().position(|f| f.name().trim().eq_ignore_ascii_case(c.name)) {
                    Some(i) => {
                        positions.push(Some(i));
                        roots.push(i);
                    }
                    None if c.required => bail!("{}: no column {}", path.display(), c.name),
                    None => positions.push(None),
                }
            }
            // The projected batch keeps the file's column order: map file index -> batch index.
            let mut sorted = roots.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let positions = positions
                .into_iter()
                .map(|p| p.and_then(|i| sorted.iter().position(|&s| s == i)))
                .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), sorted.iter().copied());
            let reader = builder
                .with_projection(mask)
                .with_batch_size(batch_size.max(1))
                .build()?;
            Ok(TableReader {
                inner: Inner::Parquet(reader),
                positions,
                pending: VecDeque::new(),
                done: false,
            })
        } else {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
            let headers = reader
                .byte_headers()
                .with_context(|| format!("reading header of {}", path.display()))?
                .clone();
            let names: Vec<String> = headers
                .iter()
                .map(|h| {
                    String::from_utf8_lossy(h)
                        .trim()
                        .trim_start_matches('\u{feff}')
                        .to_ascii_lowercase()
                })
                .collect();
            let mut positions = Vec::new();
            for c in columns {
                match names.iter().position(|n| n == c.name) {
                    Some(i) => positions.push(Some(i)),
                    None if c.required => bail!("{}: no column {}", path.display(), c.name),
                    None => positions.push(None),
                }
            }
            Ok(TableReader {
                inner: Inner::Csv {
                    reader,
                    record: csv::ByteRecord::new(),
                },
                positions,
                pending: VecDeque::new(),
                done: false,
            })
        }
    }

    /// Up to `n` more rows; an empty vector at the end of the file.
    pub fn next_chunk(&mut self, n: usize) -> anyhow::Result<Vec<Vec<String>>> {
        let mut out = Vec::with_capacity(n.min(1 << 16));
        while out.len() < n {
            if let Some(row) = self.pending.pop_front() {
                out.push(row);
                continue;
            }
            if self.done {
                break;
            }
            match &mut self.inner {
                Inner::Csv { reader, record } => {
                    if !reader.read_byte_record(record)? {
                        self.done = true;
                        continue;
                    }
                    let row = self
                        .positions
                        .iter()
                        .map(|p| {
                            p.and_then(|i| record.get(i))
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                                .unwrap_or_default()
                        })
                        .collect();
                    out.push(row);
                }
                Inner::Parquet(reader) => match reader.next() {
                    None => self.done = true,
                    Some(batch) => {
                        let batch = batch?;
                        let mut cols: Vec<Option<StringArray>> = Vec::new();
                        for p in &self.positions {
                            cols.push(match p {
                                Some(i) => {
                                    let arr = arrow::compute::cast(batch.column(*i), &DataType::Utf8)?;
                                    arr.as_any().downcast_ref::<StringArray>().cloned()
                                }
                                None => None,
                            });
                        }
                        for r in 0..batch.num_rows() {
                            self.pending.push_back(
                                cols.iter()
                                    .map(|c| match c {
                                        Some(a) if a.is_valid(r) => a.value(r).to_string(),
                                        _ => String::new(),
                                    })
                                    .collect(),
                            );
                        }
                    }
                },
            }
        }
        Ok(out)
    }
}
