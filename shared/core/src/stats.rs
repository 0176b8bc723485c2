//! Account statistics kept as counters (SPEC §8's totals and week/month/year changes), so
//! `GET /api/v1/account` never reads every campaign an account ever made.
//!
//! A campaign's produced videos are counted once, by the store, in the same atomic write
//! that moves the campaign from a working status to `review` or `failed` (terminal and
//! review statuses never come back, so that write happens at most once per campaign):
//! its ready videos and their `credits_cost`, on the UTC day the campaign was created,
//! plus an all-time total.

use crate::model::{Campaign, CampaignStatus, VideoStatus};
use chrono::{DateTime, Utc};

/// Days of per-day counters the overview reads: two years, enough for the yearly change
/// (the last 365 days against the 365 before).
pub const STATS_DAYS: i64 = 730;

/// Videos produced on one UTC day, or in total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Produced {
    /// `YYYY-MM-DD` of the campaigns' creation.
    pub day: String,
    pub videos: u64,
    pub credits: u64,
}

/// An account's counters: the days at or after the day asked for, oldest first, and the
/// all-time totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountStats {
    pub days: Vec<Produced>,
    pub total_videos: u64,
    pub total_credits: u64,
}

/// `YYYY-MM-DD` in UTC.
pub fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// What a transition from `expected` to `next` adds to the account's counters: its ready
/// videos when the campaign leaves a working status for `review` or `failed`; nothing
/// otherwise (including `review` → `published` and any change while in review).
pub fn produced_by(expected: CampaignStatus, next: &Campaign) -> Option<Produced> {
    let finishing = matches!(next.status, CampaignStatus::Review | CampaignStatus::Failed)
        && !expected.is_terminal()
        && expected != CampaignStatus::Review;
    if !finishing {
        return None;
    }
    let ready = next
        .videos
        .iter()
        .filter(|v| v.status == VideoStatus::Ready);
    let (videos, credits) = ready.fold((0u64, 0u64), |(n, c), v| {
        (n + 1, c + u64::from(v.credits_cost.unwrap_or(0)))
    });
    (videos > 0).then(|| Produced {
        day: day_of(next.created_at),
        videos,
        credits,
    })
}
