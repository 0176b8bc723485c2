//! API keys: generation, hashing, display form, and reading the credential off a request.
//! Only the SHA-256 of a key is ever stored; it doubles as the lookup id.

use base64::Engine;
use http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "sk_live_";
const KEY_HEX_LEN: usize = 32;

/// A freshly minted key. `secret` is shown once and then dropped.
pub struct MintedKey {
    pub secret: String,
    pub hash: String,
    pub display: String,
}

impl std::fmt::Debug for MintedKey {
    // Never let the secret reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("hash", &self.hash)
            .field("display", &self.display)
            .finish_non_exhaustive()
    }
}

pub fn mint() -> MintedKey {
    let mut bytes = [0u8; 16];
    // ThreadRng is a CSPRNG seeded and periodically reseeded from the OS.
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    MintedKey {
        hash: hash_key(&secret),
        display: display_form(&secret),
        secret,
    }
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// `sk_live_1a2b…9f0e`: enough to recognise a key in a listing, useless to an attacker.
pub fn display_form(key: &str) -> String {
    let hex = key.strip_prefix(KEY_PREFIX).unwrap_or(key);
    // Non-ASCII text is no key of ours, and slicing it by bytes could split a character.
    if hex.len() < 8 || !hex.is_ascii() {
        return format!("{KEY_PREFIX}…");
    }
    format!("{KEY_PREFIX}{}…{}", &hex[..4], &hex[hex.len() - 4..])
}

/// `sk_live_` followed by exactly 32 lowercase hex characters.
pub fn is_well_formed(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|hex| {
        hex.len() == KEY_HEX_LEN && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// What the request presented. Missing and malformed credentials are decided without
/// touching the store, so they are limited by the unauthenticated IP layer alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Missing,
    Malformed,
    Key(String),
}

/// Accepts `Authorization: Bearer <key>`, `X-API-Key: <key>` and
/// `Authorization: Basic base64(<anything>:<key>)` (or `<key>:` as Stripe-style clients send).
pub fn credential(headers: &HeaderMap) -> Credential {
    // `Some(None)`: an Authorization header we can't read as Bearer or Basic.
    let from_auth = headers.get(http::header::AUTHORIZATION).map(|v| {
        let (scheme, rest) = v.to_str().ok()?.trim().split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            Some(rest.to_string())
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, pass) = text.rsplit_once(':')?;
            Some(if pass.is_empty() { user } else { pass }.to_string())
        } else {
            None
        }
    });
    let from_header = headers
        .get("x-api-key")
        .map(|v| v.to_str().ok().map(|s| s.trim().to_string()));
    // A Bearer/Basic credential wins; an Authorization header of another scheme (a
    // proxy's, say) does not hide a valid X-API-Key.
    let candidate: Option<Option<String>> = match (from_auth, from_header) {
        (Some(Some(k)), _) => Some(Some(k)),
        (_, Some(x)) => Some(x),
        (auth, None) => auth,
    };
    match candidate {
        None => Credential::Missing,
        Some(Some(k)) if is_well_formed(&k) => Credential::Key(k),
        Some(_) => Credential::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn minted_keys_are_well_formed_unique_and_hash_to_their_id() {
        let a = mint();
        let b = mint();
        assert!(is_well_formed(&a.secret));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash_key(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(a.display.starts_with("sk_live_") && a.display.contains('…'));
        assert!(!a.display.contains(&a.secret[8..20]));
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn known_hash_and_display() {
        let k = "sk_live_0123456789abcdef0123456789abcdef";
        assert_eq!(display_form(k), "sk_live_0123…cdef");
        assert_eq!(
            hash_key(k),
            hex::encode(Sha256::digest(b"sk_live_0123456789abcdef0123456789abcdef"))
        );
    }

    #[test]
    fn display_form_of_non_ascii_text_does_not_panic() {
        // Found by the api_key fuzz target (fuzz/regressions/api_key/): byte slicing
        // used to split the multi-byte character.
        assert_eq!(
            display_form("sk_live_01234#6789abcdef01234567:abbcd\u{fffd}ef"),
            "sk_live_…"
        );
        assert_eq!(display_form("sk_live_é123456789"), "sk_live_…");
    }

    #[test]
    fn form_rules() {
        assert!(is_well_formed("sk_live_0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "sk_live_",
            "sk_live_0123456789ABCDEF0123456789abcdef",
            "sk_live_0123456789abcdef0123456789abcde",
            "sk_live_0123456789abcdef0123456789abcdef0",
            "sk_test_0123456789abcdef0123456789abcdef",
            "sk_live_0123456789abcdef0123456789abcdeg",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn credential_sources() {
        let k = "sk_live_0123456789abcdef0123456789abcdef";
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(credential(&HeaderMap::new()), Credential::Missing);
        for h in [
            headers(&[("authorization", &format!("Bearer {k}"))]),
            headers(&[("authorization", &format!("bearer  {k} "))]),
            headers(&[("x-api-key", k)]),
            headers(&[(
                "authorization",
                &format!("Basic {}", b64(&format!("user:{k}"))),
            )]),
            headers(&[("authorization", &format!("Basic {}", b64(&format!("{k}:"))))]),
            headers(&[("authorization", "Token proxy-secret"), ("x-api-key", k)]),
        ] {
            assert_eq!(credential(&h), Credential::Key(k.to_string()), "{h:?}");
        }
        for h in [
            headers(&[("authorization", "Bearer nope")]),
            headers(&[("authorization", &format!("Token {k}"))]),
            headers(&[("authorization", "Basic !!!")]),
            headers(&[("authorization", &format!("Basic {}", b64("user:pass")))]),
            headers(&[("x-api-key", "sk_live_short")]),
        ] {
            assert_eq!(credential(&h), Credential::Malformed, "{h:?}");
        }
    }
}
