//! Custom metrics in CloudWatch's embedded metric format (EMF): on Lambda each metric is
//! one JSON line on stdout, which CloudWatch Logs turns into a metric in the `reelforge`
//! namespace, dimension `Deployment` (the stack's `StageName`) and, for stage metrics,
//! `Stage`. The template's alarms and dashboard read exactly these names. Elsewhere
//! (`reelforge serve`, whose stdout is the CLI's JSON) the same facts go to the log.
//!
//! | metric | unit | dimensions | when |
//! |---|---|---|---|
//! | `CampaignsCreated` | Count | Deployment | a create answered 201 |
//! | `CampaignsCompleted` | Count | Deployment | a campaign reached review |
//! | `CampaignsFailed` | Count | Deployment, Stage | a campaign failed in that stage |
//! | `StageRetries` | Count | Deployment, Stage | a stage run failed and will be retried |
//! | `RenderedVideoSeconds` | Seconds | Deployment | a video finished rendering (its length) |
//! | `WebhookAttempts` | Count | Deployment | a delivery attempt finished |
//! | `WebhookAttemptsFailed` | Count | Deployment | an attempt got no 2xx |

use serde_json::{json, Map, Value};
use std::sync::OnceLock;

pub const NAMESPACE: &str = "reelforge";

fn on_lambda() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

fn deployment() -> &'static str {
    static STAGE: OnceLock<String> = OnceLock::new();
    STAGE.get_or_init(|| std::env::var("REELFORGE_STAGE").unwrap_or_else(|_| "local".into()))
}

/// The EMF line for one metric (public for the tests).
pub fn emf_line(
    name: &str,
    value: f64,
    unit: &str,
    stage: Option<&str>,
    deployment: &str,
    now_ms: i64,
) -> String {
    let mut dims = vec!["Deployment"];
    let mut body = Map::new();
    body.insert("Deployment".into(), json!(deployment));
    if let Some(stage) = stage {
        dims.push("Stage");
        body.insert("Stage".into(), json!(stage));
    }
    body.insert(name.into(), json!(value));
    body.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        }),
    );
    Value::Object(body).to_string()
}

/// Records one value of a metric.
pub fn record(name: &str, value: f64, unit: &str, stage: Option<&str>) {
    if on_lambda() {
        let now = chrono::Utc::now().timestamp_millis();
        // Lambda's log agent reads stdout line by line; one write per line.
        println!("{}", emf_line(name, value, unit, stage, deployment(), now));
    } else {
        tracing::debug!(metric = name, value, unit, stage, "metric");
    }
}

pub fn count(name: &str, stage: Option<&str>) {
    record(name, 1.0, "Count", stage);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_embedded_metric_format() {
        let line = emf_line(
            "CampaignsFailed",
            1.0,
            "Count",
            Some("collecting"),
            "prod",
            42,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["CampaignsFailed"], 1.0);
        assert_eq!(v["Stage"], "collecting");
        assert_eq!(v["Deployment"], "prod");
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "reelforge");
        assert_eq!(m["Dimensions"], json!([["Deployment", "Stage"]]));
        assert_eq!(
            m["Metrics"],
            json!([{"Name": "CampaignsFailed", "Unit": "Count"}])
        );
        assert_eq!(v["_aws"]["Timestamp"], 42);
        let plain = emf_line("CampaignsCreated", 1.0, "Count", None, "prod", 42);
        let v: Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Deployment"]])
        );
        assert!(v.get("Stage").is_none());
    }
}
