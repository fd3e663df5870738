//! The `ikd` command line's library half: one module per subcommand (`cmd`) and the batch
//! machinery (`batch`), so integration tests and benches can call them without a process.

pub mod batch;
pub mod cmd;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod review;
