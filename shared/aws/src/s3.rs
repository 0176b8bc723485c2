//! Media files on AWS: one S3 bucket, keys as given ([`media_key_is_valid`] checked
//! before any request), `file_url` as a presigned GET.

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use bytes::Bytes;
use reelforge_core::ports::{media_key_is_valid, MediaStore, StoreError, StoreResult};
use std::time::Duration;

/// An S3 client for `config`; path-style addressing when an endpoint override is set
/// (emulators on loopback have no per-bucket host names).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build(),
    )
}

/// The error's kind and code, never the request it came from.
pub fn s3_error<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(se) => {
            format!("S3 {}", se.err().code().unwrap_or("service error"))
        }
        other => format!("S3 unreachable ({})", kind(other)),
    }
}

fn kind<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> &'static str {
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "bad response",
        SdkError::ConstructionFailure(_) => "request construction",
        _ => "service error",
    }
}

fn check(key: &str) -> StoreResult<()> {
    if media_key_is_valid(key) {
        Ok(())
    } else {
        Err(StoreError::Other(format!("invalid media key {key:?}")))
    }
}

/// Media files in one S3 bucket.
#[derive(Clone)]
pub struct S3Media {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Media {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> S3Media {
        S3Media {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket `REELFORGE_MEDIA_BUCKET` through [`s3_client`].
    pub fn from_config(config: &aws_config::SdkConfig) -> S3Media {
        S3Media::new(
            s3_client(config),
            std::env::var("REELFORGE_MEDIA_BUCKET").unwrap_or_default(),
        )
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket (tests and `reelforge setup` against an emulator).
    pub async fn create_bucket(&self) -> StoreResult<()> {
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(s3_error(&e)))?;
        Ok(())
    }
}

#[async_trait]
impl MediaStore for S3Media {
    async fn put_media(&self, key: &str, body: Bytes, content_type: &str) -> StoreResult<()> {
        check(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(s3_error(&e)))?;
        Ok(())
    }

    async fn delete_media(&self, key: &str) -> StoreResult<()> {
        check(key)?;
        // S3 answers a delete of a missing key with success too.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(s3_error(&e)))?;
        Ok(())
    }

    async fn get_media(&self, key: &str) -> StoreResult<Option<Bytes>> {
        check(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
                return Ok(None)
            }
            Err(e) => return Err(StoreError::Unavailable(s3_error(&e))),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("S3 body: {e}")))?;
        Ok(Some(body.into_bytes()))
    }

    async fn media_exists(&self, key: &str) -> StoreResult<bool> {
        check(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(false),
            Err(e) => Err(StoreError::Unavailable(s3_error(&e))),
        }
    }

    async fn download_url(&self, key: &str, ttl: Duration) -> StoreResult<String> {
        check(key)?;
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Other(format!("presigning: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| StoreError::Other(s3_error(&e)))?;
        Ok(req.uri().to_string())
    }
}
