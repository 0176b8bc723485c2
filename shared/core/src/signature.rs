//! Webhook signatures (SPEC §6), in two forms sent side by side on every delivery:
//!
//! * the contract form, `X-Clipus-Signature`: lowercase hex HMAC-SHA256 over
//!   `"{timestamp}.{event_id}.{body}"`, keyed with the whole secret string `whsec_…` as UTF-8
//!   bytes (the prefix included, exactly as the seed document describes it);
//! * the [Standard Webhooks](https://www.standardwebhooks.com/) form, `webhook-signature`:
//!   `v1,` + base64 HMAC-SHA256 over `"{msg_id}.{timestamp}.{body}"`, keyed with the base64
//!   *decoding* of the secret after `whsec_`, so off-the-shelf receiver libraries verify it.
//!
//! The verification helpers are the receiver side: what `docs/webhooks.md` tells customers to
//! do, used by our own tests. They compare MACs in constant time and enforce a timestamp
//! tolerance against replay.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `X-Clipus-Event-Id`: unique per event, identical on every retry.
pub const HEADER_CLIPUS_EVENT_ID: &str = "x-clipus-event-id";
/// `X-Clipus-Timestamp`: unix seconds of this attempt.
pub const HEADER_CLIPUS_TIMESTAMP: &str = "x-clipus-timestamp";
/// `X-Clipus-Signature`: [`clipus_signature`] with the current secret.
pub const HEADER_CLIPUS_SIGNATURE: &str = "x-clipus-signature";
/// `X-Clipus-Signature-Previous`: [`clipus_signature`] with the previous secret, sent only
/// while a rotated-out secret is still valid.
pub const HEADER_CLIPUS_SIGNATURE_PREVIOUS: &str = "x-clipus-signature-previous";
/// `X-Clipus-Signature-Alg`: always [`CLIPUS_SIGNATURE_ALG`].
pub const HEADER_CLIPUS_SIGNATURE_ALG: &str = "x-clipus-signature-alg";
/// The only value of `X-Clipus-Signature-Alg`.
pub const CLIPUS_SIGNATURE_ALG: &str = "HMAC-SHA256";
/// Standard Webhooks `webhook-id` (we send the event id).
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks `webhook-timestamp` (unix seconds, same value as `X-Clipus-Timestamp`).
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks `webhook-signature`: space-separated `v1,<base64>` entries.
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// Receiver-side timestamp tolerance we recommend (and the Standard Webhooks default).
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

const SECRET_PREFIX: &str = "whsec_";
const STANDARD_VERSION: &str = "v1";

/// A secret that cannot be used for the Standard Webhooks form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The part after `whsec_` is not standard (padded) base64, or decodes to nothing.
    #[error("webhook secret is not base64 after the whsec_ prefix")]
    InvalidSecret,
    /// [`standard_signature_header`] was given no secret at all.
    #[error("no webhook secret to sign with")]
    NoSecret,
}

/// Why a received delivery was rejected by [`verify_clipus`] / [`verify_standard`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {0}")]
    InvalidHeader(&'static str),
    #[error("timestamp is older than the tolerance")]
    TimestampTooOld,
    #[error("timestamp is too far in the future")]
    TimestampInFuture,
    #[error("no signature matches")]
    SignatureMismatch,
    #[error("webhook secret is not base64 after the whsec_ prefix")]
    InvalidSecret,
}

fn mac_over(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length (long keys are hashed), so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Raw HMAC-SHA256 over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac_over(key, parts).finalize().into_bytes().into()
}

/// SPEC §6: lowercase hex HMAC-SHA256 over `"{timestamp}.{event_id}.{body}"`; the key is the
/// whole secret string `whsec_…` as UTF-8 bytes.
pub fn clipus_signature(secret: &str, timestamp: i64, event_id: &str, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    hex::encode(hmac_sha256(
        secret.as_bytes(),
        &[ts.as_bytes(), b".", event_id.as_bytes(), b".", body],
    ))
}

/// The Standard Webhooks key: base64 decoding of the secret without its `whsec_` prefix (a
/// secret without the prefix is decoded whole, as the reference libraries do).
fn standard_key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    match BASE64.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(SignatureError::InvalidSecret),
    }
}

