//! Test support shared by the integration tests, the end-to-end tests and the benchmarks.
//!
//! - [`aws`]: a `moto_server` and SDK configuration for the AWS adapters' tests.
//! - [`conformance`]: one generic suite per port; every adapter of that port must pass it.
//!   The embedded adapters run it in `tests/conformance_*.rs`; the AWS adapters run the same
//!   functions against moto.
//! - [`server`]: a real `mvidarr serve` process and an API client, for black-box tests.
//! - [`fixtures`]: generated test media and bad inputs.
//! - [`outage`]: the embedded platform with a table that fails on demand.
//! - [`bench`]: what the benchmark binaries share (helper scripts, load reports, API keys).
//! - [`reco`]: a small two-sided library of videos, profiles and plays for recommendations.

pub mod aws;
pub mod bench;
pub mod conformance;
pub mod fixtures;
pub mod outage;
pub mod reco;
pub mod server;
pub mod tag_truth;
pub mod tenants;
