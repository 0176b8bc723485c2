//! Terminal events and their delivery attempts.

use super::*;

#[async_trait]
impl WebhookStore for AwsStore {
    async fn get_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
    ) -> StoreResult<Option<WebhookEvent>> {
        self.get(campaign_pk(campaign_id), &event_sk(event_id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn list_events(&self, campaign_id: Uuid) -> StoreResult<Vec<WebhookEvent>> {
        let mut events: Vec<WebhookEvent> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let page = self
                .dynamo
                .query()
                .table_name(&self.names.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(campaign_pk(campaign_id)))
                .expression_attribute_values(":prefix", s(EVENT_SK_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("Query", e))?;
            for item in page.items.unwrap_or_default() {
                events.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        // Ids are ULIDs and the query returns them in time order already; the explicit
        // order is the local backend's (creation time, then id), which also holds for
        // events whose creation time came from an injected clock.
        events.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(events)
    }

    async fn claim_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<Option<WebhookEvent>> {
        let Some(before) = attempt.number.checked_sub(1) else {
            return Ok(None);
        };
        // The same rule as `WebhookEvent::can_claim`, as one condition: pending, exactly
        // `n - 1` attempts, budget left, retry time reached, previous attempt finished
        // or stale (its worker died).
        let mut condition = String::from(
            "attribute_exists(pk) AND #state = :pending AND size(#attempts) = :before \
             AND #budget >= :number AND #next <= :now",
        );
        if let Some(last) = before.checked_sub(1) {
            condition.push_str(&format!(
                " AND (#attempts[{last}].#finished = :true OR #attempts[{last}].#started <= :stale_before)"
            ));
        }
        let mut request = self
            .update_item(campaign_pk(campaign_id), &event_sk(event_id))
            .update_expression("SET #attempts = list_append(#attempts, :new)")
            .condition_expression(condition)
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#budget", "attempt_budget")
            .expression_attribute_names("#next", "next_attempt_at_ms")
            .expression_attribute_values(":new", AttributeValue::L(vec![to_value(attempt)?]))
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":before", n(before))
            .expression_attribute_values(":number", n(attempt.number))
            .expression_attribute_values(":now", n(attempt.started_at_ms))
            .return_values(ReturnValue::AllNew);
        if before > 0 {
            request = request
                .expression_attribute_names("#finished", "finished")
                .expression_attribute_names("#started", "started_at_ms")
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(
                    ":stale_before",
                    n(attempt.started_at_ms - reelforge_core::model::ATTEMPT_STALE_AFTER_MS),
                );
        }
        self.conditional_update(request)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn finish_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
        state: DeliveryState,
        next_attempt_at_ms: i64,
    ) -> StoreResult<()> {
        // Attempt `n` is claimed only onto `n - 1` attempts, so it sits at index `n - 1`.
        let Some(index) = attempt.number.checked_sub(1) else {
            return Err(StoreError::NotFound);
        };
        // Only the latest attempt of a pending event decides its state (a late finish of
        // an attempt already judged stale must not undo a later outcome); otherwise the
        // attempt's own record is all that changes.
        let decides = self
            .update_item(campaign_pk(campaign_id), &event_sk(event_id))
            .update_expression(format!(
                "SET #attempts[{index}] = :attempt, #state = :state, #next = :next"
            ))
            .condition_expression(format!(
                "#attempts[{index}].#number = :number AND size(#attempts) = :number AND #state = :pending"
            ))
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#number", "number")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#next", "next_attempt_at_ms")
            .expression_attribute_values(":attempt", to_value(attempt)?)
            .expression_attribute_values(":number", n(attempt.number))
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":next", n(next_attempt_at_ms));
        if self.conditional_update(decides).await?.is_some() {
            return Ok(());
        }
        let request = self
            .update_item(campaign_pk(campaign_id), &event_sk(event_id))
            .update_expression(format!("SET #attempts[{index}] = :attempt"))
            .condition_expression(format!("#attempts[{index}].#number = :number"))
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#number", "number")
            .expression_attribute_values(":attempt", to_value(attempt)?)
            .expression_attribute_values(":number", n(attempt.number));
        match self.conditional_update(request).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    async fn reopen_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        extra: u32,
        now_ms: i64,
    ) -> StoreResult<Option<WebhookEvent>> {
        let pk = || campaign_pk(campaign_id);
        let sk = event_sk(event_id);
        for attempt in 0..MAX_ATTEMPTS {
            let event = self
                .get_event(campaign_id, event_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if event.state == DeliveryState::Pending {
                return Ok(None);
            }
            // The budget counts from the attempts read; the condition on their number
            // makes sure it is still right when the update lands.
            let made = event.attempts.len() as u32;
            let budget = made + extra;
            let reopen = self
                .update_item(pk(), &sk)
                .update_expression("SET #state = :pending, #budget = :budget, #next = :now")
                .condition_expression("#state <> :pending AND size(#attempts) = :made")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#budget", "attempt_budget")
                .expression_attribute_names("#next", "next_attempt_at_ms")
                .expression_attribute_names("#attempts", "attempts")
                .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
                .expression_attribute_values(":budget", n(budget))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":made", n(made))
                .return_values(ReturnValue::AllNew);
            let Some(item) = self.conditional_update(reopen).await? else {
                // Changed since the read (reopened or finished by someone else): read again.
                backoff(attempt).await;
                continue;
            };
            let reopened: WebhookEvent = from_item(item)?;
            let Err(send_error) = self.hand_off(campaign_id, event_id).await else {
                return Ok(Some(reopened));
            };
            // A pending event with no message would never be delivered, and could not be
            // reopened again (it reads as "delivery under way"). Undo the reopen unless an
            // attempt was claimed meanwhile — then a delivery is under way after all.
            let undo = self
                .update_item(pk(), &sk)
                .update_expression("SET #state = :was, #budget = :old_budget, #next = :old_next")
                .condition_expression(
                    "#state = :pending AND size(#attempts) = :made AND #budget = :budget",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#budget", "attempt_budget")
                .expression_attribute_names("#next", "next_attempt_at_ms")
                .expression_attribute_names("#attempts", "attempts")
                .expression_attribute_values(":was", s(event.state.as_str()))
                .expression_attribute_values(":old_budget", n(event.attempt_budget))
                .expression_attribute_values(":old_next", n(event.next_attempt_at_ms))
                .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
                .expression_attribute_values(":made", n(made))
                .expression_attribute_values(":budget", n(budget));
            return match self.conditional_update(undo).await {
                Ok(Some(_)) => Err(send_error),
                Ok(None) => Ok(Some(reopened)),
                Err(undo_error) => {
                    tracing::error!(
                        %campaign_id,
                        event_id,
                        error = %undo_error,
                        "reopened event left pending without a queued delivery"
                    );
                    Err(send_error)
                }
            };
        }
        Err(StoreError::Unavailable(
            "reopen_event: too much contention".to_string(),
        ))
    }
}
