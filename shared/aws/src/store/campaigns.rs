//! Campaigns: the atomic create (quota, campaign, idempotency) and the conditional transitions.

use super::*;

#[async_trait]
impl CampaignStore for AwsStore {
    async fn create_campaign(
        &self,
        campaign: &Campaign,
        reservation: &QuotaReservation,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        let Some(max_before) = reservation.quota.checked_sub(reservation.videos) else {
            let used = self
                .quota_used(&reservation.account_id, &reservation.period)
                .await?;
            return Ok(CreateOutcome::QuotaExceeded { used });
        };
        let quota = self
            .update(quota_pk(&reservation.account_id), &reservation.period)
            .update_expression("SET #used = if_not_exists(#used, :zero) + :n")
            .condition_expression("attribute_not_exists(#used) OR #used <= :max")
            .expression_attribute_names("#used", "used")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":n", n(reservation.videos))
            .expression_attribute_values(":max", n(max_before))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let campaign_item = campaign_item(campaign)?;
        let mut items = vec![
            TransactWriteItem::builder().update(quota).build(),
            TransactWriteItem::builder()
                .put(self.put(campaign_item, "attribute_not_exists(pk)")?)
                .build(),
        ];
        if let Some(record) = idempotency {
            let mut item = to_item(record)?;
            item.extend(primary_key(
                idempotency_pk(&record.account_id, &record.key),
                IDEMP_SK,
            ));
            item.insert("ttl".to_string(), n(record.expires_at_ms.div_euclid(1000)));
            // An expired record may be replaced; "now" is the new record's creation time.
            let put = Put::builder()
                .table_name(&self.names.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR #exp < :now")
                .expression_attribute_names("#exp", "expires_at_ms")
                .expression_attribute_values(":now", n(record.created_at_ms))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }

        for attempt in 0..MAX_ATTEMPTS {
            match self.transact(items.clone()).await {
                Ok(()) => return Ok(CreateOutcome::Created),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    if idempotency.is_some() && reason_code(&reasons, 2) == CONDITION_FAILED {
                        return Ok(CreateOutcome::IdempotencyTaken);
                    }
                    if reason_code(&reasons, 0) == CONDITION_FAILED {
                        let old_used = reasons
                            .first()
                            .and_then(|r| r.item())
                            .and_then(|item| number::<u32>(item, "used"));
                        let used = match old_used {
                            Some(used) => used,
                            None => {
                                self.quota_used(&reservation.account_id, &reservation.period)
                                    .await?
                            }
                        };
                        return Ok(CreateOutcome::QuotaExceeded { used });
                    }
                    if reason_code(&reasons, 1) == CONDITION_FAILED {
                        return Err(StoreError::Other("campaign id already exists".to_string()));
                    }
                    if !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "create_campaign cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "create_campaign: too much contention".to_string(),
        ))
    }

