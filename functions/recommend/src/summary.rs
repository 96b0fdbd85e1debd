//! What a training run did, per tenant: the Lambda's reply, the run's closing log line and its
//! CloudWatch metrics.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mvidarr_core::ids::TenantId;
use mvidarr_lambda::metrics::NAMESPACE;
use serde::Serialize;
use serde_json::{Value, json};

/// The `Job` dimension of the run's metrics (the stack's alarm names it).
pub const METRICS_JOB: &str = "recommend";

/// Failed tenants a [`RunSummary::describe_transient`] names before it only counts.
const NAMED_FAILURES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// When the schedule fired (the event's `time`).
    pub fired_at: Option<DateTime<Utc>>,
    pub trained: usize,
    /// Tenants an earlier attempt of the same event had already trained.
    pub current: usize,
    pub failed: usize,
    /// Every tenant, in name order.
    pub tenants: Vec<TenantOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantOutcome {
    pub tenant: TenantId,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What training the tenant's tag heads did (after its recommender: they read its
    /// embeddings); `None` when the recommender failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<TagsRun>,
}

/// The tag heads' part of a tenant's training.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TagsRun {
    Trained {
        /// Tags with a new head version registered.
        heads_registered: usize,
        /// Of those, the ones promoted (better than what was served on held-out decisions).
        heads_promoted: usize,
        /// Tags with no new decisions since their latest head.
        unchanged: usize,
        /// Tags with too few decisions to learn from.
        too_few_decisions: usize,
        media_retagged: usize,
        proposals_written: usize,
    },
    /// The tenant's heads stay as they were; the next run tries again.
    Failed { error: String, transient: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A new version was registered and promoted.
    Trained {
        version: u32,
        items: usize,
        users: usize,
        /// Distinct user–item pairs learned from.
        interactions: usize,
        /// Reading, training and publishing together.
        seconds: f64,
    },
    /// The promoted version was made after the event fired: a retry of this event skips it.
    Current { version: u32 },
    Failed {
        error: String,
        /// Whether a later attempt may succeed (the run then fails, so Lambda retries it).
        transient: bool,
    },
}

impl From<&mvidarr_tag::training::TagTrainReport> for TagsRun {
    fn from(r: &mvidarr_tag::training::TagTrainReport) -> Self {
        use mvidarr_tag::training::TagOutcome;
        let count =
            |want: fn(&TagOutcome) -> bool| r.tags.iter().filter(|t| want(&t.outcome)).count();
        TagsRun::Trained {
            heads_registered: count(|o| {
                matches!(o, TagOutcome::Promoted { .. } | TagOutcome::Kept { .. })
            }),
            heads_promoted: count(|o| matches!(o, TagOutcome::Promoted { .. })),
            unchanged: count(|o| matches!(o, TagOutcome::Unchanged { .. })),
            too_few_decisions: count(|o| matches!(o, TagOutcome::TooFewDecisions { .. })),
            media_retagged: r.media_retagged,
            proposals_written: r.proposals_written,
        }
    }
}

impl RunSummary {
    pub fn new(fired_at: Option<DateTime<Utc>>, tenants: Vec<TenantOutcome>) -> Self {
        let count =
            |want: fn(&Outcome) -> bool| tenants.iter().filter(|t| want(&t.outcome)).count();
        Self {
            fired_at,
            trained: count(|o| matches!(o, Outcome::Trained { .. })),
            current: count(|o| matches!(o, Outcome::Current { .. })),
            failed: count(|o| matches!(o, Outcome::Failed { .. })),
            tenants,
        }
    }

    /// The tenants that failed transiently (a later attempt may succeed), with their errors.
    pub fn transient_failures(&self) -> impl Iterator<Item = (TenantId, &str)> {
        self.tenants.iter().filter_map(|t| match &t.outcome {
            Outcome::Failed {
                error,
                transient: true,
            } => Some((t.tenant, error.as_str())),
            _ => None,
        })
    }

    /// One line for Lambda's error reply: how many tenants failed transiently, and the first
    /// few of them with their errors (a deployment may have thousands).
    pub fn describe_transient(&self) -> String {
        let failures: Vec<(TenantId, &str)> = self.transient_failures().collect();
        let mut text = format!(
            "{} of {} tenants failed with errors a retry may clear:",
            failures.len(),
            self.tenants.len()
        );
        for (tenant, error) in failures.iter().take(NAMED_FAILURES) {
            text.push_str(&format!(" {tenant}: {error};"));
        }
        if failures.len() > NAMED_FAILURES {
            text.push_str(&format!(" and {} more", failures.len() - NAMED_FAILURES));
        } else {
            text.pop();
        }
        text
    }

