//! The embedded platform: everything `mvidarr` wires together, as a library so that the
//! binary, the end-to-end tests and the benchmarks build it the same way.

pub mod admin;
pub mod app;
pub mod blob_routes;
pub mod data_dir;
pub mod import;
pub mod ingest;
pub mod models;
pub mod report;
pub mod train;
pub mod workers;
