//! The sliding-window log (SPEC §3): the exact rule both backends apply inside their own
//! atomic read-modify-write. A window keeps the times of the requests it admitted, at most
//! `limit` of them; a request is admitted when fewer than `limit` admissions fall inside
//! the last `window_ms`. This never admits more than `limit` in any window-long interval
//! (an approximate "weighted two buckets" counter can), and it tells the exact moment a
//! slot frees, which makes `Retry-After` honest.

pub const WINDOW_MS: i64 = 60_000;

/// Authenticated requests per client IP per window.
pub const IP_AUTHENTICATED_LIMIT: u32 = 120;
/// Requests without a valid key per client IP per window.
pub const IP_UNAUTHENTICATED_LIMIT: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub admitted: bool,
    pub limit: u32,
    /// Slots left in the window after this request.
    pub remaining: u32,
    /// Unix ms at which the oldest admission leaves the window (a slot frees).
    pub reset_ms: i64,
}

impl Decision {
    /// Whole seconds until a slot frees, at least 1: a client that waits this long is
    /// admitted unless someone else takes the slot first.
    pub fn retry_after_secs(&self, now_ms: i64) -> i64 {
        let wait = (self.reset_ms - now_ms).max(0);
        ((wait + 999) / 1000).max(1)
    }
}

/// Applies one request to a window's log (ascending unix ms of admissions) in place.
/// Entries at or before `now - window` have left the window and are dropped.
pub fn decide(log: &mut Vec<i64>, now_ms: i64, limit: u32, window_ms: i64) -> Decision {
    let horizon = now_ms - window_ms;
    log.retain(|&t| t > horizon);
    // Clocks of different hosts can disagree by a little; keep the log sorted regardless.
    log.sort_unstable();
    let limit_usize = limit as usize;
    if log.len() < limit_usize {
        log.push(now_ms);
        log.sort_unstable();
        let used = log.len();
        let reset_ms = log[0] + window_ms;
        Decision {
            admitted: true,
            limit,
            remaining: (limit_usize - used) as u32,
            reset_ms,
        }
    } else {
        // The slot that frees first belongs to the admission `limit` places back.
        let reset_ms = log
            .get(log.len().saturating_sub(limit_usize))
            .map_or(now_ms, |t| t + window_ms);
        Decision {
            admitted: false,
            limit,
            remaining: 0,
            reset_ms,
        }
    }
}

/// Window keys. Kept here so both backends name windows identically.
pub fn ip_window_key(authenticated: bool, ip: &str) -> String {
    if authenticated {
        format!("ip-auth#{ip}")
    } else {
        format!("ip-anon#{ip}")
    }
}

pub fn account_window_key(account_id: &str) -> String {
    format!("acct-create#{account_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn admits_up_to_limit_then_reports_when_a_slot_frees() {
        let mut log = Vec::new();
        for i in 0..3 {
            let d = decide(&mut log, 1_000 + i * 10, 3, WINDOW_MS);
            assert!(d.admitted);
            assert_eq!(d.remaining, 2 - i as u32);
        }
        let d = decide(&mut log, 5_000, 3, WINDOW_MS);
        assert!(!d.admitted);
        assert_eq!(d.reset_ms, 61_000);
        assert_eq!(d.retry_after_secs(5_000), 56);
        // One ms before the first admission leaves: still full. At the instant: admitted.
        assert!(!decide(&mut log, 60_999, 3, WINDOW_MS).admitted);
        assert!(decide(&mut log, 61_000, 3, WINDOW_MS).admitted);
        assert_eq!(log, vec![1_010, 1_020, 61_000]);
    }

    #[test]
    fn retry_after_is_at_least_one_second_and_rounds_up() {
        let d = Decision {
            admitted: false,
            limit: 1,
            remaining: 0,
            reset_ms: 10_001,
        };
        assert_eq!(d.retry_after_secs(10_000), 1);
        assert_eq!(d.retry_after_secs(10_001), 1);
        assert_eq!(d.retry_after_secs(8_999), 2);
    }

    #[test]
    fn zero_limit_admits_nothing() {
        let mut log = Vec::new();
        assert!(!decide(&mut log, 0, 0, WINDOW_MS).admitted);
        assert!(log.is_empty());
    }

    proptest! {
        /// Against an exact sliding log over the whole trace: in every window-long
        /// interval ending at an admission, at most `limit` admissions; and a request
        /// is refused only when the window really was full (no under-admission either).
        #[test]
        fn matches_exact_sliding_log(
            limit in 1u32..12,
            window in 1i64..5_000,
            gaps in proptest::collection::vec(0i64..800, 1..400),
        ) {
            let mut log = Vec::new();
            let mut admitted: Vec<i64> = Vec::new();
            let mut now = 0;
            for g in gaps {
                now += g;
                let in_window = admitted.iter().filter(|&&t| t > now - window).count();
                let d = decide(&mut log, now, limit, window);
                prop_assert_eq!(d.admitted, in_window < limit as usize);
                if d.admitted {
                    admitted.push(now);
                    let count = admitted.iter().filter(|&&t| t > now - window).count();
                    prop_assert!(count <= limit as usize);
                } else {
                    // Honest reset: at reset_ms the window really has a free slot.
                    let at_reset = admitted.iter().filter(|&&t| t > d.reset_ms - window).count();
                    prop_assert!(at_reset < limit as usize);
                    prop_assert!(d.reset_ms > now);
                }
                prop_assert!(log.len() <= limit as usize);
            }
        }
    }
}
