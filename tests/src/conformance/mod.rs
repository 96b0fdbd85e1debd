//! One suite per port, generic over the trait. Each check is a plain `async fn` taking a fresh
//! adapter, so any adapter's test file can run them all; the `*_conformance!` macros expand to
//! one `#[tokio::test]` per check.

pub mod blob;
pub mod keywrap;
pub mod queue;
pub mod table;
