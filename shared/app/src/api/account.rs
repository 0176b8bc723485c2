//! GET /api/v1/account (SPEC §8): the account, its plan (the row of SPEC §2), usage this
//! month, totals and week/month/year changes (the user-data seed's names), keys in
//! display form, style profiles (provider keys masked) and recent videos.
//!
//! The changes compare two equal windows of whole UTC days ending today:
//! `created_videos_increase_weekly` is the videos produced in the last 7 days (today and
//! the 6 before) minus those in the 7 days before; `avg_credits_per_video_weekly` is the
//! mean `credits_cost` of the last 7 days' videos and `…_increase_weekly` its difference
//! from the 7 days before (monthly: 30 days, yearly: 365). A video counts once its
//! campaign finishes (`review`, or `failed` with some videos ready), on the day its
//! campaign was created.
//!
//! Bounded reads: the totals and changes come from counters the campaign write path
//! keeps (`core::stats`, at most 731 small records), and the recent videos from the
//! [`RECENT_CAMPAIGNS`] newest campaigns only, so the cost of this request does not grow
//! with the account's history.

use super::auth::store_failure;
use super::campaigns::plan_gate;
use super::{profiles, ApiResponse};
use crate::context::Context;
use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use http::StatusCode;
use reelforge_core::clock::quota_period;
use reelforge_core::model::Principal;
use reelforge_core::stats::{AccountStats, Produced, STATS_DAYS};
use reelforge_core::views::{video_links, LINK_TTL};
use serde_json::{json, Map, Value};

/// Videos listed under `videos`, newest first.
const RECENT_VIDEOS: usize = 20;
/// Campaigns read for the recent videos (a campaign has at least one video).
pub const RECENT_CAMPAIGNS: u32 = 20;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// (videos, credits) produced on the days in `[from, to)` (`YYYY-MM-DD`, inclusive start).
fn window(days: &[Produced], from: &str, to: &str) -> (f64, f64) {
    let (count, credits) = days
        .iter()
        .filter(|d| d.day.as_str() >= from && d.day.as_str() < to)
        .fold((0u64, 0u64), |(n, c), d| (n + d.videos, c + d.credits));
    let avg = if count == 0 {
        0.0
    } else {
        credits as f64 / count as f64
    };
    (count as f64, avg)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The first day the overview reads counters for (two years of days before tomorrow).
pub fn stats_from_day(today: NaiveDate) -> String {
    (today - Duration::days(STATS_DAYS - 1))
        .format("%Y-%m-%d")
        .to_string()
}

/// The seed's totals and changes from the account's counters, as of `today` (UTC).
pub fn statistics(stats: &AccountStats, today: NaiveDate) -> Map<String, Value> {
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let mut out = Map::new();
    out.insert("total_videos".into(), json!(stats.total_videos));
    out.insert("total_credits".into(), json!(stats.total_credits as f64));
    let tomorrow = today + Duration::days(1);
    for (name, days) in [("weekly", 7), ("monthly", 30), ("yearly", 365)] {
        let span = Duration::days(days);
        let (count, avg) = window(&stats.days, &day(tomorrow - span), &day(tomorrow));
        let (before_count, before_avg) = window(
            &stats.days,
            &day(tomorrow - span - span),
            &day(tomorrow - span),
        );
        out.insert(format!("avg_credits_per_video_{name}"), json!(round2(avg)));
        out.insert(
            format!("avg_credits_per_video_increase_{name}"),
            json!(round2(avg - before_avg)),
        );
        out.insert(
            format!("created_videos_increase_{name}"),
            json!(count - before_count),
        );
    }
    out
}

pub(super) async fn get(app: &Context, principal: &Principal) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    match overview(app, principal).await {
        Ok(body) => ApiResponse::json(StatusCode::OK, &body),
        Err(resp) => resp,
    }
}

