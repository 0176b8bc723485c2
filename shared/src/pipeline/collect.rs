//! `collect`: fetch the product page through the public-address guard. A page that can't
//! be reached, needs sign-in, blocks automated clients or is not HTML fails the campaign
//! here with a clear error (the 422 cases of SPEC §7).

use super::{advance, fail, Next, StageError};
use crate::api::App;
use crate::guard::UrlKind;
use crate::model::{CampaignStatus, StageMessage};
use crate::net::{self, FetchError, FetchOptions};
use http::{HeaderMap, HeaderValue, Method};
use std::time::Duration;
use uuid::Uuid;

const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;
pub const STAGE_PROCESS: &str = "process";

/// Why a fetched page can't be used, in words for the customer; `None`: usable.
fn refusal(status: u16, content_type: &str) -> Option<String> {
    match status {
        200..=299 => {
            let html = content_type.is_empty()
                || content_type.starts_with("text/html")
                || content_type.starts_with("application/xhtml+xml");
            (!html).then(|| format!("The page is not HTML (it is {content_type})"))
        }
        401 | 403 | 407 => Some(format!(
            "The page could not be captured: it requires sign-in or blocks automated browsers (HTTP {status})"
        )),
        429 => Some("The page could not be captured: it blocks automated browsers (HTTP 429)".into()),
        _ => Some(format!("The page could not be captured: it answered HTTP {status}")),
    }
}

fn fetch_error_message(e: &FetchError) -> String {
    match e {
        FetchError::Refused(_) => "The page's address is not a public internet host".into(),
        FetchError::Unresolvable => "The page's host name could not be resolved".into(),
        FetchError::TooManyRedirects => "The page redirects too many times".into(),
        other => format!("The page could not be reached ({})", other.summary()),
    }
}

pub async fn run(app: &App, campaign_id: Uuid) -> Result<Next, StageError> {
    let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
        return Ok(Next::Done);
    };
    if campaign.status.is_terminal() {
        // A retry of a message whose terminal write went through but whose event
        // hand-off did not: queue the event now.
        super::requeue_unstarted_events(app, campaign_id).await?;
        return Ok(Next::Done);
    }
    if campaign.status != CampaignStatus::Collecting {
        return Ok(Next::Done);
    }
    let Ok(url) = url::Url::parse(&campaign.url) else {
        fail(
            app,
            campaign_id,
            CampaignStatus::Collecting,
            "The page's address is not valid",
        )
        .await?;
        return Ok(Next::Done);
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"),
    );
    let opts = FetchOptions {
        kind: UrlKind::Page,
        policy: app.policy,
        timeout: PAGE_TIMEOUT,
        max_body_bytes: MAX_PAGE_BYTES,
        max_redirects: 5,
        user_agent: "reelforge-collector/0.1",
    };
    let outcome = net::request(
        Method::GET,
        &url,
        headers,
        bytes::Bytes::new(),
        &opts,
        &*app.resolver,
    )
    .await;
    let problem = match &outcome {
        Err(e) => Some(fetch_error_message(e)),
        Ok(resp) => {
            let content_type = resp
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            refusal(resp.status, &content_type)
        }
    };
    if let Some(message) = problem {
        fail(app, campaign_id, CampaignStatus::Collecting, &message).await?;
        return Ok(Next::Done);
    }
    if advance(app, &campaign, CampaignStatus::Processing, |_| {}).await? {
        app.ports
            .queue
            .send(&StageMessage::stage(STAGE_PROCESS, campaign_id), 0)
            .await?;
    }
    Ok(Next::Done)
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn page_refusals() {
        assert_eq!(refusal(200, "text/html; charset=utf-8"), None);
        assert_eq!(refusal(200, ""), None);
        assert!(refusal(200, "application/pdf")
            .unwrap()
            .contains("not HTML"));
        assert!(refusal(401, "text/html").unwrap().contains("sign-in"));
        assert!(refusal(403, "text/html")
            .unwrap()
            .contains("blocks automated"));
        assert!(refusal(503, "text/html").unwrap().contains("HTTP 503"));
    }
}
