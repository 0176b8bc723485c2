//! Sliding windows (SPEC §3) on DynamoDB: one atomic conditional append per admission.

use super::*;

impl AwsStore {
    pub(super) fn window_state(item: Option<&Item>) -> WindowState {
        let Some(item) = item else {
            return WindowState::default();
        };
        let ver = item.get("ver").and_then(|v| v.as_n().ok()).cloned();
        let mut log: Vec<i64> = item
            .get("log")
            .and_then(|v| v.as_l().ok())
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_n().ok()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        log.sort_unstable();
        WindowState { ver, log }
    }

    async fn read_window(&self, key: &str) -> StoreResult<WindowState> {
        let item = self.get(window_pk(key), WINDOW_SK).await?;
        Ok(Self::window_state(item.as_ref()))
    }

    /// The window as a refused conditional write found it: the item the refusal returned
    /// (`ALL_OLD`). Without one, either the item is gone (TTL) or the endpoint does not
    /// return old items, and one consistent read settles it.
    async fn window_after_refusal(
        &self,
        key: &str,
        returned: Option<&Item>,
    ) -> StoreResult<WindowState> {
        match returned {
            Some(current) => Ok(Self::window_state(Some(current))),
            None => self.read_window(key).await,
        }
    }

    /// Appends `now_ms` to the window's log (creating the item) if the log holds fewer
    /// than `limit` entries. `Ok(Ok(log))`: appended, with the log as it now stands;
    /// `Ok(Err(current))`: the log was full, as it stands.
    async fn append_window(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Result<Vec<i64>, WindowState>> {
        let expires_s = (now_ms + window_ms + 999) / 1000;
        let request = self
            .update_item(window_pk(key), WINDOW_SK)
            .update_expression(
                "SET #log = list_append(if_not_exists(#log, :empty), :now), #ver = :ver, #ttl = :ttl",
            )
            .condition_expression("attribute_not_exists(pk) OR size(#log) < :limit")
            .expression_attribute_names("#log", "log")
            .expression_attribute_names("#ver", "ver")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":now", AttributeValue::L(vec![n(now_ms)]))
            .expression_attribute_values(":ver", n(random_version()))
            .expression_attribute_values(":ttl", n(expires_s))
            .expression_attribute_values(":limit", n(limit))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        self.count();
        match request.send().await {
            Ok(output) => Ok(Ok(Self::window_state(output.attributes()).log)),
            Err(err) => {
                let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                else {
                    return Err(sdk_err("UpdateItem", err));
                };
                Ok(Err(self.window_after_refusal(key, failed.item()).await?))
            }
        }
    }

    /// Replaces the window's log if it is still at `expected`'s version. `Ok(None)` when
    /// written; `Ok(Some(current))` when another writer got there first.
    async fn put_window(
        &self,
        key: &str,
        expected: &WindowState,
        new_ver: &str,
        log: &[i64],
        window_ms: i64,
    ) -> StoreResult<Option<WindowState>> {
        let last = log.last().copied().unwrap_or(0);
        let expires_s = (last + window_ms + 999) / 1000;
        let mut item = primary_key(window_pk(key), WINDOW_SK);
        item.insert(
            "log".to_string(),
            AttributeValue::L(log.iter().map(n).collect()),
        );
        item.insert("ver".to_string(), n(new_ver));
        item.insert("ttl".to_string(), n(expires_s));
        let request = self
            .dynamo
            .put_item()
            .table_name(&self.names.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match &expected.ver {
            Some(ver) => request
                .condition_expression("#ver = :ver")
                .expression_attribute_names("#ver", "ver")
                .expression_attribute_values(":ver", n(ver)),
            None => request.condition_expression("attribute_not_exists(pk)"),
        };
        self.count();
        match request.send().await {
            Ok(_) => Ok(None),
            Err(err) => {
                let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                else {
                    return Err(sdk_err("PutItem", err));
                };
                Ok(Some(self.window_after_refusal(key, failed.item()).await?))
            }
        }
    }
}

#[async_trait]
impl WindowCounters for AwsStore {
    async fn admit(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        if limit == 0 {
            return Ok(decide(&mut Vec::new(), now_ms, limit, window_ms));
        }
        // `None`: not known yet, and the atomic append is tried first.
        let mut state: Option<WindowState> = None;
        for attempt in 0..MAX_ATTEMPTS.saturating_add(limit.saturating_mul(2)) {
            let current = match state.take() {
                Some(current) if current.log.len() >= limit as usize => current,
                _ => match self.append_window(key, limit, window_ms, now_ms).await? {
                    Ok(mut log) => {
                        // The decision as it stood just before this append.
                        if let Some(mine) = log.iter().position(|&t| t == now_ms) {
                            log.remove(mine);
                        }
                        return Ok(decide(&mut log, now_ms, limit, window_ms));
                    }
                    Err(full) => full,
                },
            };
            let mut log = current.log.clone();
            let decision = decide(&mut log, now_ms, limit, window_ms);
            if !decision.admitted {
                // Refused on the state the store just returned: exact.
                return Ok(decision);
            }
            // Full, but holding expired entries: prune them and admit in one replace.
            match self
                .put_window(key, &current, &random_version(), &log, window_ms)
                .await?
            {
                None => return Ok(decision),
                Some(newer) => {
                    state = Some(newer);
                    if attempt > 0 {
                        backoff(attempt).await;
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "rate window: too much contention".to_string(),
        ))
    }
}
