//! Terminal events and their delivery attempts.

use super::*;

#[async_trait]
impl WebhookStore for LocalStore {
    async fn get_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
    ) -> StoreResult<Option<WebhookEvent>> {
        event_doc(&self.conn(), campaign_id, event_id)
    }

    async fn list_events(&self, campaign_id: Uuid) -> StoreResult<Vec<WebhookEvent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM webhook_events WHERE campaign_id = ?1 ORDER BY created_at_ms, id",
            )
            .map_err(db_err)?;
        let docs: Vec<String> = stmt
            .query_map([campaign_id.to_string()], |r| r.get(0))
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(json_err))
            .collect()
    }

    async fn claim_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<Option<WebhookEvent>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let Some(mut event) = event_doc(&tx, campaign_id, event_id)? else {
            return Ok(None);
        };
        if !event.can_claim(attempt) {
            return Ok(None);
        }
        event.attempts.push(attempt.clone());
        save_event(&tx, &event)?;
        tx.commit().map_err(db_err)?;
        Ok(Some(event))
    }

    async fn finish_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
        state: DeliveryState,
        next_attempt_at_ms: i64,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut event = event_doc(&tx, campaign_id, event_id)?.ok_or(StoreError::NotFound)?;
        let Some(slot) = event
            .attempts
            .iter_mut()
            .find(|a| a.number == attempt.number)
        else {
            return Err(StoreError::NotFound);
        };
        *slot = attempt.clone();
        // Only the latest attempt of a pending event decides its state: a late finish of
        // an attempt already judged stale must not undo a later outcome.
        if event.state == DeliveryState::Pending && event.attempts.len() as u32 == attempt.number {
            event.state = state;
            event.next_attempt_at_ms = next_attempt_at_ms;
        }
        save_event(&tx, &event)?;
        tx.commit().map_err(db_err)
    }

    async fn reopen_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        extra: u32,
        now_ms: i64,
    ) -> StoreResult<Option<WebhookEvent>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut event = event_doc(&tx, campaign_id, event_id)?.ok_or(StoreError::NotFound)?;
        if event.state == DeliveryState::Pending {
            return Ok(None);
        }
        event.state = DeliveryState::Pending;
        event.attempt_budget = event.attempts.len() as u32 + extra;
        event.next_attempt_at_ms = now_ms;
        save_event(&tx, &event)?;
        insert_message(&tx, &StageMessage::webhook(campaign_id, event_id), 0)?;
        tx.commit().map_err(db_err)?;
        Ok(Some(event))
    }
}
