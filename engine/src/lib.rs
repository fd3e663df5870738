//! ikd-engine: face verification and credentials for Indonesia's digital ID (IKD).
#![forbid(unsafe_code)]

pub mod credential;
pub mod nik;