    async fn renew_lease(&self, id: Uuid, holder: &str, until_ms: i64) -> StoreResult<bool> {
        self.count();
        match self
            .dynamo
            .update_item()
            .table_name(&self.names.table)
            .set_key(Some(primary_key(campaign_pk(id), CAMPAIGN_SK)))
            .update_expression("SET #l.#u = :u")
            .condition_expression("#l.#h = :h")
            .expression_attribute_names("#l", "lease")
            .expression_attribute_names("#u", "until_ms")
            .expression_attribute_names("#h", "holder")
            .expression_attribute_values(":u", AttributeValue::N(until_ms.to_string()))
            .expression_attribute_values(":h", s(holder))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err("UpdateItem", e)),
        }
    }

    async fn list_campaigns(&self, account_id: &str) -> StoreResult<Vec<Campaign>> {
        self.account_index(account_id, CAMPAIGN_INDEX_PREFIX, false)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    async fn account_stats(
        &self,
        account_id: &str,
        from_day: &str,
    ) -> StoreResult<reelforge_core::stats::AccountStats> {
        use reelforge_core::stats::{AccountStats, Produced};
        // One partition, read from the first day asked for: `DAY#…` items sort before
        // `TOTAL`, so one query returns both (at most STATS_DAYS + 1 small items).
        let mut stats = AccountStats::default();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let page = self
                .dynamo
                .query()
                .table_name(&self.names.table)
                .key_condition_expression("#pk = :pk AND #sk >= :from")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s(stats_pk(account_id)))
                .expression_attribute_values(":from", s(format!("DAY#{from_day}")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("Query", e))?;
            for item in page.items.unwrap_or_default() {
                let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned();
                let videos = number::<u64>(&item, "videos").unwrap_or(0);
                let credits = number::<u64>(&item, "credits").unwrap_or(0);
                match sk.as_deref() {
                    Some("TOTAL") => {
                        stats.total_videos = videos;
                        stats.total_credits = credits;
                    }
                    Some(day) => {
                        if let Some(day) = day.strip_prefix("DAY#") {
                            stats.days.push(Produced {
                                day: day.to_string(),
                                videos,
                                credits,
                            });
                        }
                    }
                    None => {}
                }
            }
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(stats),
            }
        }
    }

    async fn list_campaign_page(
        &self,
        account_id: &str,
        status: Option<CampaignStatus>,
        before: Option<&CampaignPosition>,
        limit: u32,
    ) -> StoreResult<CampaignPage> {
        // A Query on the account's gsi1 partition, newest first. The page starts after
        // `before` by an exclusive start key built from its position (the index key and
        // the table key of that campaign), so paging never depends on DynamoDB's own
        // LastEvaluatedKey. DynamoDB applies `Limit` before the status filter, so pages of
        // the index are read until one more match than asked was seen or the partition
        // ends: without a filter that is one round trip.
        let wanted = limit as usize + 1;
        let mut start: Option<Item> = before.map(|p| {
            let mut key = primary_key(campaign_pk(p.id), CAMPAIGN_SK);
            key.insert("gsi1pk".to_string(), s(account_pk(account_id)));
            key.insert(
                "gsi1sk".to_string(),
                s(campaign_index_sk(p.created_at, p.id)),
            );
            key
        });
        let mut campaigns: Vec<Campaign> = Vec::new();
        loop {
            self.count();
            let mut query = self
                .dynamo
                .query()
                .table_name(&self.names.table)
                .index_name(GSI1)
                .key_condition_expression("#g = :g AND begins_with(#s, :p)")
                .expression_attribute_names("#g", "gsi1pk")
                .expression_attribute_names("#s", "gsi1sk")
                .expression_attribute_values(":g", s(account_pk(account_id)))
                .expression_attribute_values(":p", s(CAMPAIGN_INDEX_PREFIX))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take());
            query = match status {
                // Without a filter every item read is a match: read just enough.
                None => query.limit((wanted - campaigns.len()) as i32),
                Some(status) => query
                    .filter_expression("#st = :st")
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":st", s(status.as_str())),
            };
            let page = query.send().await.map_err(|e| sdk_err("Query", e))?;
            for item in page.items.unwrap_or_default() {
                campaigns.push(from_item(item)?);
            }
            if campaigns.len() >= wanted {
                break;
            }
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        let more = campaigns.len() > limit as usize;
        campaigns.truncate(limit as usize);
        Ok(CampaignPage { campaigns, more })
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<Campaign>> {
        self.get(campaign_pk(id), CAMPAIGN_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn get_idempotency(
        &self,
        account_id: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let Some(item) = self.get(idempotency_pk(account_id, key), IDEMP_SK).await? else {
            return Ok(None);
        };
        let record: IdempotencyRecord = from_item(item)?;
        // Live through its last millisecond, as in the local backend.
        Ok((record.expires_at_ms >= now_ms).then_some(record))
    }

    async fn release_idempotency(
        &self,
        account_id: &str,
        key: &str,
        campaign_id: Uuid,
    ) -> StoreResult<()> {
        // Expired rather than deleted (the API's role has no DeleteItem): an expired record
        // reads as absent and the next create with the key replaces it; TTL removes it.
        // Gone, or already replaced by another campaign: nothing to do.
        let request = self
            .update_item(idempotency_pk(account_id, key), IDEMP_SK)
            .update_expression("SET #exp = :gone, #ttl = :gone")
            .condition_expression("#c = :c")
            .expression_attribute_names("#exp", "expires_at_ms")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#c", "campaign_id")
            .expression_attribute_values(":gone", n(0))
            .expression_attribute_values(":c", s(campaign_id.to_string()));
        self.conditional_update(request).await.map(|_| ())
    }

    async fn quota_used(&self, account_id: &str, period: &str) -> StoreResult<u32> {
        Ok(self
            .get(quota_pk(account_id), period)
            .await?
            .and_then(|item| number(&item, "used"))
            .unwrap_or(0))
    }

    async fn commit_transition(
        &self,
        next: &Campaign,
        expected: CampaignStatus,
        refund: u32,
        event: Option<&WebhookEvent>,
    ) -> StoreResult<TransitionOutcome> {
        let read_at = next.revision.checked_sub(1).ok_or_else(|| {
            StoreError::Other("a transition carries the revision it creates".into())
        })?;
        let campaign_item = campaign_item(next)?;
        // Items written before revisions existed have none: they count as revision 0.
        let revision_condition = if read_at == 0 {
            "(attribute_not_exists(#rev) OR #rev = :rev)"
        } else {
            "#rev = :rev"
        };
        let campaign_put = Put::builder()
            .table_name(&self.names.table)
            .set_item(Some(campaign_item))
            .condition_expression(format!(
                "attribute_exists(pk) AND #status = :expected AND {revision_condition}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#rev", "revision")
            .expression_attribute_values(":expected", s(expected.as_str()))
            .expression_attribute_values(":rev", AttributeValue::N(read_at.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let event_put = match event {
            Some(event) => {
                let mut item = to_item(event)?;
                item.extend(primary_key(
                    campaign_pk(event.campaign_id),
                    &event_sk(&event.id),
                ));
                Some(
                    TransactWriteItem::builder()
                        .put(self.put(item, "attribute_not_exists(pk)")?)
                        .build(),
                )
            }
            None => None,
        };

        // The refund is clamped at zero, as the local backend's `MAX(used - n, 0)` is, and
        // a missing quota item stays missing. In normal operation the clamp never acts:
        // `used` includes this campaign's reservation, and a campaign is refunded once
        // (the refund rides on the write that makes it terminal, and terminal statuses
        // never move again), so `used >= refund`. Only an out-of-band edit of the quota
        // item could break that; then the transition must still happen, so a failed
        // refund condition is retried with what is left (`ALL_OLD` gives it).
        let mut refund_now = refund;
        let produced = reelforge_core::stats::produced_by(expected, next);
        for attempt in 0..MAX_ATTEMPTS {
            let mut items = vec![TransactWriteItem::builder()
                .put(campaign_put.clone())
                .build()];
            let quota_index = (refund_now > 0).then_some(items.len());
            if quota_index.is_some() {
                items.push(self.refund_update(next, refund_now)?);
            }
            let event_index = event_put.as_ref().map(|put| {
                items.push(put.clone());
                items.len() - 1
            });
            // Last, so the indexes above stay what the cancellation reasons refer to.
            if let Some(produced) = &produced {
                let day = format!("DAY#{}", produced.day);
                items.push(self.produced_update(&next.account_id, &day, produced)?);
                items.push(self.produced_update(&next.account_id, "TOTAL", produced)?);
            }
            let reasons = match self.transact(items).await {
                Ok(()) => {
                    if let Some(event) = event {
                        self.hand_off(event.campaign_id, &event.id).await?;
                    }
                    return Ok(TransitionOutcome::Applied);
                }
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => reasons,
            };
            if reason_code(&reasons, 0) == CONDITION_FAILED {
                let current = match reasons.first().and_then(|r| r.item()) {
                    Some(item) if !item.is_empty() => from_item(item.clone())?,
                    // Missing, or an endpoint that does not return old items.
                    _ => self
                        .get_campaign(next.id)
                        .await?
                        .ok_or(StoreError::NotFound)?,
                };
                return Ok(TransitionOutcome::Stale(Box::new(current)));
            }
            if let Some(index) = quota_index {
                if reason_code(&reasons, index) == CONDITION_FAILED {
                    let old_used = reasons
                        .get(index)
                        .and_then(|r| r.item())
                        .map(|item| number::<u32>(item, "used").unwrap_or(0));
                    let used = match old_used {
                        Some(used) => used,
                        None => {
                            self.quota_used(&next.account_id, &next.quota_period)
                                .await?
                        }
                    };
                    tracing::warn!(
                        campaign_id = %next.id,
                        refund = refund_now,
                        used,
                        "refund larger than the quota used; clamping at zero"
                    );
                    refund_now = refund_now.min(used);
                    continue;
                }
            }
            if event_index.is_some_and(|i| reason_code(&reasons, i) == CONDITION_FAILED) {
                return Err(StoreError::Other("event id already exists".to_string()));
            }
            if !is_retryable_cancellation(&reasons) {
                return Err(StoreError::Other(format!(
                    "commit_transition cancelled: {}",
                    cancellation_codes(&reasons)
                )));
            }
            backoff(attempt).await;
        }
        Err(StoreError::Unavailable(
            "commit_transition: too much contention".to_string(),
        ))
    }
}
