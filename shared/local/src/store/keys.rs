//! API keys, looked up by the SHA-256 of the key.

use super::*;

fn key_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, String, String, Option<String>)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn key_record(
    (id, account_id, display, scopes, created, revoked): (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
    ),
) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id,
        account_id,
        display,
        scopes: serde_json::from_str(&scopes).map_err(json_err)?,
        created_at: parse_time(&created)?,
        revoked_at: revoked.as_deref().map(parse_time).transpose()?,
    })
}

#[async_trait]
impl KeyStore for LocalStore {
    async fn create_key(&self, key: &ApiKeyRecord, cap: Option<u32>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM accounts WHERE id = ?1)",
                [&key.account_id],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !exists {
            return Err(StoreError::NotFound);
        }
        if let Some(cap) = cap {
            let active: u32 = tx
                .query_row(
                    "SELECT COUNT(*) FROM api_keys WHERE account_id = ?1 AND revoked_at IS NULL",
                    [&key.account_id],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            if active >= cap {
                return Err(StoreError::LimitReached(format!(
                    "the plan allows {cap} active keys"
                )));
            }
        }
        tx.execute(
            "INSERT INTO api_keys (id, account_id, display, scopes, created_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key.id,
                key.account_id,
                key.display,
                serde_json::to_string(&key.scopes).map_err(json_err)?,
                key.created_at.to_rfc3339(),
                key.revoked_at.map(|t| t.to_rfc3339()),
            ],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    async fn lookup_key(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT k.account_id, k.scopes, k.revoked_at IS NOT NULL, a.plan, a.videos_per_month
                 FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = ?1",
            )
            .map_err(db_err)?;
        let row = stmt
            .query_row([key_hash], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<u32>>(4)?,
                ))
            })
            .optional()
            .map_err(db_err)?;
        row.map(|(account_id, scopes, revoked, plan, vpm)| {
            Ok(Principal {
                key_id: key_hash.to_string(),
                account_id,
                plan: parse_plan(&plan)?,
                videos_per_month: vpm,
                scopes: serde_json::from_str(&scopes).map_err(json_err)?,
                revoked,
            })
        })
        .transpose()
    }

    async fn list_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, account_id, display, scopes, created_at, revoked_at
                 FROM api_keys WHERE account_id = ?1 ORDER BY created_at, id",
            )
            .map_err(db_err)?;
        let rows: Vec<_> = stmt
            .query_map([account_id], key_from_row)
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        rows.into_iter().map(key_record).collect()
    }

    async fn revoke_key(&self, key_id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![key_id, at.to_rfc3339()],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }
}
