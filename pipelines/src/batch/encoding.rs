//! How a gallery stores an embedding: `f32` (exact), `f16` (half the bytes) or `int8` with a
//! per-vector scale (a quarter of the bytes, plus 4).
//!
//! | encoding | Arrow type of `emb_<model>`          | bytes per value      |
//! |----------|---------------------------------------|----------------------|
//! | `f32`    | `FixedSizeList<Float32, dims>`        | 4                    |
//! | `f16`    | `FixedSizeBinary(2 * dims)`, LE halves| 2                    |
//! | `int8`   | `FixedSizeBinary(4 + dims)`: LE `f32` scale, then `dims` `i8` | 1 (+4 per vector) |
//!
//! The column's field metadata names the encoding (`ikd.encoding`) next to the model id
//! (`ikd.model`); a column without it is `f32` (galleries written before compact encodings).
//! Readers decode to `f32`; the engine re-normalises, so a scale never matters for cosine.

use anyhow::{bail, Context};
use arrow::array::{Array, ArrayRef, FixedSizeBinaryArray, FixedSizeListArray, Float32Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field};
use std::sync::Arc;

/// Field metadata key naming a column's [`EmbeddingEncoding`].
pub const ENCODING_KEY: &str = "ikd.encoding";

/// How a gallery column stores embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingEncoding {
    F32,
    #[default]
    F16,
    Int8,
}

