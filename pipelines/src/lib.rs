//! The `ikd` command line's library half, so that tests, examples and benches call what the
//! commands do without a process: the argument parsers (`cmd`, one module per subcommand)
//! call the library modules below them.
//!
//! * [`batch`]: the nightly run and the gallery (readers, chunk loop, Parquet writers, resume,
//!   sharding, lookups, compaction);
//! * [`review`]: the officers' review page and issuing after approval;
//! * [`eval`]: evaluation and calibration on labelled pairs;
//! * [`report`]: a run's report page;
//! * [`credential`]: what the credential commands do (verify with status lists and the
//!   offline face check, QR codes, revocation);
//! * [`demo`]: the demo end to end; [`throughput`]: `ikd bench`'s measurement;
//! * [`fonts`]: the bundled font plots use.
//!
//! docs/architecture.md shows which way the modules import.

pub mod batch;
pub mod cmd;
pub mod credential;
pub mod demo;
pub mod eval;
pub mod fonts;
#[doc(hidden)]
pub mod fuzzing;
pub mod report;
pub mod review;
pub mod throughput;
