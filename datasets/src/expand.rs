//! Scale tests: a demo `requests.csv` repeated to any number of rows with new request ids.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use ikd_engine::nik::Nik;

use crate::error::DatasetError;

/// Write `n` request rows to `out_csv` by repeating the valid rows of a demo `requests.csv`
/// (rows whose expected outcome is `match` or `no_match`, read from the sibling
/// `expected.csv`; without it: rows with a valid NIK, an existing selfie and a first-seen
/// request id), with new unique request ids `REQ-000001`... Selfie paths stay relative when
/// `out_csv` is in the same directory as `requests_csv`, and become absolute otherwise.
/// Returns the number of rows written (`n`).
pub fn expand_requests(requests_csv: &Path, n: usize, out_csv: &Path) -> Result<usize, DatasetError> {
    let in_dir = requests_csv.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut reader = csv::Reader::from_path(requests_csv).map_err(|e| DatasetError::csv(requests_csv, e))?;
    let headers = reader
        .headers()
        .map_err(|e| DatasetError::csv(requests_csv, e))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DatasetError::Invalid(format!("{}: no column {name}", requests_csv.display())))
    };
    let (id_col, nik_col, path_col) = (col("request_id")?, col("nik")?, col("selfie_path")?);
    let mut records = Vec::new();
    for rec in reader.records() {
        records.push(rec.map_err(|e| DatasetError::csv(requests_csv, e))?);
    }

    let expected_path = in_dir.join("expected.csv");
    let keep: Vec<bool> = if expected_path.is_file() {
        let mut r = csv::Reader::from_path(&expected_path).map_err(|e| DatasetError::csv(&expected_path, e))?;
        let mut codes = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| DatasetError::csv(&expected_path, e))?;
            codes.push(rec.get(1).unwrap_or("").to_string());
        }
        if codes.len() != records.len() {
            return Err(DatasetError::Invalid(format!(
                "{} has {} rows but {} has {}",
                expected_path.display(),
                codes.len(),
                requests_csv.display(),
                records.len()
            )));
        }
        codes.iter().map(|c| c == "match" || c == "no_match").collect()
    } else {
        let mut seen = HashSet::new();
        records
            .iter()
            .map(|r| {
                let id = r.get(id_col).unwrap_or("");
                let nik_ok = Nik::parse(r.get(nik_col).unwrap_or("")).is_ok();
                let file_ok = in_dir.join(r.get(path_col).unwrap_or("")).is_file();
                seen.insert(id.to_string()) && nik_ok && file_ok
            })
            .collect()
    };
    let valid: Vec<&csv::StringRecord> = records.iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| r).collect();
    if valid.is_empty() && n > 0 {
        return Err(DatasetError::Invalid(format!(
            "{} has no valid request rows to repeat",
            requests_csv.display()
        )));
    }

    let out_dir = out_csv.parent().map(Path::to_path_buf).unwrap_or_default();
    let same_dir = match (fs::canonicalize(&in_dir), fs::canonicalize(&out_dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => in_dir == out_dir,
    };
    let base = if same_dir {
        None
    } else {
        Some(fs::canonicalize(&in_dir).unwrap_or(in_dir.clone()))
    };

    let mut w = csv::Writer::from_path(out_csv).map_err(|e| DatasetError::csv(out_csv, e))?;
    w.write_record(&headers).map_err(|e| DatasetError::csv(out_csv, e))?;
    let width = n.to_string().len().max(6);
    for i in 0..n {
        let src = valid[i % valid.len()];
        let mut row: Vec<String> = src.iter().map(str::to_string).collect();
        row[id_col] = format!("REQ-{:0width$}", i + 1);
        if let Some(base) = &base {
            let rel = Path::new(&row[path_col]);
            if rel.is_relative() {
                row[path_col] = base.join(rel).to_string_lossy().into_owned();
            }
        }
        w.write_record(&row).map_err(|e| DatasetError::csv(out_csv, e))?;
    }
    w.flush().map_err(|e| DatasetError::io(out_csv, e))?;
    Ok(n)
}
