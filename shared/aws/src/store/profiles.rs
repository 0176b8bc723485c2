//! Style profiles, capped per kind by a counter in the same transaction.

use super::*;

/// Profiles: one item per record (`PROFILES#{account}` / `{kind}#{id}`) and a counter per
/// kind (`COUNT#{kind}`, `n`), changed in the same transaction as the record, so the cap
/// holds under concurrent creates.
#[async_trait]
impl ProfileStore for AwsStore {
    async fn create_profile(&self, record: &ProfileRecord, cap: u32) -> StoreResult<()> {
        let mut item = to_item(record)?;
        item.extend(primary_key(
            profiles_pk(&record.account_id),
            &profile_sk(&record.kind, &record.id),
        ));
        let counter = self
            .update(
                profiles_pk(&record.account_id),
                &profile_count_sk(&record.kind),
            )
            .update_expression("ADD #n :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(cap.to_string()))
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder()
                .put(self.put(item, "attribute_not_exists(pk)")?)
                .build(),
            TransactWriteItem::builder().update(counter).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                if reason_code(&reasons, 1) == CONDITION_FAILED {
                    Err(StoreError::LimitReached(format!(
                        "at most {cap} of this kind per account"
                    )))
                } else {
                    Err(StoreError::Unavailable(format!(
                        "profile create cancelled: {}",
                        reasons
                            .iter()
                            .filter_map(|r| r.code())
                            .collect::<Vec<_>>()
                            .join(",")
                    )))
                }
            }
        }
    }

    async fn replace_profile(&self, record: &ProfileRecord) -> StoreResult<bool> {
        let mut item = to_item(record)?;
        item.extend(primary_key(
            profiles_pk(&record.account_id),
            &profile_sk(&record.kind, &record.id),
        ));
        self.count();
        match self
            .dynamo
            .put_item()
            .table_name(&self.names.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err("PutItem", e)),
        }
    }

    async fn get_profile(
        &self,
        account_id: &str,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<ProfileRecord>> {
        self.get(profiles_pk(account_id), &profile_sk(kind, id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn list_profiles(&self, account_id: &str, kind: &str) -> StoreResult<Vec<ProfileRecord>> {
        let mut records: Vec<ProfileRecord> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let page = self
                .dynamo
                .query()
                .table_name(&self.names.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(profiles_pk(account_id)))
                .expression_attribute_values(":prefix", s(format!("{kind}#")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("Query", e))?;
            for item in page.items.unwrap_or_default() {
                records.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        records.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(records)
    }

    async fn delete_profile(&self, account_id: &str, kind: &str, id: &str) -> StoreResult<bool> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.names.table)
            .set_key(Some(primary_key(
                profiles_pk(account_id),
                &profile_sk(kind, id),
            )))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_err)?;
        let counter = self
            .update(profiles_pk(account_id), &profile_count_sk(kind))
            .update_expression("ADD #n :minus")
            .condition_expression("#n > :zero")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(counter).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) if reason_code(&reasons, 0) == CONDITION_FAILED => {
                Ok(false)
            }
            Err(TxError::Cancelled(_)) => {
                Err(StoreError::Unavailable("profile delete cancelled".into()))
            }
        }
    }
}
