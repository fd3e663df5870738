//! The identity carried in claim 169 (MOSIP "Claim 169 QR code" spec, demographic keys 1–23)
//! and its CBOR encoding/decoding.
//!
//! Keys used: 1 id (NIK), 4 full name, 8 date of birth (`YYYYMMDD`), 9 gender (1 male,
//! 2 female, 3 other), 10 address, 11 email, 12 phone, 13 nationality. Other keys found when
//! verifying are ignored (forward compatibility).

use ciborium::Value;
use serde::{Deserialize, Serialize};

use super::encoding::{cbor_bytes, cbor_head, cbor_int, cbor_text, MAJOR_MAP};
use super::CredentialError;

/// Claim 169 key: unique id (the NIK).
pub const KEY_ID: i64 = 1;
/// Claim 169 key: full name.
pub const KEY_FULL_NAME: i64 = 4;
/// Claim 169 key: date of birth, `YYYYMMDD`.
pub const KEY_DATE_OF_BIRTH: i64 = 8;
/// Claim 169 key: gender (1 male, 2 female, 3 other).
pub const KEY_GENDER: i64 = 9;
/// Claim 169 key: address (lines separated by `\n`).
pub const KEY_ADDRESS: i64 = 10;
/// Claim 169 key: email.
pub const KEY_EMAIL: i64 = 11;
/// Claim 169 key: phone (E.123).
pub const KEY_PHONE: i64 = 12;
/// Claim 169 key: nationality (ISO 3166-1/2).
pub const KEY_NATIONALITY: i64 = 13;
/// Claim 169 key: the holder's photo (binary image).
pub const KEY_PHOTO: i64 = 16;
/// Claim 169 key: the photo's format (1 JPEG, 2 JPEG 2000, 3 AVIF, 4 WebP).
pub const KEY_PHOTO_FORMAT: i64 = 17;
/// Largest photo accepted in a credential, in bytes: a version-40 QR code holds 2,953 bytes
/// in all at error correction L (about 1,950 Base45 bytes at M), so anything larger cannot be
/// scanned anyway.
pub const MAX_PHOTO_BYTES: usize = 2_048;

/// Image format of the holder's photo (claim 169 key 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoFormat {
    /// 1
    Jpeg,
    /// 2
    Jpeg2000,
    /// 3
    Avif,
    /// 4
    Webp,
}

impl PhotoFormat {
    /// The claim 169 code.
    pub const fn code(self) -> i64 {
        match self {
            Self::Jpeg => 1,
            Self::Jpeg2000 => 2,
            Self::Avif => 3,
            Self::Webp => 4,
        }
    }

    /// The format for a claim 169 code.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Jpeg),
            2 => Some(Self::Jpeg2000),
            3 => Some(Self::Avif),
            4 => Some(Self::Webp),
            _ => None,
        }
    }

    /// True if `bytes` start with this format's signature (no decoding: the verifier's
    /// face check decodes, this crate only refuses bytes that cannot be the format named).
    pub fn matches(self, bytes: &[u8]) -> bool {
        match self {
            Self::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Jpeg2000 => {
                bytes.starts_with(&[0, 0, 0, 0x0C, b'j', b'P', b' ', b' '])
                    || bytes.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
            }
            Self::Avif => bytes.get(4..12).is_some_and(|b| b == b"ftypavif" || b == b"ftypavis"),
            Self::Webp => bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP"),
        }
    }
}

/// The holder's photo carried in a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// Its format (key 17).
    pub format: PhotoFormat,
    /// The image bytes (key 16), at most [`MAX_PHOTO_BYTES`].
    pub bytes: Vec<u8>,
}

impl Photo {
    /// Check size and format signature.
    pub fn validate(&self) -> Result<(), CredentialError> {
        if self.bytes.len() > MAX_PHOTO_BYTES {
            return Err(CredentialError::InvalidPhoto(format!(
                "{} bytes, more than the {MAX_PHOTO_BYTES} a scannable QR code can carry",
                self.bytes.len()
            )));
        }
        if !self.format.matches(&self.bytes) {
            return Err(CredentialError::InvalidPhoto(format!(
                "the bytes are not {:?} (wrong signature)",
                self.format
            )));
        }
        Ok(())
    }
}

/// Gender as coded in claim 169 key 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// 1
    Male,
    /// 2
    Female,
    /// 3
    Other,
}

