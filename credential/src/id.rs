//! The credential id (CWT `cti`): what a credential carries and a status list revokes.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::encoding::{hex, hex_decode};

/// A credential id (CWT `cti`), 16 bytes, shown as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CredentialId(pub [u8; 16]);

impl CredentialId {
    /// From exactly 16 bytes.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(Self)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({self})")
    }
}

impl FromStr for CredentialId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex_decode(s.trim())
            .and_then(|b| Self::from_slice(&b))
            .ok_or_else(|| format!("{s:?} is not a credential id (32 hex digits)"))
    }
}

impl Serialize for CredentialId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