fn standard_mac(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let ts = timestamp.to_string();
    mac_over(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body])
}

/// Standard Webhooks: `"v1," + base64(HMAC-SHA256(key = base64-decode(secret without
/// "whsec_"), "{msg_id}.{timestamp}.{body}"))`.
pub fn standard_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let key = standard_key(secret)?;
    let tag = standard_mac(&key, msg_id, timestamp, body)
        .finalize()
        .into_bytes();
    Ok(format!("{STANDARD_VERSION},{}", BASE64.encode(tag)))
}

/// `webhook-signature` value for several secrets (rotation): one `v1,…` entry per secret,
/// in the order given, separated by single spaces.
pub fn standard_signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let entries = secrets
        .iter()
        .map(|secret| standard_signature(secret, msg_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries.join(" "))
}

fn header<'a>(headers: &'a http::HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    headers
        .get(name)
        .ok_or(VerifyError::MissingHeader(name))?
        .to_str()
        .map(str::trim)
        .map_err(|_| VerifyError::InvalidHeader(name))
}

fn timestamp(
    headers: &http::HeaderMap,
    name: &'static str,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, VerifyError> {
    let ts: i64 = header(headers, name)?
        .parse()
        .map_err(|_| VerifyError::InvalidHeader(name))?;
    if now_unix.saturating_sub(ts) > tolerance_secs {
        return Err(VerifyError::TimestampTooOld);
    }
    if ts.saturating_sub(now_unix) > tolerance_secs {
        return Err(VerifyError::TimestampInFuture);
    }
    Ok(ts)
}

