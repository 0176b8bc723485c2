//! The stage queues (SQS), one per stage, sharing the store's round-trip count.

use super::*;

#[async_trait]
impl StageQueue for AwsStore {
    async fn send(&self, message: &StageMessage, delay_secs: u32) -> StoreResult<()> {
        let queue_url = self.names.queue_for(message.stage);
        if queue_url.is_empty() {
            return Err(StoreError::Unavailable(format!(
                "no queue configured for stage {} (REELFORGE_QUEUE_URL_{} or REELFORGE_QUEUE_URL)",
                message.stage,
                message.stage.as_str().to_ascii_uppercase()
            )));
        }
        let body = serde_json::to_string(message)
            .map_err(|e| StoreError::Other(format!("encoding stage message: {e}")))?;
        self.count();
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .delay_seconds(delay_secs.min(900) as i32)
            .send()
            .await
            .map_err(|e| sdk_err("SendMessage", e))?;
        Ok(())
    }
}

impl AwsStore {
    /// Hands a received message back to its queue early: SQS shows it again after
    /// `delay_secs` instead of after the queue's visibility timeout.
    pub async fn retry_received(
        &self,
        stage: Stage,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> StoreResult<()> {
        let queue_url = self.names.queue_for(stage);
        self.count();
        self.sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_secs).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_err("ChangeMessageVisibility", e))?;
        Ok(())
    }
}
