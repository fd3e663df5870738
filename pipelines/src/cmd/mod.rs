//! One module per subcommand.
pub mod bench;
pub mod common;
pub mod compare;
pub mod credential;
pub mod demo;
pub mod embed;
pub mod eval;
pub mod eval_portrait;
pub mod fonts;
pub mod gallery;
pub mod keys;
pub mod report;
pub mod review;
pub mod run;
pub mod run_report;
