//! API keys, looked up by the SHA-256 of the key.

use super::*;

#[async_trait]
impl KeyStore for AwsStore {
    async fn create_key(&self, key: &ApiKeyRecord, cap: Option<u32>) -> StoreResult<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let account = self
                .get(account_pk(&key.account_id), ACCOUNT_SK)
                .await?
                .ok_or(StoreError::NotFound)?;
            let active = string_set_len(&account, "key_ids");
            if let Some(cap) = cap {
                if active >= cap as usize {
                    return Err(StoreError::LimitReached(format!(
                        "the plan allows {cap} active keys"
                    )));
                }
            }
            let plan: Plan = account
                .get("plan")
                .and_then(|v| v.as_s().ok())
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| StoreError::Other("account item has no plan".to_string()))?;
            let videos_per_month: Option<u32> = number(&account, "videos_per_month");
            let plan_ver: u64 = number(&account, "plan_ver").unwrap_or(0);

            let snapshot = KeyItem {
                id: key.id.clone(),
                account_id: key.account_id.clone(),
                display: key.display.clone(),
                scopes: key.scopes.clone(),
                created_at: key.created_at,
                revoked_at: key.revoked_at,
                plan,
                videos_per_month,
            };
            let mut item = to_item(&snapshot)?;
            item.extend(primary_key(key_pk(&key.id), KEY_SK));
            item.insert("gsi1pk".to_string(), s(account_pk(&key.account_id)));
            item.insert(
                "gsi1sk".to_string(),
                s(format!(
                    "KEY#{}#{}",
                    key.created_at.format("%Y-%m-%dT%H:%M:%S%.9fZ"),
                    key.id
                )),
            );
            let put = self.put(item, "attribute_not_exists(pk)")?;

            let mut condition = "#pv = :pv".to_string();
            let account_update = self
                .update(account_pk(&key.account_id), ACCOUNT_SK)
                .expression_attribute_names("#pv", "plan_ver")
                .expression_attribute_names("#kv", "keys_ver")
                .expression_attribute_values(":pv", n(plan_ver))
                .expression_attribute_values(":one", n(1));
            // Only unrevoked keys count against the cap.
            let account_update = if key.revoked_at.is_none() {
                let with_set = account_update
                    .expression_attribute_names("#ids", "key_ids")
                    .expression_attribute_values(":ids", AttributeValue::Ss(vec![key.id.clone()]))
                    .update_expression("ADD #ids :ids, #kv :one");
                match cap {
                    Some(cap) => {
                        condition
                            .push_str(" AND (attribute_not_exists(#ids) OR size(#ids) < :cap)");
                        with_set.expression_attribute_values(":cap", n(cap))
                    }
                    None => with_set,
                }
            } else {
                account_update.update_expression("ADD #kv :one")
            };
            let account_update = account_update
                .condition_expression(condition)
                .build()
                .map_err(build_err)?;
            let items = vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder().update(account_update).build(),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    if reason_code(&reasons, 0) == CONDITION_FAILED {
                        return Err(StoreError::Other("key already exists".to_string()));
                    }
                    // The account moved (plan change or a key taken): re-read and decide again.
                    let account_changed = reason_code(&reasons, 1) == CONDITION_FAILED;
                    if !account_changed && !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "create_key cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    if attempt > 0 {
                        backoff(attempt).await;
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "create_key: too much contention".to_string(),
        ))
    }

    async fn lookup_key(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        let Some(item) = self.get(key_pk(key_hash), KEY_SK).await? else {
            return Ok(None);
        };
        let key: KeyItem = from_item(item)?;
        Ok(Some(Principal {
            revoked: key.revoked_at.is_some(),
            key_id: key.id,
            account_id: key.account_id,
            plan: key.plan,
            videos_per_month: key.videos_per_month,
            scopes: key.scopes,
        }))
    }

    async fn list_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        self.account_index(account_id, KEY_INDEX_PREFIX, true)
            .await?
            .into_iter()
            .map(|item| Ok(from_item::<KeyItem>(item)?.record()))
            .collect()
    }

    async fn revoke_key(&self, key_id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let Some(item) = self.get(key_pk(key_id), KEY_SK).await? else {
            return Ok(false);
        };
        let key: KeyItem = from_item(item)?;
        if key.revoked_at.is_some() {
            return Ok(false);
        }
        let at = to_value(&at)?;
        let revoke = || {
            self.update(key_pk(key_id), KEY_SK)
                .update_expression("SET #r = :at")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#r)")
                .expression_attribute_names("#r", "revoked_at")
                .expression_attribute_values(":at", at.clone())
                .build()
                .map_err(build_err)
        };
        let release = self
            .update(account_pk(&key.account_id), ACCOUNT_SK)
            .update_expression("DELETE #ids :ids")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#ids", "key_ids")
            .expression_attribute_values(":ids", AttributeValue::Ss(vec![key_id.to_string()]))
            .build()
            .map_err(build_err)?;
        let mut with_account = true;
        for attempt in 0..MAX_ATTEMPTS {
            let mut items = vec![TransactWriteItem::builder().update(revoke()?).build()];
            if with_account {
                items.push(TransactWriteItem::builder().update(release.clone()).build());
            }
            match self.transact(items).await {
                Ok(()) => return Ok(true),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    if reason_code(&reasons, 0) == CONDITION_FAILED {
                        return Ok(false);
                    }
                    if reason_code(&reasons, 1) == CONDITION_FAILED {
                        // The account is gone; the key can still be revoked on its own.
                        with_account = false;
                        continue;
                    }
                    if !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "revoke_key cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "revoke_key: too much contention".to_string(),
        ))
    }
}
