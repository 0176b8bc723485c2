//! Style profiles, capped per kind in the same transaction as the insert.

use super::*;

#[async_trait]
impl ProfileStore for LocalStore {
    async fn create_profile(&self, record: &ProfileRecord, cap: u32) -> StoreResult<()> {
        let doc = serde_json::to_string(record).map_err(json_err)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let count: u32 = tx
            .query_row(
                "SELECT COUNT(*) FROM profiles WHERE account_id = ?1 AND kind = ?2",
                params![record.account_id, record.kind],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if count >= cap {
            return Err(StoreError::LimitReached(format!(
                "at most {cap} of this kind per account"
            )));
        }
        tx.execute(
            "INSERT INTO profiles (account_id, kind, id, doc, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record.account_id,
                record.kind,
                record.id,
                doc,
                record.created_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            ],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    async fn replace_profile(&self, record: &ProfileRecord) -> StoreResult<bool> {
        let doc = serde_json::to_string(record).map_err(json_err)?;
        let changed = self
            .conn()
            .execute(
                "UPDATE profiles SET doc = ?4 WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
                params![record.account_id, record.kind, record.id, doc],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }

    async fn get_profile(
        &self,
        account_id: &str,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<ProfileRecord>> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc FROM profiles WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
                params![account_id, kind, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        doc.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    async fn list_profiles(&self, account_id: &str, kind: &str) -> StoreResult<Vec<ProfileRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM profiles WHERE account_id = ?1 AND kind = ?2 ORDER BY created_at, id",
            )
            .map_err(db_err)?;
        let docs = stmt
            .query_map(params![account_id, kind], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(json_err))
            .collect()
    }

    async fn delete_profile(&self, account_id: &str, kind: &str, id: &str) -> StoreResult<bool> {
        let changed = self
            .conn()
            .execute(
                "DELETE FROM profiles WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
                params![account_id, kind, id],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }
}
