//! After review (SPEC §11): a video's script edits, the publishing destinations an
//! account keeps (their OAuth credentials sealed), and each video's publications. Pure
//! records and rules (the edited script's checks are `crate::edit`); the uploads
//! themselves are `reelforge_app::pipeline::publish`.

use crate::string_enum::string_enum;
use crate::styles::secrets::{
    PlainSecret, SealedSecret, SecretError, SecretOwner, SecretSealer, MASK_MIN_CHARS,
    MAX_SECRET_LEN,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Longest edited script, in characters.
pub const MAX_SCRIPT_CHARS: usize = 1_500;
/// Script edits a video accepts.
pub const MAX_EDITS_PER_VIDEO: u32 = 5;
/// Tries per publication (each video to each destination).
pub const PUBLISH_ATTEMPTS: u32 = 3;
/// Destinations one publish request may name.
pub const MAX_DESTINATIONS_PER_PUBLISH: usize = 10;
/// Destinations an account may keep.
pub const MAX_DESTINATIONS: u32 = 20;
/// The profile-store kind destinations are kept under.
pub const DESTINATION_KIND: &str = "destination";
/// Destination ids start with this (the KMS key policy of the publisher matches it).
pub const DESTINATION_ID_PREFIX: &str = "ds_";
/// Longest destination name, in characters.
pub const MAX_DESTINATION_NAME_CHARS: usize = 100;

/// What happened to a video after review. Empty (and left out of the stored record) for
/// a video never edited nor published.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoReview {
    /// Edits accepted so far (at most [`MAX_EDITS_PER_VIDEO`]).
    #[serde(default)]
    pub edits: u32,
    /// The edit being spoken and rendered again, while the video is `rendering`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_edit: Option<ScriptEdit>,
    /// The last edit that could not be rendered (the video kept its previous file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publications: Vec<Publication>,
}

impl VideoReview {
    pub fn is_empty(&self) -> bool {
        *self == VideoReview::default()
    }
}

/// A replaced script on its way to a new video file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptEdit {
    /// 1 for the first edit of the video: names its new media keys.
    pub number: u32,
    pub script: String,
    pub requested_at_ms: i64,
    /// The render job of the edit (aws backend), once submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_job: Option<String>,
}

string_enum!(
    /// Where a destination posts.
    Provider { Youtube = "youtube", Tiktok = "tiktok" }
);

impl Provider {
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Youtube => "YouTube",
            Provider::Tiktok => "TikTok",
        }
    }
}

string_enum!(
    /// Who may watch what a destination posts.
    Privacy { Private = "private", Unlisted = "unlisted", Public = "public" }
);

string_enum!(
    PublicationStatus { Pending = "pending", Published = "published", Failed = "failed" }
);

/// One video on its way to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub destination_id: String,
    pub provider: Provider,
    pub status: PublicationStatus,
    /// The provider's id of the post (YouTube video id; TikTok post id, else publish id).
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Why it failed, for the customer (never a secret, never a provider's raw body).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub attempts: Vec<PublishAttempt>,
    /// The next attempt is not started before this.
    #[serde(default)]
    pub next_attempt_at_ms: i64,
    /// The provider's upload session, written before any byte is sent to it, so a retry
    /// resumes it (and learns whether it already finished) instead of creating a second
    /// post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadSession>,
}

impl Publication {
    pub fn pending(destination_id: &str, provider: Provider) -> Self {
        Publication {
            destination_id: destination_id.to_string(),
            provider,
            status: PublicationStatus::Pending,
            external_id: None,
            url: None,
            error: None,
            attempts: Vec::new(),
            next_attempt_at_ms: 0,
            upload: None,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.status != PublicationStatus::Pending
    }
}

/// A provider upload under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// YouTube: the resumable session URI; TikTok: the upload URL. Used verbatim.
    pub url: String,
    pub total_bytes: u64,
    /// TikTok's publish id (its status is fetched with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_id: Option<String>,
    /// TikTok's creator name, for the post's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    pub started_at_ms: i64,
    /// The last bytes of the file were sent: from then on an expired session may hide a
    /// finished upload, which is never answered with a second one.
    #[serde(default)]
    pub final_bytes_sent: bool,
}

/// One try at a publication, claimed (written) before any request goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishAttempt {
    pub number: u32,
    pub started_at_ms: i64,
    pub finished: bool,
    /// Every HTTP status the provider answered during the attempt, in order.
    #[serde(default)]
    pub status_codes: Vec<u16>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The accepted publish request of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub requested_at_ms: i64,
    pub video_ids: Vec<Uuid>,
    #[serde(default)]
    pub destinations: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Destinations

/// A destination as received (`POST /api/v1/destinations`): the credentials in plaintext.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    pub provider: String,
    pub name: String,
    pub client_id: PlainSecret,
    pub client_secret: PlainSecret,
    pub refresh_token: PlainSecret,
    /// Absent: `private`, the one setting every provider and every client (audited or
    /// not) accepts.
    #[serde(default)]
    pub privacy: Option<String>,
}

/// A refused destination body: the message of a 400 (never echoes a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DestinationRefused(pub String);

