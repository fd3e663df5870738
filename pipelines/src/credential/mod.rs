//! What the credential commands do, apart from parsing their arguments: verifying a
//! credential with a status list and the offline face check ([`verify`]), QR codes ([`qr`]),
//! revocation files and status lists ([`revocation`]), the holder's photo ([`photo`]). The
//! credential format itself is `ikd_credential`'s (re-exported as `ikd_engine::credential`);
//! issuing inside a run is `batch::run`'s, after an officer's approval `review`'s.

pub mod photo;
pub mod qr;
pub mod revocation;
pub mod verify;
