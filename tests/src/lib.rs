//! Test support shared by the integration tests, the end-to-end tests and the benchmarks.
//!
//! [`conformance`] holds one generic suite per port: every adapter of that port must pass it.
//! The embedded adapters run it in `tests/conformance_*.rs`; the AWS adapters run the same
//! functions against moto.

pub mod conformance;
