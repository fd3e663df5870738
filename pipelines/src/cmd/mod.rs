//! The `ikd` command line: one module per subcommand, each parsing its arguments and calling
//! the library (`eval`, `report`, `credential`, `demo`, `throughput`, `batch`, `review`),
//! then printing what it returned and choosing the exit code.
pub mod bench;
pub mod common;
pub mod compare;
pub mod credential;
pub mod demo;
pub mod embed;
pub mod eval;
pub mod gallery;
pub mod keys;
pub mod report;
pub mod review;
pub mod run;
