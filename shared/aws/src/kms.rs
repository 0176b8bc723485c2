//! Provider API keys sealed with AWS KMS (the AWS deployment's [`SecretSealer`]).
//!
//! `Encrypt` and `Decrypt` carry the owner as the encryption context
//! (`{"account_id": …, "profile_id": …}`), so KMS itself refuses a ciphertext copied onto
//! another profile or account. The sealed form keeps the `CiphertextBlob` (base64) and
//! `kms:` + the key ARN KMS reports; the nonce stays empty (KMS embeds its own), so a
//! the local sealer refuses it as another key's, and this sealer
//! refuses anything not sealed by KMS without a request.
//!
//! No error carries the plaintext or the ciphertext: service errors become their code
//! (`KMS ThrottlingException`), transport errors their kind.

/// The SDK client this adapter takes.
pub use aws_sdk_kms::Client;

use async_trait::async_trait;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reelforge_core::styles::secrets::{
    mask, PlainSecret, SealedSecret, SecretError, SecretOwner, SecretSealer, MAX_SECRET_LEN,
};
use std::fmt;

/// Prefix of [`SealedSecret::key_id`] for secrets sealed by [`KmsSealer`].
pub const KMS_KEY_PREFIX: &str = "kms:";
/// Largest `CiphertextBlob` KMS returns, in bytes.
pub const MAX_CIPHERTEXT_LEN: usize = 6144;

/// Seals with `Encrypt` and opens with `Decrypt` under one KMS key (key id, key ARN,
/// alias name or alias ARN). `Decrypt` names the configured key, so a sealed secret of
/// another key does not open here even where the role could use that key.
#[derive(Clone)]
pub struct KmsSealer {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl fmt::Debug for KmsSealer {
    // The client's configuration (credentials provider, interceptors) is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsSealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl KmsSealer {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        KmsSealer {
            client,
            key_id: key_id.into(),
        }
    }

    /// The configured key, as given to [`KmsSealer::new`].
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[async_trait]
impl SecretSealer for KmsSealer {
    /// Refuses an over-long secret ([`SecretError::TooLong`]) and an empty one (KMS
    /// cannot encrypt nothing: [`SecretError::SealFailed`]) without a request.
    async fn seal(
        &self,
        plaintext: &str,
        owner: &SecretOwner,
    ) -> Result<SealedSecret, SecretError> {
        if plaintext.len() > MAX_SECRET_LEN {
            return Err(SecretError::TooLong);
        }
        if plaintext.is_empty() {
            return Err(SecretError::SealFailed);
        }
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.as_bytes()))
            .encryption_context("account_id", &owner.account_id)
            .encryption_context("profile_id", &owner.profile_id)
            .send()
            .await
            .map_err(|e| backend_error(&e))?;
        let blob = out
            .ciphertext_blob()
            .map(Blob::as_ref)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SecretError::Backend("KMS Encrypt returned no ciphertext".into()))?;
        let key = out.key_id().unwrap_or(&self.key_id);
        Ok(SealedSecret {
            ciphertext_b64: B64.encode(blob),
            nonce_b64: String::new(),
            key_id: format!("{KMS_KEY_PREFIX}{key}"),
            masked: mask(plaintext),
        })
    }

    async fn open(
        &self,
        sealed: &SealedSecret,
        owner: &SecretOwner,
    ) -> Result<PlainSecret, SecretError> {
        if !sealed.key_id.starts_with(KMS_KEY_PREFIX) {
            return Err(SecretError::WrongKey {
                expected: format!("{KMS_KEY_PREFIX}{}", self.key_id),
                found: sealed.key_id.chars().take(64).collect(),
            });
        }
        if !sealed.nonce_b64.is_empty() {
            return Err(SecretError::Malformed("KMS-sealed secret has a nonce"));
        }
        if sealed.ciphertext_b64.len() > MAX_CIPHERTEXT_LEN.div_ceil(3) * 4 {
            return Err(SecretError::Malformed("ciphertext too long"));
        }
        let blob = B64
            .decode(&sealed.ciphertext_b64)
            .map_err(|_| SecretError::Malformed("ciphertext is not base64"))?;
        if blob.is_empty() {
            return Err(SecretError::Malformed("ciphertext is empty"));
        }
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(blob))
            .encryption_context("account_id", &owner.account_id)
            .encryption_context("profile_id", &owner.profile_id)
            .send()
            .await
            .map_err(|e| match service_code(&e) {
                Some(
                    "InvalidCiphertextException"
                    | "IncorrectKeyException"
                    | "AccessDeniedException",
                ) => SecretError::OpenFailed,
                _ => backend_error(&e),
            })?;
        let plain = out
            .plaintext()
            .ok_or_else(|| SecretError::Backend("KMS Decrypt returned no plaintext".into()))?;
        let text = std::str::from_utf8(plain.as_ref()).map_err(|_| SecretError::OpenFailed)?;
        Ok(PlainSecret::new(text))
    }
}

/// The error code of a service error as KMS sent it (`None` for transport failures).
fn service_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// `KMS <code>` for a service error (the code cut to a short, plain identifier: it is
/// the only part of the response used), `KMS <kind>` for a transport failure.
fn backend_error<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> SecretError {
    let what: String = match e {
        SdkError::ServiceError(se) => {
            let code: String = se
                .err()
                .code()
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
                .take(64)
                .collect();
            if code.is_empty() {
                "service error".into()
            } else {
                code
            }
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(_) => "unreachable".into(),
        SdkError::ResponseError(_) => "bad response".into(),
        SdkError::ConstructionFailure(_) => "request construction failed".into(),
        _ => "error".into(),
    };
    SecretError::Backend(format!("KMS {what}"))
}
