//! JSON responses and the headers SPEC §3 and §7 promise.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use reelforge_core::limiter::Decision;
use reelforge_core::plans::Plan;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json(status: StatusCode, value: &Value) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        ApiResponse {
            status,
            headers,
            body: Bytes::from(value.to_string()),
        }
    }

    /// `{"success":false,"error":"…"}`: the message is written for the client and never
    /// carries internal detail.
    pub fn error(status: StatusCode, message: &str) -> Self {
        Self::json(status, &json!({"success": false, "error": message}))
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    /// 404 for a path nothing serves: `{"success":false,"error":"Not found"}`.
    pub fn not_found() -> Self {
        Self::error(StatusCode::NOT_FOUND, "Not found")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self::error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").header("allow", allow)
    }

    /// 429 from a sliding window, with the layer's limit and an honest retry time.
    pub fn too_many_requests(d: &Decision, now_ms: i64) -> Self {
        Self::error(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
            .header("x-ratelimit-limit", d.limit)
            .header("x-ratelimit-remaining", 0)
            .header("x-ratelimit-reset", d.reset_ms)
            .header("retry-after", d.retry_after_secs(now_ms))
    }

    /// The limiter's store could not be reached: refuse rather than pass unmetered.
    pub fn limiter_unavailable() -> Self {
        Self::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Rate limiting is temporarily unavailable; retry with backoff",
        )
        .header("retry-after", 1)
    }

    pub fn internal() -> Self {
        Self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something failed on our side; it is safe to retry with backoff",
        )
    }

    /// `X-RateLimit-Plan` and `X-RateLimit-Limit` on creation responses.
    pub fn with_plan(self, plan: Plan) -> Self {
        self.header("x-ratelimit-plan", plan.as_str())
            .header("x-ratelimit-limit", plan.create_per_minute())
    }

    pub fn with_scopes(self, scopes: &[String]) -> Self {
        self.header("x-clipus-api-scopes", scopes.join(" "))
    }
}
