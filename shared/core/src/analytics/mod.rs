//! Analytics: the events every part of the platform and the tenants' apps report
//! ([`record`]), what they add up to per tenant and day ([`rollup`]), and the dashboards read
//! from those sums ([`summary`]). No I/O: the repository stores rollups, the analytics crate
//! writes Parquet.

pub mod alerts;
pub mod jobs;
pub mod record;
pub mod report;
pub mod rollup;
pub mod send;
pub mod summary;

pub use record::{AnalyticsEvent, AnalyticsKind, EventBatch};
pub use rollup::{
    Counters, DayDelta, Durations, MediaDay, OTHER_TAGS, RankedMedia, TAGS_PER_DAY, TenantDay,
    Users, aggregate,
};
pub use send::{report_events, send_events};
pub use summary::{Granularity, RangeError, Summary, TimeRange, summarize};
