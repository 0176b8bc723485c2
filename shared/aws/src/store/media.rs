//! The media port of a store with a bucket attached (`AwsStore::with_media`): one object
//! for every port, as tests and the CLI want it.

use super::*;
use bytes::Bytes;
use reelforge_core::ports::MediaStore;
use std::time::Duration;

/// The store with a bucket attached answers for the media port too.
#[async_trait]
impl MediaStore for AwsStore {
    async fn put_media(&self, key: &str, body: Bytes, content_type: &str) -> StoreResult<()> {
        self.media()?.put_media(key, body, content_type).await
    }

    async fn get_media(&self, key: &str) -> StoreResult<Option<Bytes>> {
        self.media()?.get_media(key).await
    }

    async fn download_url(&self, key: &str, ttl: Duration) -> StoreResult<String> {
        self.media()?.download_url(key, ttl).await
    }

    async fn delete_media(&self, key: &str) -> StoreResult<()> {
        self.media()?.delete_media(key).await
    }
}