impl Gender {
    /// The claim 169 code.
    pub const fn code(self) -> i64 {
        match self {
            Self::Male => 1,
            Self::Female => 2,
            Self::Other => 3,
        }
    }

    /// The gender for a claim 169 code.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Male),
            2 => Some(Self::Female),
            3 => Some(Self::Other),
            _ => None,
        }
    }
}

/// The identity in a credential.
///
/// `date_of_birth` is accepted as `YYYY-MM-DD` (or the spec's `YYYYMMDD`) and encoded as
/// `YYYYMMDD`; verified credentials give it back as `YYYY-MM-DD`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// NIK (claim 169 key 1).
    pub id: String,
    /// Full name (key 4).
    pub full_name: String,
    /// Date of birth, `YYYY-MM-DD` (key 8, encoded `YYYYMMDD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// Gender (key 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    /// Email (key 11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Address (key 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Phone (key 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Nationality (key 13), e.g. `ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    /// The holder's photo (keys 16 and 17). Not part of the JSON form (binary).
    #[serde(skip)]
    pub photo: Option<Photo>,
}

/// `YYYY-MM-DD` or `YYYYMMDD` → `YYYYMMDD` (8 ASCII digits, month 01–12, day 01–31).
fn dob_to_spec(dob: &str) -> Option<[u8; 8]> {
    let b = dob.as_bytes();
    let digits: Vec<u8> = match b.len() {
        10 if b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') => b
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 4 && *i != 7)
            .map(|(_, &c)| c)
            .collect(),
        8 => b.to_vec(),
        _ => return None,
    };
    let out: [u8; 8] = digits.try_into().ok()?;
    if !out.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        out.get(r)
            .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u32>().ok())
    };
    let (month, day) = (num(4..6)?, num(6..8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(out)
}

/// `YYYYMMDD` → `YYYY-MM-DD`.
fn dob_from_spec(dob: &str) -> Option<String> {
    let spec = dob_to_spec(dob)?;
    let s = std::str::from_utf8(&spec).ok()?;
    Some(format!("{}-{}-{}", s.get(0..4)?, s.get(4..6)?, s.get(6..8)?))
}

impl Identity {
    /// Check the fields can be encoded.
    pub fn validate(&self) -> Result<(), CredentialError> {
        if self.id.is_empty() {
            return Err(CredentialError::InvalidIdentity("id (NIK) is empty".into()));
        }
        if self.full_name.is_empty() {
            return Err(CredentialError::InvalidIdentity("full_name is empty".into()));
        }
        if let Some(photo) = &self.photo {
            photo.validate()?;
        }
        if let Some(dob) = &self.date_of_birth {
            if dob_to_spec(dob).is_none() {
                return Err(CredentialError::InvalidIdentity(format!(
                    "date_of_birth {dob:?} is not YYYY-MM-DD"
                )));
            }
        }
        Ok(())
    }

    /// Append the claim 169 CBOR map (keys in ascending order: deterministic encoding).
    pub(crate) fn write_cbor(&self, out: &mut Vec<u8>) -> Result<(), CredentialError> {
        let dob =
            match &self.date_of_birth {
                Some(d) => Some(dob_to_spec(d).ok_or_else(|| {
                    CredentialError::InvalidIdentity(format!("date_of_birth {d:?} is not YYYY-MM-DD"))
                })?),
                None => None,
            };
        if self.id.is_empty() || self.full_name.is_empty() {
            return Err(CredentialError::InvalidIdentity("id and full_name are required".into()));
        }
        let optional = [&self.address, &self.email, &self.phone, &self.nationality];
        if let Some(photo) = &self.photo {
            photo
                .validate()
                .map_err(|e| CredentialError::InvalidIdentity(e.to_string()))?;
        }
        let count = 2
            + usize::from(dob.is_some())
            + usize::from(self.gender.is_some())
            + optional.iter().filter(|o| o.is_some()).count()
            + 2 * usize::from(self.photo.is_some());
        cbor_head(out, MAJOR_MAP, count as u64);
        cbor_int(out, KEY_ID);
        cbor_text(out, &self.id);
        cbor_int(out, KEY_FULL_NAME);
        cbor_text(out, &self.full_name);
        if let Some(d) = &dob {
            cbor_int(out, KEY_DATE_OF_BIRTH);
            // dob_to_spec returned ASCII digits only.
            cbor_text(out, std::str::from_utf8(d).unwrap_or_default());
        }
        if let Some(g) = self.gender {
            cbor_int(out, KEY_GENDER);
            cbor_int(out, g.code());
        }
        for (key, value) in [KEY_ADDRESS, KEY_EMAIL, KEY_PHONE, KEY_NATIONALITY]
            .into_iter()
            .zip(optional)
        {
            if let Some(v) = value {
                cbor_int(out, key);
                cbor_text(out, v);
            }
        }
        if let Some(photo) = &self.photo {
            cbor_int(out, KEY_PHOTO);
            cbor_bytes(out, &photo.bytes);
            cbor_int(out, KEY_PHOTO_FORMAT);
            cbor_int(out, photo.format.code());
        }
        Ok(())
    }

    /// Read the identity from a decoded claim 169 map.
    pub(crate) fn from_cbor(value: &Value) -> Result<Self, CredentialError> {
        let bad = |m: String| CredentialError::InvalidClaim169(m);
        let Value::Map(entries) = value else {
            return Err(bad("claim 169 is not a map".into()));
        };
        let mut id = None;
        let mut identity = Identity::default();
        let mut full_name = None;
        let (mut photo_bytes, mut photo_format) = (None, None);
        let mut seen = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let key = int_key(k).ok_or_else(|| bad("claim 169 keys must be integers".into()))?;
            if seen.contains(&key) {
                return Err(bad(format!("duplicate key {key}")));
            }
            seen.push(key);
            let text = |v: &Value| match v {
                Value::Text(s) => Ok(s.clone()),
                _ => Err(bad(format!("key {key} must be a text string"))),
            };
            match key {
                KEY_ID => id = Some(text(v)?),
                KEY_FULL_NAME => full_name = Some(text(v)?),
                KEY_DATE_OF_BIRTH => {
                    let raw = text(v)?;
                    identity.date_of_birth =
                        Some(dob_from_spec(&raw).ok_or_else(|| bad(format!("date of birth {raw:?} is not YYYYMMDD")))?);
                }
                KEY_GENDER => {
                    let code = match v {
                        Value::Integer(i) => i64::try_from(*i).ok(),
                        _ => None,
                    };
                    identity.gender = Some(
                        code.and_then(Gender::from_code)
                            .ok_or_else(|| bad("gender must be 1, 2 or 3".into()))?,
                    );
                }
                KEY_ADDRESS => identity.address = Some(text(v)?),
                KEY_EMAIL => identity.email = Some(text(v)?),
                KEY_PHONE => identity.phone = Some(text(v)?),
                KEY_NATIONALITY => identity.nationality = Some(text(v)?),
                KEY_PHOTO => match v {
                    Value::Bytes(b) => photo_bytes = Some(b.clone()),
                    _ => return Err(bad("photo (key 16) must be a byte string".into())),
                },
                KEY_PHOTO_FORMAT => {
                    photo_format = Some(match v {
                        Value::Integer(i) => i64::try_from(*i).ok(),
                        _ => None,
                    })
                }
                _ => {} // other claim 169 fields: ignored (forward compatible)
            }
        }
        identity.photo = match (photo_bytes, photo_format) {
            (None, None) => None,
            (Some(_), None) => return Err(bad("a photo (key 16) without its format (key 17)".into())),
            (None, Some(_)) => return Err(bad("a photo format (key 17) without a photo".into())),
            (Some(bytes), Some(code)) => {
                let format = code
                    .and_then(PhotoFormat::from_code)
                    .ok_or_else(|| CredentialError::InvalidPhoto("unknown photo format (key 17)".into()))?;
                let photo = Photo { format, bytes };
                photo.validate()?;
                Some(photo)
            }
        };
        identity.id = id.ok_or_else(|| bad("no id (key 1)".into()))?;
        identity.full_name = full_name.ok_or_else(|| bad("no full name (key 4)".into()))?;
        Ok(identity)
    }
}

/// An integer map key that fits i64.
pub(crate) fn int_key(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(dob_to_spec("1990-05-15"), Some(*b"19900515"));
        assert_eq!(dob_to_spec("19900515"), Some(*b"19900515"));
        assert_eq!(dob_to_spec("1990-13-15"), None);
        assert_eq!(dob_to_spec("1990/05/15"), None);
        assert_eq!(dob_to_spec("１９９０-05-15"), None);
        assert_eq!(dob_from_spec("19900515").as_deref(), Some("1990-05-15"));
    }
}
