//! The recommender as a service over the platform's ports: training a tenant's model into the
//! model registry, and serving the promoted model from memory.

pub mod serving;
pub mod training;

pub use serving::{Recommender, ServeError, Served};
pub use training::{FAMILY, TrainError, TrainReport, publish, train_tenant};