/// Receiver side of the `X-Clipus-Signature` form: reads `X-Clipus-Event-Id`,
/// `X-Clipus-Timestamp` and `X-Clipus-Signature`, and also accepts a match in
/// `X-Clipus-Signature-Previous` (during a secret rotation the receiver may still hold the
/// old secret, or already the new one). The timestamp must be within `tolerance_secs` of
/// `now_unix` either way ([`DEFAULT_TOLERANCE_SECS`] is what we recommend). MACs are
/// compared in constant time.
pub fn verify_clipus(
    secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let event_id = header(headers, HEADER_CLIPUS_EVENT_ID)?;
    let given = header(headers, HEADER_CLIPUS_SIGNATURE)?;
    let previous = match headers.get(HEADER_CLIPUS_SIGNATURE_PREVIOUS) {
        Some(_) => Some(header(headers, HEADER_CLIPUS_SIGNATURE_PREVIOUS)?),
        None => None,
    };
    let ts = timestamp(headers, HEADER_CLIPUS_TIMESTAMP, now_unix, tolerance_secs)?;
    let ts_text = ts.to_string();
    let expected = mac_over(
        secret.as_bytes(),
        &[ts_text.as_bytes(), b".", event_id.as_bytes(), b".", body],
    );
    let matches = |candidate: &str| {
        hex::decode(candidate)
            .map(|tag| expected.clone().verify_slice(&tag).is_ok())
            .unwrap_or(false)
    };
    // Evaluate both (no short-circuit on which header matched).
    let current_ok = matches(given);
    let previous_ok = previous.is_some_and(matches);
    if current_ok | previous_ok {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// Receiver side of the Standard Webhooks form: reads `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` and accepts if ANY of the space-separated `v1,` entries matches
/// (entries of other versions are ignored). Same tolerance rule as [`verify_clipus`].
pub fn verify_standard(
    secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let key = standard_key(secret).map_err(|_| VerifyError::InvalidSecret)?;
    let msg_id = header(headers, HEADER_WEBHOOK_ID)?;
    let signatures = header(headers, HEADER_WEBHOOK_SIGNATURE)?;
    let ts = timestamp(headers, HEADER_WEBHOOK_TIMESTAMP, now_unix, tolerance_secs)?;
    let expected = standard_mac(&key, msg_id, ts, body);
    let mut any = false;
    for entry in signatures.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, encoded)) = entry.split_once(',') else {
            continue;
        };
        if version != STANDARD_VERSION {
            continue;
        }
        if let Ok(tag) = BASE64.decode(encoded) {
            any |= expected.clone().verify_slice(&tag).is_ok();
        }
    }
    if any {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const EVENT: &str = "evt_01JD0000000000000000000000";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"event":"campaign.completed","campaign_id":"c1"}"#;

    fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
        headers.insert(name, HeaderValue::from_str(value).expect("header value"));
    }

    /// The headers a delivery carries, signed with `secrets[0]` (current) and optionally
    /// `secrets[1]` (previous).
    fn delivery(secrets: &[&str], ts: i64, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        set(&mut h, HEADER_CLIPUS_EVENT_ID, EVENT);
        set(&mut h, HEADER_CLIPUS_TIMESTAMP, &ts.to_string());
        set(
            &mut h,
            HEADER_CLIPUS_SIGNATURE,
            &clipus_signature(secrets[0], ts, EVENT, body),
        );
        if let Some(previous) = secrets.get(1) {
            set(
                &mut h,
                HEADER_CLIPUS_SIGNATURE_PREVIOUS,
                &clipus_signature(previous, ts, EVENT, body),
            );
        }
        set(&mut h, HEADER_CLIPUS_SIGNATURE_ALG, CLIPUS_SIGNATURE_ALG);
        set(&mut h, HEADER_WEBHOOK_ID, EVENT);
        set(&mut h, HEADER_WEBHOOK_TIMESTAMP, &ts.to_string());
        set(
            &mut h,
            HEADER_WEBHOOK_SIGNATURE,
            &standard_signature_header(secrets, EVENT, ts, body).expect("sign"),
        );
        h
    }

    #[test]
    fn rfc4231_hmac_sha256_vectors() {
        // RFC 4231 §4.2 (test case 1) and §4.3 (test case 2).
        let tc1 = hmac_sha256(&[0x0b; 20], &[b"Hi There"]);
        assert_eq!(
            hex::encode(tc1),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Split input: the parts are concatenated.
        let tc2 = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(tc2),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // §4.7 (test case 6): a key longer than the block size is hashed first.
        let tc6 = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex::encode(tc6),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn clipus_signature_is_lowercase_hex_over_timestamp_id_body() {
        let sig = clipus_signature(SECRET, NOW, EVENT, BODY);
        assert_eq!(sig.len(), 64);
        assert!(sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        let mut message = format!("{NOW}.{EVENT}.").into_bytes();
        message.extend_from_slice(BODY);
        // The key is the whole secret string, prefix included, NOT its base64 decoding.
        assert_eq!(
            sig,
            hex::encode(hmac_sha256(SECRET.as_bytes(), &[&message]))
        );
        let decoded_key = BASE64.decode(&SECRET[6..]).expect("base64");
        assert_ne!(sig, hex::encode(hmac_sha256(&decoded_key, &[&message])));
        // Every input is covered.
        assert_ne!(sig, clipus_signature(SECRET, NOW + 1, EVENT, BODY));
        assert_ne!(sig, clipus_signature(SECRET, NOW, "evt_other", BODY));
        assert_ne!(sig, clipus_signature(SECRET, NOW, EVENT, b"{}"));
        assert_ne!(sig, clipus_signature(OLD_SECRET, NOW, EVENT, BODY));
    }

    #[test]
    fn standard_webhooks_published_test_vectors() {
        // The Standard Webhooks specification's example (also the svix libraries' sign test).
        assert_eq!(
            standard_signature(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            ),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string())
        );
        // The reference Rust library's `test_sign`.
        assert_eq!(
            standard_signature(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#,
            ),
            Ok("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=".to_string())
        );
        // Without the prefix the secret is decoded whole, as the reference libraries do.
        assert_eq!(
            standard_signature(
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            ),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string())
        );
    }

    #[test]
    fn standard_signature_rejects_bad_secrets() {
        for bad in ["whsec_", "whsec_not base64!", "whsec_abc", ""] {
            assert_eq!(
                standard_signature(bad, "m", 1, b"{}"),
                Err(SignatureError::InvalidSecret),
                "secret {bad:?}"
            );
        }
        assert_eq!(
            standard_signature_header(&[], "m", 1, b"{}"),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            standard_signature_header(&[SECRET, "whsec_abc"], "m", 1, b"{}"),
            Err(SignatureError::InvalidSecret)
        );
    }

    #[test]
    fn standard_header_lists_one_entry_per_secret_in_order() {
        let header =
            standard_signature_header(&[SECRET, OLD_SECRET], EVENT, NOW, BODY).expect("sign");
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            entries,
            vec![
                standard_signature(SECRET, EVENT, NOW, BODY)
                    .expect("sign")
                    .as_str(),
                standard_signature(OLD_SECRET, EVENT, NOW, BODY)
                    .expect("sign")
                    .as_str(),
            ]
        );
        assert_eq!(
            standard_signature_header(&[SECRET], EVENT, NOW, BODY),
            standard_signature(SECRET, EVENT, NOW, BODY)
        );
    }

    #[test]
    fn verify_accepts_a_genuine_delivery() {
        let h = delivery(&[SECRET], NOW, BODY);
        assert_eq!(
            verify_clipus(SECRET, &h, BODY, NOW, DEFAULT_TOLERANCE_SECS),
            Ok(())
        );
        assert_eq!(
            verify_standard(SECRET, &h, BODY, NOW, DEFAULT_TOLERANCE_SECS),
            Ok(())
        );
        // Uppercase hex is the same MAC.
        let mut upper = h.clone();
        let sig = clipus_signature(SECRET, NOW, EVENT, BODY).to_uppercase();
        set(&mut upper, HEADER_CLIPUS_SIGNATURE, &sig);
        assert_eq!(verify_clipus(SECRET, &upper, BODY, NOW, 300), Ok(()));
    }

    #[test]
    fn verify_rejects_tampering() {
        let h = delivery(&[SECRET], NOW, BODY);
        let tampered = br#"{"event":"campaign.completed","campaign_id":"c2"}"#;
        assert_eq!(
            verify_clipus(SECRET, &h, tampered, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify_standard(SECRET, &h, tampered, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        // Wrong secret.
        assert_eq!(
            verify_clipus(OLD_SECRET, &h, BODY, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify_standard(OLD_SECRET, &h, BODY, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        // A changed event id or timestamp (still within tolerance) breaks both forms.
        for (clipus, standard) in [
            (HEADER_CLIPUS_EVENT_ID, HEADER_WEBHOOK_ID),
            (HEADER_CLIPUS_TIMESTAMP, HEADER_WEBHOOK_TIMESTAMP),
        ] {
            let mut changed = h.clone();
            let value = if clipus == HEADER_CLIPUS_EVENT_ID {
                "evt_forged".to_string()
            } else {
                (NOW - 1).to_string()
            };
            set(&mut changed, clipus, &value);
            set(&mut changed, standard, &value);
            assert_eq!(
                verify_clipus(SECRET, &changed, BODY, NOW, 300),
                Err(VerifyError::SignatureMismatch)
            );
            assert_eq!(
                verify_standard(SECRET, &changed, BODY, NOW, 300),
                Err(VerifyError::SignatureMismatch)
            );
        }
        // Garbage, truncated and foreign-version signatures.
        for bad in [
            "zz",
            "",
            "abcd",
            &clipus_signature(SECRET, NOW, EVENT, BODY)[..62],
        ] {
            let mut changed = h.clone();
            set(&mut changed, HEADER_CLIPUS_SIGNATURE, bad);
            assert_eq!(
                verify_clipus(SECRET, &changed, BODY, NOW, 300),
                Err(VerifyError::SignatureMismatch),
                "{bad:?}"
            );
        }
        let genuine = standard_signature(SECRET, EVENT, NOW, BODY).expect("sign");
        let v2 = genuine.replacen("v1,", "v2,", 1);
        for bad in [
            "v1,!!!",
            "v1",
            "",
            v2.as_str(),
            &genuine[..genuine.len() - 2],
        ] {
            let mut changed = h.clone();
            set(&mut changed, HEADER_WEBHOOK_SIGNATURE, bad);
            assert_eq!(
                verify_standard(SECRET, &changed, BODY, NOW, 300),
                Err(VerifyError::SignatureMismatch),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn verify_enforces_the_timestamp_tolerance() {
        let h = delivery(&[SECRET], NOW, BODY);
        // Exactly at the edge is accepted, one second beyond is not, in both directions.
        for now in [NOW + 300, NOW - 300] {
            assert_eq!(verify_clipus(SECRET, &h, BODY, now, 300), Ok(()));
            assert_eq!(verify_standard(SECRET, &h, BODY, now, 300), Ok(()));
        }
        assert_eq!(
            verify_clipus(SECRET, &h, BODY, NOW + 301, 300),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            verify_standard(SECRET, &h, BODY, NOW + 301, 300),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            verify_clipus(SECRET, &h, BODY, NOW - 301, 300),
            Err(VerifyError::TimestampInFuture)
        );
        assert_eq!(
            verify_standard(SECRET, &h, BODY, NOW - 301, 300),
            Err(VerifyError::TimestampInFuture)
        );
        // Extreme values do not overflow.
        let far = delivery(&[SECRET], i64::MIN, BODY);
        assert_eq!(
            verify_clipus(SECRET, &far, BODY, i64::MAX, 300),
            Err(VerifyError::TimestampTooOld)
        );
    }

    #[test]
    fn verify_reports_missing_and_malformed_headers() {
        let h = delivery(&[SECRET], NOW, BODY);
        for name in [
            HEADER_CLIPUS_EVENT_ID,
            HEADER_CLIPUS_TIMESTAMP,
            HEADER_CLIPUS_SIGNATURE,
        ] {
            let mut missing = h.clone();
            missing.remove(name);
            assert_eq!(
                verify_clipus(SECRET, &missing, BODY, NOW, 300),
                Err(VerifyError::MissingHeader(name))
            );
        }
        for name in [
            HEADER_WEBHOOK_ID,
            HEADER_WEBHOOK_TIMESTAMP,
            HEADER_WEBHOOK_SIGNATURE,
        ] {
            let mut missing = h.clone();
            missing.remove(name);
            assert_eq!(
                verify_standard(SECRET, &missing, BODY, NOW, 300),
                Err(VerifyError::MissingHeader(name))
            );
        }
        let mut bad_ts = h.clone();
        set(&mut bad_ts, HEADER_CLIPUS_TIMESTAMP, "yesterday");
        set(&mut bad_ts, HEADER_WEBHOOK_TIMESTAMP, "1.5e9");
        assert_eq!(
            verify_clipus(SECRET, &bad_ts, BODY, NOW, 300),
            Err(VerifyError::InvalidHeader(HEADER_CLIPUS_TIMESTAMP))
        );
        assert_eq!(
            verify_standard(SECRET, &bad_ts, BODY, NOW, 300),
            Err(VerifyError::InvalidHeader(HEADER_WEBHOOK_TIMESTAMP))
        );
        assert_eq!(
            verify_standard("whsec_%%%", &h, BODY, NOW, 300),
            Err(VerifyError::InvalidSecret)
        );
    }

    #[test]
    fn rotation_either_secret_verifies_both_forms() {
        // During the 24 h overlap: X-Clipus-Signature with the new secret,
        // X-Clipus-Signature-Previous with the old one, webhook-signature with both.
        let h = delivery(&[SECRET, OLD_SECRET], NOW, BODY);
        assert_eq!(
            h.get(HEADER_WEBHOOK_SIGNATURE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(' ').count()),
            Some(2)
        );
        for secret in [SECRET, OLD_SECRET] {
            assert_eq!(
                verify_clipus(secret, &h, BODY, NOW, 300),
                Ok(()),
                "{secret}"
            );
            assert_eq!(
                verify_standard(secret, &h, BODY, NOW, 300),
                Ok(()),
                "{secret}"
            );
        }
        let unrelated = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==";
        assert_eq!(
            verify_clipus(unrelated, &h, BODY, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify_standard(unrelated, &h, BODY, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        // After the overlap only the new secret signs: the old one no longer verifies.
        let after = delivery(&[SECRET], NOW, BODY);
        assert_eq!(
            verify_clipus(OLD_SECRET, &after, BODY, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify_standard(OLD_SECRET, &after, BODY, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
        // The previous-signature header cannot smuggle a signature over a different body.
        let mut mixed = h.clone();
        set(
            &mut mixed,
            HEADER_CLIPUS_SIGNATURE_PREVIOUS,
            &clipus_signature(OLD_SECRET, NOW, EVENT, b"{}"),
        );
        assert_eq!(
            verify_clipus(OLD_SECRET, &mixed, BODY, NOW, 300),
            Err(VerifyError::SignatureMismatch)
        );
    }
}