impl EmbeddingEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddingEncoding::F32 => "f32",
            EmbeddingEncoding::F16 => "f16",
            EmbeddingEncoding::Int8 => "int8",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "f32" => Some(EmbeddingEncoding::F32),
            "f16" => Some(EmbeddingEncoding::F16),
            "int8" => Some(EmbeddingEncoding::Int8),
            _ => None,
        }
    }

    /// Bytes one stored vector of `dims` values takes (before Parquet framing).
    pub fn bytes_per_vector(self, dims: usize) -> usize {
        match self {
            EmbeddingEncoding::F32 => 4 * dims,
            EmbeddingEncoding::F16 => 2 * dims,
            EmbeddingEncoding::Int8 => 4 + dims,
        }
    }

    /// The Arrow type of a column holding vectors of `dims` values.
    pub fn data_type(self, dims: usize) -> DataType {
        match self {
            EmbeddingEncoding::F32 => {
                DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), dims as i32)
            }
            _ => DataType::FixedSizeBinary(self.bytes_per_vector(dims) as i32),
        }
    }

    /// The encoding of a gallery column, from its field metadata and type.
    pub fn of_field(field: &Field) -> anyhow::Result<(EmbeddingEncoding, usize)> {
        let enc = match field.metadata().get(ENCODING_KEY) {
            Some(s) => EmbeddingEncoding::parse(s)
                .with_context(|| format!("column {}: unknown embedding encoding {s:?}", field.name()))?,
            None => EmbeddingEncoding::F32,
        };
        let dims = match (enc, field.data_type()) {
            (EmbeddingEncoding::F32, DataType::FixedSizeList(item, n)) if item.data_type() == &DataType::Float32 => {
                *n as usize
            }
            (EmbeddingEncoding::F16, DataType::FixedSizeBinary(n)) if *n > 0 && n % 2 == 0 => *n as usize / 2,
            (EmbeddingEncoding::Int8, DataType::FixedSizeBinary(n)) if *n > 4 => *n as usize - 4,
            (e, t) => bail!(
                "column {}: type {t} does not hold {} embeddings",
                field.name(),
                e.as_str()
            ),
        };
        Ok((enc, dims))
    }

    /// One column of `dims`-value vectors; `None` (or a vector of another length) is a null.
    pub fn encode_column(self, dims: usize, vectors: &[Option<&[f32]>]) -> anyhow::Result<ArrayRef> {
        let valid: Vec<bool> = vectors.iter().map(|v| v.is_some_and(|v| v.len() == dims)).collect();
        let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid.clone()));
        let width = self.bytes_per_vector(dims);
        Ok(match self {
            EmbeddingEncoding::F32 => {
                let mut values = Vec::with_capacity(vectors.len() * dims);
                for (v, ok) in vectors.iter().zip(&valid) {
                    match v {
                        Some(v) if *ok => values.extend_from_slice(v),
                        _ => values.extend(std::iter::repeat_n(0.0, dims)),
                    }
                }
                let item = Arc::new(Field::new("item", DataType::Float32, false));
                Arc::new(FixedSizeListArray::try_new(
                    item,
                    dims as i32,
                    Arc::new(Float32Array::from(values)),
                    nulls,
                )?)
            }
            _ => {
                let mut bytes = Vec::with_capacity(vectors.len() * width);
                for (v, ok) in vectors.iter().zip(&valid) {
                    match v {
                        Some(v) if *ok => self.encode_into(v, &mut bytes),
                        _ => bytes.extend(std::iter::repeat_n(0u8, width)),
                    }
                }
                Arc::new(FixedSizeBinaryArray::try_new(width as i32, bytes.into(), nulls)?)
            }
        })
    }

    fn encode_into(self, v: &[f32], out: &mut Vec<u8>) {
        match self {
            EmbeddingEncoding::F32 => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            EmbeddingEncoding::F16 => v
                .iter()
                .for_each(|x| out.extend_from_slice(&half::f16::from_f32(*x).to_le_bytes())),
            EmbeddingEncoding::Int8 => {
                // Symmetric per-vector scale: the largest |value| maps to 127.
                let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                out.extend_from_slice(&scale.to_le_bytes());
                v.iter()
                    .for_each(|x| out.push(((x / scale).round().clamp(-127.0, 127.0) as i8) as u8));
            }
        }
    }

    /// Row `r` of a column of this encoding, decoded to `f32`; `None` when null or malformed.
    pub fn decode(self, column: &dyn Array, dims: usize, r: usize) -> Option<Vec<f32>> {
        if column.is_null(r) {
            return None;
        }
        match self {
            EmbeddingEncoding::F32 => {
                let list = column.as_any().downcast_ref::<FixedSizeListArray>()?;
                let values = list.values().as_any().downcast_ref::<Float32Array>()?;
                let start = list.value_offset_at(r);
                Some(values.values().get(start..start + dims)?.to_vec())
            }
            EmbeddingEncoding::F16 => {
                let b = column.as_any().downcast_ref::<FixedSizeBinaryArray>()?.value(r);
                (b.len() == 2 * dims).then(|| {
                    b.chunks_exact(2)
                        .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                        .collect()
                })
            }
            EmbeddingEncoding::Int8 => {
                let b = column.as_any().downcast_ref::<FixedSizeBinaryArray>()?.value(r);
                if b.len() != 4 + dims {
                    return None;
                }
                let scale = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                Some(b[4..].iter().map(|&q| f32::from(q as i8) * scale).collect())
            }
        }
    }

    /// `v` as it reads back after storing it in this encoding (for accuracy evaluation).
    pub fn round_trip(self, v: &[f32]) -> Vec<f32> {
        if self == EmbeddingEncoding::F32 {
            return v.to_vec();
        }
        let mut bytes = Vec::new();
        self.encode_into(v, &mut bytes);
        FixedSizeBinaryArray::try_new(bytes.len() as i32, bytes.into(), None)
            .ok()
            .and_then(|col| self.decode(&col, v.len(), 0))
            .unwrap_or_else(|| v.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u32, dims: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dims)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761u32) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
    }

    #[test]
    fn every_encoding_reads_back_close_to_the_vector_and_keeps_nulls() {
        for enc in [EmbeddingEncoding::F32, EmbeddingEncoding::F16, EmbeddingEncoding::Int8] {
            let (a, b) = (unit(1, 128), unit(2, 128));
            let col = enc
                .encode_column(128, &[Some(&a), None, Some(&b[..64]), Some(&b)])
                .unwrap();
            assert_eq!(col.data_type(), &enc.data_type(128));
            let back = enc.decode(col.as_ref(), 128, 0).unwrap();
            let min_cos = match enc {
                EmbeddingEncoding::F32 => 1.0,
                EmbeddingEncoding::F16 => 0.99999,
                EmbeddingEncoding::Int8 => 0.9995,
            };
            assert!(cos(&a, &back) >= min_cos, "{enc:?}: {}", cos(&a, &back));
            assert!(enc.decode(col.as_ref(), 128, 1).is_none(), "null stays null");
            assert!(
                enc.decode(col.as_ref(), 128, 2).is_none(),
                "a wrong-length vector is stored as null"
            );
            assert!(cos(&b, &enc.decode(col.as_ref(), 128, 3).unwrap()) >= min_cos);
            assert_eq!(enc.round_trip(&a), back);
            let field =
                Field::new("emb_x", enc.data_type(128), true).with_metadata(std::collections::HashMap::from([(
                    ENCODING_KEY.to_owned(),
                    enc.as_str().to_owned(),
                )]));
            assert_eq!(EmbeddingEncoding::of_field(&field).unwrap(), (enc, 128));
        }
    }

    #[test]
    fn a_column_of_the_wrong_type_for_its_encoding_is_refused() {
        let field =
            Field::new("emb_x", DataType::FixedSizeBinary(256), true).with_metadata(std::collections::HashMap::from([
                (ENCODING_KEY.to_owned(), "f32".to_owned()),
            ]));
        assert!(EmbeddingEncoding::of_field(&field).is_err());
        let field =
            Field::new("emb_x", DataType::FixedSizeBinary(256), true).with_metadata(std::collections::HashMap::from([
                (ENCODING_KEY.to_owned(), "bf16".to_owned()),
            ]));
        assert!(EmbeddingEncoding::of_field(&field).is_err());
    }
}
