//! The query of `GET /api/v1/campaigns` (SPEC §11) and its opaque paging cursor.
//!
//! A cursor is the position of the last campaign of a page, `(created_at, id)`, signed
//! with HMAC-SHA256 under the account's webhook secret: only the account can have got it
//! from us, a cursor of another account or an edited one does not verify (400), and the
//! next page starts strictly after that position, so pages never repeat or skip a
//! campaign while new ones are created. The account's previous webhook secret still
//! verifies while it signs webhooks, so a rotation does not break a listing under way.

use crate::model::CampaignStatus;
use crate::ports::CampaignPosition;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Longest cursor accepted (a real one is about 90 characters).
const MAX_CURSOR_LEN: usize = 256;
/// Bytes of the MAC kept in a cursor.
const MAC_LEN: usize = 16;

/// A parsed listing query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    pub status: Option<CampaignStatus>,
    pub limit: u32,
    /// The raw `cursor`, verified by [`verify_cursor`] against the caller's secrets.
    pub cursor: Option<String>,
}

/// Parses `status`, `limit` and `cursor` from a query string; `Err` is the message of a
/// 400. Unknown parameters are refused too (a misspelt `limt` would otherwise be a
/// silent default).
pub fn parse_query(query: &str) -> Result<ListQuery, String> {
    let mut out = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if seen.contains(&name) {
            return Err(format!("{name} is given more than once"));
        }
        seen.push(name.clone());
        match name.as_ref() {
            "status" => {
                out.status = Some(value.parse().map_err(|()| {
                    let allowed: Vec<&str> =
                        CampaignStatus::ALL.iter().map(|s| s.as_str()).collect();
                    format!("status must be one of {}", allowed.join(", "))
                })?)
            }
            "limit" => {
                out.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_LIMIT}"))?
            }
            "cursor" => {
                if value.is_empty() {
                    return Err("cursor must not be empty".into());
                }
                out.cursor = Some(value.into_owned());
            }
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(format!(
                    "unknown query parameter {shown:?}; use status, limit, cursor"
                ));
            }
        }
    }
    Ok(out)
}

fn mac(secret: &str, account_id: &str, payload: &str) -> Vec<u8> {
    // new_from_slice accepts keys of any length for HMAC.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(b"reelforge-campaign-cursor-v1\0");
    m.update(account_id.as_bytes());
    m.update(b"\0");
    m.update(payload.as_bytes());
    m.finalize().into_bytes()[..MAC_LEN].to_vec()
}

/// The cursor after `position`, for `account_id`, signed with its current webhook secret.
pub fn sign_cursor(secret: &str, account_id: &str, position: &CampaignPosition) -> String {
    let nanos = position
        .created_at
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX);
    let payload = format!("{nanos}.{}", position.id.simple());
    let tag = B64.encode(mac(secret, account_id, &payload));
    B64.encode(format!("{payload}.{tag}"))
}

/// The position a cursor names, if one of `secrets` (the account's signing secrets)
/// signed it for `account_id`.
pub fn verify_cursor(secrets: &[&str], account_id: &str, cursor: &str) -> Option<CampaignPosition> {
    if cursor.len() > MAX_CURSOR_LEN {
        return None;
    }
    let raw = String::from_utf8(B64.decode(cursor).ok()?).ok()?;
    let (payload, tag) = raw.rsplit_once('.')?;
    let tag = B64.decode(tag).ok()?;
    let valid = secrets.iter().any(|secret| {
        let expected = mac(secret, account_id, payload);
        // Constant time: a wrong tag must not tell how much of it was right.
        !expected.is_empty()
            && expected.len() == tag.len()
            && expected
                .iter()
                .zip(&tag)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !valid {
        return None;
    }
    let (nanos, id) = payload.split_once('.')?;
    let created_at = Utc.timestamp_nanos(nanos.parse::<i64>().ok()?);
    Some(CampaignPosition {
        created_at,
        id: Uuid::parse_str(id).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> CampaignPosition {
        CampaignPosition {
            created_at: Utc.timestamp_nanos(1_790_000_000_123_456_789),
            id: Uuid::parse_str("8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d").unwrap(),
        }
    }

    #[test]
    fn cursors_round_trip_and_bind_to_account_and_secret() {
        let c = sign_cursor("whsec_a", "acct_1", &position());
        assert_eq!(verify_cursor(&["whsec_a"], "acct_1", &c), Some(position()));
        // The previous secret still verifies during a rotation.
        assert_eq!(
            verify_cursor(&["whsec_new", "whsec_a"], "acct_1", &c),
            Some(position())
        );
        assert_eq!(verify_cursor(&["whsec_a"], "acct_2", &c), None);
        assert_eq!(verify_cursor(&["whsec_b"], "acct_1", &c), None);
        // Any edit of the token fails.
        let mut bytes = c.clone().into_bytes();
        for i in 0..bytes.len() {
            let original = bytes[i];
            bytes[i] = if original == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(bytes.clone()).unwrap();
            if edited != c {
                assert_eq!(verify_cursor(&["whsec_a"], "acct_1", &edited), None, "{i}");
            }
            bytes[i] = original;
        }
        assert_eq!(verify_cursor(&["whsec_a"], "acct_1", "not a cursor"), None);
        assert_eq!(verify_cursor(&["whsec_a"], "acct_1", ""), None);
    }

    #[test]
    fn queries_are_parsed_strictly() {
        assert_eq!(
            parse_query("").unwrap(),
            ListQuery {
                status: None,
                limit: 20,
                cursor: None
            }
        );
        let q = parse_query("status=review&limit=100&cursor=abc").unwrap();
        assert_eq!(q.status, Some(CampaignStatus::Review));
        assert_eq!(q.limit, 100);
        assert_eq!(q.cursor.as_deref(), Some("abc"));
        for bad in [
            "limit=0",
            "limit=101",
            "limit=ten",
            "limit=-1",
            "status=done",
            "status=",
            "cursor=",
            "limt=5",
            "limit=5&limit=6",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }
}
