//! Identity and security for MVidarr: who is calling ([`Principal`]) and what they may do
//! ([`policy`]), and everything that establishes it — passwords, access and refresh tokens,
//! API keys, TOTP, the audit chain and rate limits.
//!
//! Like `mvidarr-core`, no I/O of its own: repositories are written over the `Table` port,
//! secrets are sealed through the `KeyWrap` port, and time is passed in, so every rule is
//! testable without a clock or a network.

pub mod api_key;
pub mod audit;
pub mod envelope;
pub mod password;
pub mod policy;
pub mod principal;
pub mod ratelimit;
pub mod recovery;
pub mod secret;
pub mod service;
pub mod store;
pub mod token;
pub mod totp;

pub use policy::{Permission, Permissions, Role};
pub use principal::{Principal, Subject};
