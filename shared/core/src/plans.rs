//! The plan table (SPEC §2). One place, read by the gate, the limiter, the quota and the
//! key cap, so the limits a customer sees in headers are the ones we enforce.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Growth,
    Scale,
    Business,
    Enterprise,
}

/// Enterprise accounts get this many videos per month unless created with another figure.
pub const ENTERPRISE_DEFAULT_VIDEOS: u32 = 1000;

impl Plan {
    pub const ALL: [Plan; 6] = [
        Plan::Free,
        Plan::Starter,
        Plan::Growth,
        Plan::Scale,
        Plan::Business,
        Plan::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Growth => "growth",
            Plan::Scale => "scale",
            Plan::Business => "business",
            Plan::Enterprise => "enterprise",
        }
    }

    /// Free and Starter keys are answered 403 on every route.
    pub fn api_access(self) -> bool {
        !matches!(self, Plan::Free | Plan::Starter)
    }

    /// Videos per calendar month (UTC). Enterprise is per account (see `Account::videos_quota`).
    pub fn videos_per_month(self) -> u32 {
        match self {
            Plan::Free | Plan::Starter => 0,
            Plan::Growth => 40,
            Plan::Scale => 100,
            Plan::Business => 200,
            Plan::Enterprise => ENTERPRISE_DEFAULT_VIDEOS,
        }
    }

    pub fn max_languages(self) -> usize {
        match self {
            Plan::Free | Plan::Starter => 0,
            Plan::Growth => 5,
            Plan::Scale | Plan::Business | Plan::Enterprise => 8,
        }
    }

    /// Campaign creations per 60-second sliding window, per account.
    pub fn create_per_minute(self) -> u32 {
        match self {
            Plan::Free | Plan::Starter => 0,
            Plan::Growth => 10,
            Plan::Scale => 60,
            Plan::Business => 90,
            Plan::Enterprise => 120,
        }
    }

    /// Active (unrevoked) keys an account may hold. `None`: no cap, which is the case
    /// below Growth where operators may keep a key after a downgrade (it answers 403).
    pub fn max_keys(self) -> Option<u32> {
        match self {
            Plan::Free | Plan::Starter => None,
            Plan::Growth => Some(2),
            Plan::Scale => Some(10),
            Plan::Business => Some(20),
            Plan::Enterprise => Some(50),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown plan {s:?}; expected one of free, starter, growth, scale, business, enterprise")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_spec() {
        let rows: Vec<(Plan, bool, u32, usize, u32, Option<u32>)> = Plan::ALL
            .iter()
            .map(|p| {
                (
                    *p,
                    p.api_access(),
                    p.videos_per_month(),
                    p.max_languages(),
                    p.create_per_minute(),
                    p.max_keys(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (Plan::Free, false, 0, 0, 0, None),
                (Plan::Starter, false, 0, 0, 0, None),
                (Plan::Growth, true, 40, 5, 10, Some(2)),
                (Plan::Scale, true, 100, 8, 60, Some(10)),
                (Plan::Business, true, 200, 8, 90, Some(20)),
                (Plan::Enterprise, true, 1000, 8, 120, Some(50)),
            ]
        );
    }

    #[test]
    fn parses_round_trip() {
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>(), Ok(p));
        }
        assert!("gold".parse::<Plan>().is_err());
    }
}