    /// The run as an Embedded Metric Format document: tenants trained, current, failed in a way
    /// a retry may clear (the run is retried) and failed for good (the stack alarms on those),
    /// and how long the run took.
    pub fn metrics(&self, elapsed: Duration) -> Value {
        let transient = self.transient_failures().count();
        json!({
            "_aws": {
                "Timestamp": Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Job"]],
                    "Metrics": [
                        { "Name": "TenantsTrained", "Unit": "Count" },
                        { "Name": "TenantsCurrent", "Unit": "Count" },
                        { "Name": "TenantsFailedTransiently", "Unit": "Count" },
                        { "Name": "TenantsFailedPermanently", "Unit": "Count" },
                        { "Name": "TagHeadsPromoted", "Unit": "Count" },
                        { "Name": "TagTrainingsFailed", "Unit": "Count" },
                        { "Name": "RunDuration", "Unit": "Milliseconds" },
                    ],
                }],
            },
            "Job": METRICS_JOB,
            "TenantsTrained": self.trained,
            "TenantsCurrent": self.current,
            "TenantsFailedTransiently": transient,
            "TenantsFailedPermanently": self.failed - transient,
            "TagHeadsPromoted": self.tenants.iter().map(|t| match t.tags {
                Some(TagsRun::Trained { heads_promoted, .. }) => heads_promoted,
                _ => 0,
            }).sum::<usize>(),
            "TagTrainingsFailed": self.tenants.iter()
                .filter(|t| matches!(t.tags, Some(TagsRun::Failed { .. })))
                .count(),
            "RunDuration": elapsed.as_secs_f64() * 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained(version: u32) -> Outcome {
        Outcome::Trained {
            version,
            items: 3,
            users: 2,
            interactions: 4,
            seconds: 0.5,
        }
    }

    fn failed(error: &str, transient: bool) -> Outcome {
        Outcome::Failed {
            error: error.into(),
            transient,
        }
    }

    fn summary(outcomes: Vec<Outcome>) -> (RunSummary, Vec<TenantId>) {
        let tenants: Vec<TenantId> = outcomes.iter().map(|_| TenantId::generate()).collect();
        let outcomes = tenants
            .iter()
            .zip(outcomes)
            .map(|(&tenant, outcome)| TenantOutcome {
                tenant,
                outcome,
                tags: None,
            })
            .collect();
        (RunSummary::new(None, outcomes), tenants)
    }

    #[test]
    fn counts_each_outcome() {
        let (s, _) = summary(vec![
            trained(1),
            trained(4),
            Outcome::Current { version: 2 },
            failed("throttled", true),
            failed("corrupt", false),
        ]);
        assert_eq!((s.trained, s.current, s.failed), (2, 1, 2));
    }

    #[test]
    fn only_transient_failures_are_transient() {
        let (s, tenants) = summary(vec![
            failed("corrupt", false),
            trained(1),
            failed("throttled", true),
        ]);
        assert_eq!(
            s.transient_failures().collect::<Vec<_>>(),
            [(tenants[2], "throttled")]
        );
        assert_eq!(
            s.describe_transient(),
            format!(
                "1 of 3 tenants failed with errors a retry may clear: {}: throttled",
                tenants[2]
            )
        );
    }

    #[test]
    fn the_error_reply_names_a_few_failures_and_counts_the_rest() {
        let (s, tenants) = summary((0..8).map(|i| failed(&format!("e{i}"), true)).collect());
        let text = s.describe_transient();
        assert!(text.starts_with("8 of 8 tenants failed"), "{text}");
        assert!(text.contains(&format!("{}: e4;", tenants[4])), "{text}");
        assert!(!text.contains(&tenants[5].to_string()), "{text}");
        assert!(text.ends_with(" and 3 more"), "{text}");
    }

    #[test]
    fn outcomes_serialise_with_their_status() {
        let (s, tenants) = summary(vec![
            trained(7),
            Outcome::Current { version: 3 },
            failed("x", true),
        ]);
        let value = serde_json::to_value(&s).unwrap();
        assert_eq!(
            value["tenants"],
            json!([
                { "tenant": tenants[0].to_string(), "status": "trained", "version": 7, "items": 3,
                  "users": 2, "interactions": 4, "seconds": 0.5 },
                { "tenant": tenants[1].to_string(), "status": "current", "version": 3 },
                { "tenant": tenants[2].to_string(), "status": "failed", "error": "x", "transient": true },
            ])
        );
        assert_eq!(
            (value["trained"].as_u64(), value["failed"].as_u64()),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn metrics_follow_the_embedded_metric_format() {
        let (s, _) = summary(vec![
            trained(1),
            failed("x", false),
            failed("y", true),
            failed("z", false),
        ]);
        let doc = s.metrics(Duration::from_millis(2500));
        assert_eq!(
            mvidarr_lambda::metrics::emf_problems(&doc),
            Vec::<String>::new()
        );
        assert_eq!(doc["Job"], METRICS_JOB);
        assert_eq!(
            [
                &doc["TenantsTrained"],
                &doc["TenantsCurrent"],
                &doc["TenantsFailedTransiently"],
                &doc["TenantsFailedPermanently"],
                &doc["RunDuration"],
            ],
            [&json!(1), &json!(0), &json!(1), &json!(2), &json!(2500.0)]
        );
        assert!(!doc.to_string().contains('\n'), "one line per document");
    }
}
