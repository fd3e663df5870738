//! One integration-test binary for the engine (shared helpers, one link).
mod backend;
mod common;
mod faces;
mod models;
mod portrait;
mod reference;
mod refine;
