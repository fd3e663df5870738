//! Integration tests of `ikd gallery build` / `ikd run` on the demo data set with the real
//! models. One test binary; the demo data set, the gallery and one uninterrupted reference run
//! are made once and shared.

mod browser;
mod common;
mod fuzz_replay;
mod gallery;
mod hostile;
mod hygiene;
mod qr;
mod review;
mod run;
mod s3;