async fn overview(app: &Context, principal: &Principal) -> Result<Value, ApiResponse> {
    let account_id = principal.account_id.as_str();
    let ports = &app.ports;
    let account = ports
        .accounts
        .get_account(account_id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(ApiResponse::internal)?;
    let now = app.clock.now();
    let period = quota_period(now);
    let used = ports
        .campaigns
        .quota_used(account_id, &period)
        .await
        .map_err(|e| store_failure(&e))?;
    let quota = account.videos_quota();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let end = if now.month() == 12 {
        Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        Utc.with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .single()
    .unwrap_or(now);
    let keys = ports
        .keys
        .list_keys(account_id)
        .await
        .map_err(|e| store_failure(&e))?;
    // The first page of the listing (SPEC §11), so both show campaigns in one order.
    let campaigns = ports
        .campaigns
        .list_campaign_page(account_id, None, None, RECENT_CAMPAIGNS)
        .await
        .map_err(|e| store_failure(&e))?
        .campaigns;
    let counters = ports
        .campaigns
        .account_stats(account_id, &stats_from_day(now.date_naive()))
        .await
        .map_err(|e| store_failure(&e))?;

    let mut recent = Vec::new();
    for c in &campaigns {
        if recent.len() >= RECENT_VIDEOS {
            break;
        }
        let links = video_links(&*ports.media, c, LINK_TTL)
            .await
            .map_err(|e| store_failure(&e))?;
        for v in &c.videos {
            if recent.len() >= RECENT_VIDEOS {
                break;
            }
            let size = v.platform.frame_size();
            let (w, h) = (size.width, size.height);
            let link = links.get(&v.id);
            recent.push(json!({
                "video_id": v.id,
                "campaign_id": c.id,
                "video_title": c.title,
                "language": v.language,
                "platform": v.platform,
                "status": v.status,
                "credits_cost": v.credits_cost,
                "duration_seconds": v.duration_seconds,
                "resolution": format!("{w}x{h}"),
                "creation_date": rfc3339(c.created_at),
                "download_link": link.and_then(|l| l.file_url.clone()),
                "preview_url": link.and_then(|l| l.thumbnail_url.clone()),
                "playlist": c.playlist_id,
            }));
        }
    }

    let plan = account.plan;
    let mut body = json!({
        "success": true,
        "account_id": account.id,
        "username": account.name,
        "created_at": rfc3339(account.created_at),
        "plan": {
            "name": plan.as_str(),
            "api_access": plan.api_access(),
            "videos_per_month": quota,
            "languages_per_campaign": plan.max_languages(),
            "creates_per_minute": plan.create_per_minute(),
            "max_keys": plan.max_keys(),
        },
        "usage": {
            "period": period,
            "period_start": rfc3339(start),
            "period_end": rfc3339(end),
            "videos_used": used,
            "videos_remaining": quota.saturating_sub(used),
        },
        "credits": [],
        "keys": keys.iter().map(|k| json!({
            "display": k.display,
            "scopes": k.scopes,
            "created_at": rfc3339(k.created_at),
            "revoked_at": k.revoked_at.map(rfc3339),
        })).collect::<Vec<_>>(),
        "videos": recent,
    });
    let obj = body.as_object_mut().expect("object");
    obj.extend(statistics(&counters, now.date_naive()));
    obj.extend(
        profiles::all(app, account_id)
            .await
            .map_err(|e| store_failure(&e))?,
    );
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_compare_equal_windows_of_days_ending_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let day = |d: i64| Produced {
            day: (today - Duration::days(d)).format("%Y-%m-%d").to_string(),
            videos: 0,
            credits: 0,
        };
        let at = |d: i64, videos: u64, credits: u64| Produced {
            videos,
            credits,
            ..day(d)
        };
        let stats = AccountStats {
            days: vec![
                at(400, 1, 100),
                at(40, 1, 1),
                at(20, 1, 4),
                at(8, 1, 4),
                at(6, 1, 6),
                at(0, 1, 10),
            ],
            total_videos: 6,
            total_credits: 125,
        };
        let s = statistics(&stats, today);
        assert_eq!(s["total_videos"], json!(6));
        assert_eq!(s["total_credits"], json!(125.0));
        // Last 7 days (today and the 6 before): 10 and 6 (avg 8); the 7 before: 4.
        assert_eq!(s["avg_credits_per_video_weekly"], json!(8.0));
        assert_eq!(s["avg_credits_per_video_increase_weekly"], json!(4.0));
        assert_eq!(s["created_videos_increase_weekly"], json!(1.0));
        // Last 30 days: 10, 6, 4, 4 (avg 6); the 30 before: 1.
        assert_eq!(s["avg_credits_per_video_monthly"], json!(6.0));
        assert_eq!(s["avg_credits_per_video_increase_monthly"], json!(5.0));
        assert_eq!(s["created_videos_increase_monthly"], json!(3.0));
        // Last 365: five videos, avg 5; the year before: 100.
        assert_eq!(s["avg_credits_per_video_yearly"], json!(5.0));
        assert_eq!(s["avg_credits_per_video_increase_yearly"], json!(-95.0));
        assert_eq!(s["created_videos_increase_yearly"], json!(4.0));
        let empty = statistics(&AccountStats::default(), today);
        assert_eq!(empty["avg_credits_per_video_weekly"], json!(0.0));
        assert_eq!(empty["total_videos"], json!(0));
        assert_eq!(stats_from_day(today), "2024-11-30");
    }
}
