//! The AWS adapters under test: a real `moto_server` (from the project's `.venv`, installed by
//! `scripts/python/venv.sh`) on a free loopback port, and the real SDK clients pointed at it.
//! Each test creates resources under names of its own, so tests can share one server.

pub mod dynamodb;
pub mod kms;
pub mod moto;
pub mod s3;
pub mod sfn;
pub mod sqs;
pub mod stack;
pub mod step_driver;

pub use moto::Moto;
