//! `collect`: fetch the product page through the public-address guard. A page that can't
//! be reached, needs sign-in, blocks automated clients or is not HTML fails the campaign
//! here with a clear error (the 422 cases of SPEC §7). A usable page is stored with its
//! extracted facts and those of its `hreflang` pages in the requested languages (fetched
//! through the same guard; one that fails only means no page in that language).

use super::{artifacts, Next, StageError};
use crate::context::Context;
use crate::lifecycle::{advance, fail};
use http::{HeaderMap, HeaderValue, Method};
use reelforge_core::guard::UrlKind;
use reelforge_core::model::Stage;
use reelforge_core::model::{CampaignStatus, Language, StageMessage};
use reelforge_core::page::{self, PageFacts};
use reelforge_net::client::{self, FetchError, FetchOptions, FetchResponse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// What `collect` leaves for the later stages (`artifacts::collected`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectedPage {
    pub url: String,
    pub facts: PageFacts,
    /// The page's `hreflang` versions in the campaign's languages, by language.
    pub alternates: BTreeMap<Language, PageFacts>,
}

const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Each `hreflang` page, and all of them together: a slow site costs the stage at most
/// `PAGE_TIMEOUT + ALTERNATES_BUDGET`, well inside its function timeout.
const ALTERNATE_TIMEOUT: Duration = Duration::from_secs(10);
const ALTERNATES_BUDGET: Duration = Duration::from_secs(30);
const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;

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
        FetchError::Refused(reelforge_core::guard::UrlError::PortNotAllowed { .. }) => {
            "The page's address may only use port 80 or 443".into()
        }
        FetchError::Refused(_) => "The page's address is not a public internet host".into(),
        FetchError::Unresolvable => "The page's host name could not be resolved".into(),
        FetchError::TooManyRedirects => "The page redirects too many times".into(),
        other => format!("The page could not be reached ({})", other.summary()),
    }
}

pub async fn run(app: &Context, campaign_id: Uuid) -> Result<Next, StageError> {
    let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
        return Ok(Next::Done);
    };
    if campaign.status.is_terminal() {
        // A retry of a message whose terminal write went through but whose event
        // hand-off did not: queue the event now.
        crate::lifecycle::requeue_unstarted_events(app, campaign_id).await?;
        return Ok(Next::Done);
    }
    if campaign.status != CampaignStatus::Collecting {
        // Further along: make sure the stage it is in got its message.
        crate::lifecycle::resume(app, &campaign).await?;
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
    let outcome = fetch_page(app, &url, PAGE_TIMEOUT).await;
    let problem = match &outcome {
        Err(e) => Some(fetch_error_message(e)),
        Ok(resp) => refusal(resp.status, &content_type(resp)),
    };
    let resp = match (outcome, problem) {
        (Ok(resp), None) => resp,
        (_, problem) => {
            let message = problem.unwrap_or_default();
            fail(app, campaign_id, CampaignStatus::Collecting, &message).await?;
            return Ok(Next::Done);
        }
    };
    let html = String::from_utf8_lossy(&resp.body).into_owned();
    let facts = page::extract(&html, &resp.final_url);
    let mut alternates = BTreeMap::new();
    let alternates_started = std::time::Instant::now();
    for language in &campaign.languages {
        let Some(left) = ALTERNATES_BUDGET.checked_sub(alternates_started.elapsed()) else {
            tracing::info!(campaign_id = %campaign_id, "hreflang budget spent; writing without the remaining pages");
            break;
        };
        let own_language = facts.lang.as_deref() == Some(language.as_str());
        let Some(alt_url) = facts.alternates.get(language.as_str()) else {
            continue;
        };
        if own_language || *alt_url == resp.final_url {
            continue;
        }
        match fetch_page(app, alt_url, ALTERNATE_TIMEOUT.min(left)).await {
            Ok(alt) if refusal(alt.status, &content_type(&alt)).is_none() => {
                let alt_html = String::from_utf8_lossy(&alt.body);
                alternates.insert(*language, page::extract(&alt_html, &alt.final_url));
                app.ports
                    .media
                    .put_media(
                        &artifacts::alternate_html(campaign_id, *language),
                        alt.body.clone(),
                        "text/html; charset=utf-8",
                    )
                    .await?;
            }
            Ok(alt) => {
                tracing::info!(campaign_id = %campaign_id, %language, status = alt.status, "hreflang page unusable; writing without it")
            }
            Err(e) => {
                tracing::info!(campaign_id = %campaign_id, %language, error = %e.summary(), "hreflang page unreachable; writing without it")
            }
        }
    }
    app.ports
        .media
        .put_media(
            &artifacts::page_html(campaign_id),
            resp.body.clone(),
            "text/html; charset=utf-8",
        )
        .await?;
    let collected = CollectedPage {
        url: resp.final_url.to_string(),
        facts,
        alternates,
    };
    artifacts::put_json(app, &artifacts::collected(campaign_id), &collected).await?;
    if advance(app, &campaign, CampaignStatus::Processing, |_| {}).await? {
        app.ports
            .queue
            .send(&StageMessage::stage(Stage::Process, campaign_id), 0)
            .await?;
    }
    Ok(Next::Done)
}

async fn fetch_page(
    app: &Context,
    url: &url::Url,
    timeout: Duration,
) -> Result<FetchResponse, FetchError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"),
    );
    let opts = FetchOptions {
        kind: UrlKind::Page,
        policy: app.policy,
        timeout,
        max_body_bytes: MAX_PAGE_BYTES,
        max_redirects: 5,
        user_agent: "reelforge-collector/0.1",
    };
    client::request(
        Method::GET,
        url,
        headers,
        bytes::Bytes::new(),
        &opts,
        &*app.resolver,
    )
    .await
}

fn content_type(resp: &FetchResponse) -> String {
    resp.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
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
