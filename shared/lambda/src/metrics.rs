//! CloudWatch metrics as Embedded Metric Format log lines: one JSON object per line on
//! stdout, which CloudWatch Logs turns into metrics without a `PutMetricData` call (no extra
//! latency, no IAM permission).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The namespace every metric of the platform is published under.
pub const NAMESPACE: &str = "MVidarr";

/// The EMF document for one pipeline step's invocation: its duration and whether it failed,
/// with the step name and error type as dimensions.
pub fn step_metrics(step: &str, duration: Duration, error_type: Option<&str>) -> Value {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Step"], ["Step", "Outcome"]],
                "Metrics": [
                    { "Name": "StepDuration", "Unit": "Milliseconds" },
                    { "Name": "StepFailed", "Unit": "Count" },
                ],
            }],
        },
        "Step": step,
        "Outcome": error_type.unwrap_or("Succeeded"),
        "StepDuration": duration.as_secs_f64() * 1000.0,
        "StepFailed": u8::from(error_type.is_some()),
    })
}

/// What is wrong with an EMF document, if anything: every directive must name the namespace,
/// and every dimension and metric it names must be a top-level member (a string and a number),
/// or CloudWatch drops the line.
pub fn emf_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(directives) = doc["_aws"]["CloudWatchMetrics"].as_array() else {
        return vec!["no _aws.CloudWatchMetrics array".into()];
    };
    if !doc["_aws"]["Timestamp"].is_u64() {
        problems.push("no _aws.Timestamp in milliseconds".into());
    }
    for directive in directives {
        if directive["Namespace"] != NAMESPACE {
            problems.push(format!("namespace {}", directive["Namespace"]));
        }
        let dimensions = directive["Dimensions"].as_array().into_iter().flatten();
        for name in dimensions.flat_map(|set| set.as_array().into_iter().flatten()) {
            if !name.as_str().is_some_and(|n| doc[n].is_string()) {
                problems.push(format!("dimension {name} is not a top-level string"));
            }
        }
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            if !metric["Name"].as_str().is_some_and(|n| doc[n].is_number()) {
                problems.push(format!("metric {metric} is not a top-level number"));
            }
        }
    }
    problems
}

/// Print one EMF document as a line of its own.
pub fn emit(document: &Value) {
    println!("{document}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_metrics_follow_the_embedded_metric_format() {
        let doc = step_metrics("analyze", Duration::from_millis(1500), Some("Transient"));
        assert_eq!(emf_problems(&doc), Vec::<String>::new());
        assert_eq!(doc["StepDuration"], 1500.0);
        assert_eq!(doc["StepFailed"], 1);
        assert_eq!(doc["Outcome"], "Transient");
        assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);

        let ok = step_metrics("tag", Duration::from_millis(3), None);
        assert_eq!(
            (ok["StepFailed"].as_u64(), ok["Outcome"].as_str()),
            (Some(0), Some("Succeeded"))
        );
        // One line per document: CloudWatch reads EMF line by line.
        assert!(!ok.to_string().contains('\n'));
    }

    #[test]
    fn a_document_naming_a_missing_member_is_caught() {
        let mut doc = step_metrics("tag", Duration::from_millis(3), None);
        doc.as_object_mut().unwrap().remove("StepFailed");
        doc["Step"] = json!(7);
        let problems = emf_problems(&doc);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(emf_problems(&json!({})).len(), 1);
    }
}