/// A destination as stored: the credentials only in sealed form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub provider: Provider,
    pub name: String,
    pub privacy: Privacy,
    pub client_id: SealedSecret,
    pub client_secret: SealedSecret,
    /// TikTok rotates it on every refresh: the publisher seals and stores the new one.
    pub refresh_token: SealedSecret,
}

/// What the API shows of a destination: the credentials masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationView {
    pub provider: Provider,
    pub name: String,
    pub privacy: Privacy,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl DestinationInput {
    /// Checks every field; `Ok` gives the provider and privacy.
    pub fn validate(&self) -> Result<(Provider, Privacy), DestinationRefused> {
        let refuse = |m: String| Err(DestinationRefused(m));
        let Ok(provider) = self.provider.parse::<Provider>() else {
            return refuse("provider must be one of youtube, tiktok".into());
        };
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_DESTINATION_NAME_CHARS {
            return refuse(format!(
                "name must be 1 to {MAX_DESTINATION_NAME_CHARS} characters"
            ));
        }
        if name.chars().any(char::is_control) {
            return refuse("name must not contain control characters".into());
        }
        for (field, secret) in [
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ] {
            let s = secret.expose();
            if s.is_empty() || s.len() > MAX_SECRET_LEN || !s.bytes().all(|b| b.is_ascii_graphic())
            {
                return refuse(format!(
                    "{field} must be 1 to {MAX_SECRET_LEN} printable ASCII characters without spaces"
                ));
            }
        }
        let privacy = match self.privacy.as_deref() {
            None => Privacy::Private,
            Some(p) => match p.parse::<Privacy>() {
                Ok(p) => p,
                Err(()) => {
                    return refuse("privacy must be one of private, unlisted, public".into())
                }
            },
        };
        if provider == Provider::Tiktok && privacy == Privacy::Unlisted {
            return refuse(
                "privacy unlisted has no TikTok equivalent: use private or public".into(),
            );
        }
        Ok((provider, privacy))
    }

    /// The stored form, each credential sealed for `owner` (the account and the
    /// destination's id) and masked to its last four characters.
    pub async fn seal(
        self,
        sealer: &dyn SecretSealer,
        owner: &SecretOwner,
    ) -> Result<Destination, SecretError> {
        let (provider, privacy) = self
            .validate()
            .map_err(|_| SecretError::Malformed("destination was not validated"))?;
        Ok(Destination {
            provider,
            name: self.name.trim().to_string(),
            privacy,
            client_id: seal_tail_masked(sealer, &self.client_id, owner).await?,
            client_secret: seal_tail_masked(sealer, &self.client_secret, owner).await?,
            refresh_token: seal_tail_masked(sealer, &self.refresh_token, owner).await?,
        })
    }
}

/// Seals `secret`, showing at most its last four characters.
pub async fn seal_tail_masked(
    sealer: &dyn SecretSealer,
    secret: &PlainSecret,
    owner: &SecretOwner,
) -> Result<SealedSecret, SecretError> {
    let mut sealed = sealer.seal(secret.expose(), owner).await?;
    sealed.masked = mask_tail(secret.expose());
    Ok(sealed)
}

/// `…9f3a`: the last four characters; `****` for secrets shorter than
/// [`MASK_MIN_CHARS`], so a short one is never mostly shown.
pub fn mask_tail(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < MASK_MIN_CHARS {
        return "****".to_string();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

impl Destination {
    pub fn view(&self) -> DestinationView {
        DestinationView {
            provider: self.provider,
            name: self.name.clone(),
            privacy: self.privacy,
            client_id: self.client_id.masked.clone(),
            client_secret: self.client_secret.masked.clone(),
            refresh_token: self.refresh_token.masked.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_mask_shows_at_most_four_characters() {
        assert_eq!(mask_tail("1//0gABCDEFGHIJ9f3a"), "…9f3a");
        assert_eq!(mask_tail("short"), "****");
    }

    fn input(provider: &str, privacy: Option<&str>) -> DestinationInput {
        DestinationInput {
            provider: provider.into(),
            name: "Brand channel".into(),
            client_id: PlainSecret::new("client-id-0123456789"),
            client_secret: PlainSecret::new("client-secret-0123456789"),
            refresh_token: PlainSecret::new("refresh-0123456789"),
            privacy: privacy.map(str::to_string),
        }
    }

    #[test]
    fn destination_bodies_are_validated() {
        assert_eq!(
            input("youtube", None).validate(),
            Ok((Provider::Youtube, Privacy::Private))
        );
        assert_eq!(
            input("tiktok", Some("public")).validate(),
            Ok((Provider::Tiktok, Privacy::Public))
        );
        assert!(input("vimeo", None).validate().is_err());
        assert!(input("youtube", Some("friends")).validate().is_err());
        assert!(input("tiktok", Some("unlisted")).validate().is_err());
        let mut blank = input("youtube", None);
        blank.refresh_token = PlainSecret::new("");
        let refused = blank.validate().unwrap_err();
        assert!(refused.0.contains("refresh_token"), "{refused}");
    }
}
