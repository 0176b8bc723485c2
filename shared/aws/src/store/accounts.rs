//! Accounts and their plans.

use super::*;

#[async_trait]
impl AccountStore for AwsStore {
    async fn create_account(&self, account: &Account) -> StoreResult<()> {
        let mut item = to_item(account)?;
        item.extend(primary_key(account_pk(&account.id), ACCOUNT_SK));
        item.insert("plan_ver".to_string(), n(0));
        item.insert("keys_ver".to_string(), n(0));
        self.count();
        let result = self
            .dynamo
            .put_item()
            .table_name(&self.names.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => {
                Err(StoreError::Other("account already exists".to_string()))
            }
            Err(err) => Err(sdk_err("PutItem", err)),
        }
    }

    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        self.get(account_pk(id), ACCOUNT_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn set_plan(
        &self,
        id: &str,
        plan: Plan,
        videos_per_month: Option<u32>,
    ) -> StoreResult<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let account = self
                .get(account_pk(id), ACCOUNT_SK)
                .await?
                .ok_or(StoreError::NotFound)?;
            let plan_ver: u64 = number(&account, "plan_ver").unwrap_or(0);
            let keys_ver: u64 = number(&account, "keys_ver").unwrap_or(0);
            let key_ids: Vec<String> = account
                .get("key_ids")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default();

            let account_update = self
                .update(account_pk(id), ACCOUNT_SK)
                .condition_expression("#pv = :pv AND #kv = :kv")
                .expression_attribute_names("#pv", "plan_ver")
                .expression_attribute_names("#kv", "keys_ver")
                .expression_attribute_names("#plan", "plan")
                .expression_attribute_names("#vpm", "videos_per_month")
                .expression_attribute_values(":pv", n(plan_ver))
                .expression_attribute_values(":kv", n(keys_ver))
                .expression_attribute_values(":next", n(plan_ver + 1))
                .expression_attribute_values(":plan", s(plan.as_str()));
            let account_update = match videos_per_month {
                Some(v) => account_update
                    .update_expression("SET #plan = :plan, #vpm = :vpm, #pv = :next")
                    .expression_attribute_values(":vpm", n(v)),
                None => {
                    account_update.update_expression("SET #plan = :plan, #pv = :next REMOVE #vpm")
                }
            };
            let mut items = vec![TransactWriteItem::builder()
                .update(account_update.build().map_err(build_err)?)
                .build()];
            let first = key_ids.len().min(TRANSACTION_MAX_ITEMS - 1);
            for hash in &key_ids[..first] {
                items.push(self.key_plan_update(hash, plan, videos_per_month)?);
            }
            match self.transact(items).await {
                Ok(()) => {
                    // Keys beyond one transaction's reach (uncapped plans only).
                    for chunk in key_ids[first..].chunks(TRANSACTION_MAX_ITEMS) {
                        let items = chunk
                            .iter()
                            .map(|hash| self.key_plan_update(hash, plan, videos_per_month))
                            .collect::<StoreResult<Vec<_>>>()?;
                        match self.transact(items).await {
                            Ok(()) => {}
                            Err(TxError::Store(e)) => return Err(e),
                            Err(TxError::Cancelled(reasons)) => {
                                return Err(StoreError::Other(format!(
                                    "updating key plans: {}",
                                    cancellation_codes(&reasons)
                                )))
                            }
                        }
                    }
                    return Ok(());
                }
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    let account_changed = reason_code(&reasons, 0) == CONDITION_FAILED;
                    if !account_changed && !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "set_plan cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "set_plan: too much contention".to_string(),
        ))
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        new_secret: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<Account> {
        // One atomic update: every operand of an update expression is read before any
        // of it is applied, so `#prev` takes the secret that was current.
        let request = self
            .update_item(account_pk(id), ACCOUNT_SK)
            .update_expression("SET #prev = #cur, #prev_until = :until, #cur = :new")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#prev", "previous_webhook_secret")
            .expression_attribute_names("#prev_until", "previous_webhook_secret_expires_at")
            .expression_attribute_names("#cur", "webhook_secret")
            .expression_attribute_values(":until", to_value(&previous_until)?)
            .expression_attribute_values(":new", s(new_secret))
            .return_values(ReturnValue::AllNew);
        match self.conditional_update(request).await? {
            Some(item) => from_item(item),
            None => Err(StoreError::NotFound),
        }
    }
}
