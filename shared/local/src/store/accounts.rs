//! Accounts and their plans.

use super::*;

#[async_trait]
impl AccountStore for LocalStore {
    async fn create_account(&self, a: &Account) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO accounts (id, name, plan, videos_per_month, webhook_secret, created_at,
                        previous_webhook_secret, previous_webhook_secret_expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    a.id,
                    a.name,
                    a.plan.as_str(),
                    a.videos_per_month,
                    a.webhook_secret,
                    a.created_at.to_rfc3339(),
                    a.previous_webhook_secret,
                    a.previous_webhook_secret_expires_at.map(|t| t.to_rfc3339()),
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, name, plan, videos_per_month, webhook_secret, created_at,
                        previous_webhook_secret, previous_webhook_secret_expires_at
                 FROM accounts WHERE id = ?1",
            )
            .map_err(db_err)?;
        let row = stmt
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<u32>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .optional()
            .map_err(db_err)?;
        row.map(
            |(id, name, plan, vpm, secret, created, previous, previous_until)| {
                Ok(Account {
                    id,
                    name,
                    plan: parse_plan(&plan)?,
                    videos_per_month: vpm,
                    webhook_secret: secret,
                    previous_webhook_secret: previous,
                    previous_webhook_secret_expires_at: previous_until
                        .as_deref()
                        .map(parse_time)
                        .transpose()?,
                    created_at: parse_time(&created)?,
                })
            },
        )
        .transpose()
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        new_secret: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<Account> {
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET previous_webhook_secret = webhook_secret,
                        previous_webhook_secret_expires_at = ?3, webhook_secret = ?2
                 WHERE id = ?1",
                params![id, new_secret, previous_until.to_rfc3339()],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_account(id).await?.ok_or(StoreError::NotFound)
    }

    async fn set_plan(
        &self,
        id: &str,
        plan: Plan,
        videos_per_month: Option<u32>,
    ) -> StoreResult<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET plan = ?2, videos_per_month = ?3 WHERE id = ?1",
                params![id, plan.as_str(), videos_per_month],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
