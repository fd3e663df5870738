//! Streaming reader of a fixed list of string columns from a CSV or Parquet file (chosen by
//! extension). Never materialises the whole file: at most one Parquet record batch plus the
//! rows asked for are held.

use anyhow::Context;
use arrow::array::{Array, StringArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;

/// A refusal of the input file: the user must fix it (`UsageError`, exit code 2).
macro_rules! refuse {
    ($($arg:tt)*) => {
        anyhow::Error::from(super::UsageError(format!($($arg)*)))
    };
}

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

/// The longest field a CSV row may hold: longer than any NIK, request id, path (PATH_MAX) or
/// e-mail address, so a longer one means a broken file (e.g. an unterminated quote).
pub const MAX_FIELD_BYTES: usize = 4096;

/// Rows come back as `Vec<String>` in the order of the requested columns; a missing optional
/// column or a Parquet null gives `""`.
///
/// A CSV file whose structure is in doubt is refused with its line number rather than read
/// into fewer or more rows: a row with another number of fields than the header, a field that
/// spans lines or is longer than [`MAX_FIELD_BYTES`] (the signs of an unterminated quote), a NUL
/// byte, bytes that are not UTF-8, a duplicate or empty column name. A BOM and CRLF/LF line
/// ends are accepted. Parquet columns must be of a type that casts to text.
pub struct TableReader {
    inner: Inner,
    /// For each requested column, its position in the file (CSV) or in the projected batch.
    positions: Vec<Option<usize>>,
    pending: VecDeque<Vec<String>>,
    done: bool,
    path: std::path::PathBuf,
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
            let builder = super::guard_parser(
                || path.display().to_string(),
                || {
                    ParquetRecordBatchReaderBuilder::try_new(file)
                        .map_err(|e| refuse!("{}: not a readable Parquet file: {e}", path.display()))
                },
            )
            .map_err(|e| refuse!("{e:#}"))?;
            let fields = builder.schema().fields().clone();
            let names: Vec<String> = fields.iter().map(|f| f.name().trim().to_ascii_lowercase()).collect();
            check_column_names(path, &names)?;
            let mut roots = Vec::new();
            let mut positions = Vec::new();
            for c in columns {
                match names.iter().position(|n| n == c.name) {
                    Some(i) => {
                        let dt = fields[i].data_type();
                        let text = matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
                        let integer = dt.is_integer() && arrow::compute::can_cast_types(dt, &DataType::Utf8);
                        if !text && !integer {
                            return Err(refuse!(
                                "{}: column {} is of type {dt}; a text (or integer) column is needed",
                                path.display(),
                                c.name
                            ));
                        }
                        positions.push(Some(i));
                        roots.push(i);
                    }
                    None if c.required => return Err(refuse!("{}: no column {}", path.display(), c.name)),
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
            let reader = super::guard_parser(
                || path.display().to_string(),
                || {
                    Ok(builder
                        .with_projection(mask)
                        .with_batch_size(batch_size.max(1))
                        .build()?)
                },
            )
            .map_err(|e| refuse!("{e:#}"))?;
            Ok(TableReader {
                inner: Inner::Parquet(reader),
                positions,
                pending: VecDeque::new(),
                done: false,
                path: path.to_path_buf(),
            })
        } else {
            // Not `flexible`: a row with another number of fields than the header is an error.
            let mut reader = csv::ReaderBuilder::new().from_reader(file);
            let headers = reader
                .byte_headers()
                .map_err(|e| csv_error(path, &e))
                .with_context(|| format!("reading header of {}", path.display()))?
                .clone();
            check_record(path, &headers, 1)?;
            let names: Vec<String> = headers
                .iter()
                .map(|h| {
                    String::from_utf8_lossy(h)
                        .trim()
                        .trim_start_matches('\u{feff}')
                        .to_ascii_lowercase()
                })
                .collect();
            check_column_names(path, &names)?;
            let mut positions = Vec::new();
            for c in columns {
                match names.iter().position(|n| n == c.name) {
                    Some(i) => positions.push(Some(i)),
                    None if c.required => return Err(refuse!("{}: no column {}", path.display(), c.name)),
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
                path: path.to_path_buf(),
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
                    if !reader
                        .read_byte_record(record)
                        .map_err(|e| csv_error(self.path.as_path(), &e))?
                    {
                        self.done = true;
                        continue;
                    }
                    let line = record.position().map_or(0, csv::Position::line);
                    check_record(&self.path, record, line)?;
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
                Inner::Parquet(reader) => {
                    match super::guard_parser(|| self.path.display().to_string(), || Ok(reader.next().transpose()?)) {
                        Err(e) => {
                            self.done = true;
                            return Err(refuse!("{e:#}"));
                        }
                        Ok(None) => self.done = true,
                        Ok(Some(batch)) => {
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
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Column names must be unique and non-empty: with a duplicate, which one is read is a guess.
fn check_column_names(path: &Path, names: &[String]) -> anyhow::Result<()> {
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(refuse!("{}: column {} has no name", path.display(), i + 1));
        }
        if names[..i].contains(n) {
            return Err(refuse!("{}: column {n} appears twice", path.display()));
        }
    }
    Ok(())
}

/// Refuses a CSV record that shows the file's structure is broken (see [`TableReader`]).
fn check_record(path: &Path, record: &csv::ByteRecord, line: u64) -> anyhow::Result<()> {
    for (i, field) in record.iter().enumerate() {
        let what = |problem: &str| format!("{}: line {line}, field {}: {problem}", path.display(), i + 1);
        if field.len() > MAX_FIELD_BYTES {
            return Err(refuse!(
                "{} (an unterminated quote?)",
                what(&format!("{} bytes, more than {MAX_FIELD_BYTES}", field.len()))
            ));
        }
        if field.contains(&b'\n') || field.contains(&b'\r') {
            return Err(refuse!(
                "{}",
                what("a line break inside a field (an unterminated quote?)")
            ));
        }
        if field.contains(&0) {
            return Err(refuse!("{}", what("a NUL byte")));
        }
        if std::str::from_utf8(field).is_err() {
            return Err(refuse!("{}", what("not UTF-8")));
        }
    }
    Ok(())
}

/// The csv crate's error with the file name and the line number in words.
fn csv_error(path: &Path, e: &csv::Error) -> anyhow::Error {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => refuse!(
            "{}: line {}: {len} fields where the header has {expected_len} (a missing or extra comma, or an unterminated quote)",
            path.display(),
            pos.as_ref().map_or(0, csv::Position::line)
        ),
        csv::ErrorKind::Io(_) => anyhow::anyhow!("{}: {e}", path.display()),
        _ => refuse!("{}: {e}", path.display()),
    }
}
