//! Campaigns: the atomic create (quota, campaign, idempotency) and the conditional transitions, each one SQLite transaction.

use super::*;
use reelforge_core::stats::{AccountStats, Produced};

#[async_trait]
impl CampaignStore for LocalStore {
    async fn create_campaign(
        &self,
        campaign: &Campaign,
        reservation: &QuotaReservation,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        let doc = serde_json::to_string(campaign).map_err(json_err)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        if let Some(rec) = idempotency {
            let live: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM idempotency
                     WHERE account_id = ?1 AND key = ?2 AND expires_at_ms >= ?3)",
                    params![rec.account_id, rec.key, rec.created_at_ms],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            if live {
                return Ok(CreateOutcome::IdempotencyTaken);
            }
        }
        let used: u32 = tx
            .query_row(
                "SELECT used FROM quota WHERE account_id = ?1 AND period = ?2",
                params![reservation.account_id, reservation.period],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?
            .unwrap_or(0);
        if u64::from(used) + u64::from(reservation.videos) > u64::from(reservation.quota) {
            return Ok(CreateOutcome::QuotaExceeded { used });
        }
        tx.execute(
            "INSERT INTO quota (account_id, period, used) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, period) DO UPDATE SET used = used + excluded.used",
            params![
                reservation.account_id,
                reservation.period,
                reservation.videos
            ],
        )
        .map_err(db_err)?;
        tx.execute(
            "INSERT INTO campaigns (id, account_id, status, doc, created_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                campaign.id.to_string(),
                campaign.account_id,
                campaign.status.as_str(),
                doc,
                created_ns(campaign)
            ],
        )
        .map_err(db_err)?;
        if let Some(rec) = idempotency {
            tx.execute(
                "INSERT OR REPLACE INTO idempotency (account_id, key, doc, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    rec.account_id,
                    rec.key,
                    serde_json::to_string(rec).map_err(json_err)?,
                    rec.expires_at_ms
                ],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(CreateOutcome::Created)
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
        let doc = serde_json::to_string(next).map_err(json_err)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let changed = tx
            .execute(
                "UPDATE campaigns SET status = ?2, doc = ?3 WHERE id = ?1 AND status = ?4 \
                 AND IFNULL(json_extract(doc, '$.revision'), 0) = ?5",
                params![
                    next.id.to_string(),
                    next.status.as_str(),
                    doc,
                    expected.as_str(),
                    read_at as i64
                ],
            )
            .map_err(db_err)?;
        if changed == 0 {
            let current: Option<String> = tx
                .query_row(
                    "SELECT doc FROM campaigns WHERE id = ?1",
                    [next.id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let current = current.ok_or(StoreError::NotFound)?;
            return Ok(TransitionOutcome::Stale(Box::new(
                serde_json::from_str(&current).map_err(json_err)?,
            )));
        }
        if refund > 0 {
            tx.execute(
                "UPDATE quota SET used = MAX(used - ?3, 0) WHERE account_id = ?1 AND period = ?2",
                params![next.account_id, next.quota_period, refund],
            )
            .map_err(db_err)?;
        }
        if let Some(produced) = reelforge_core::stats::produced_by(expected, next) {
            add_produced(&tx, &next.account_id, &produced)?;
        }
        if let Some(event) = event {
            tx.execute(
                "INSERT INTO webhook_events (id, campaign_id, doc, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    event.id,
                    event.campaign_id.to_string(),
                    serde_json::to_string(event).map_err(json_err)?,
                    event.created_at_ms
                ],
            )
            .map_err(db_err)?;
            insert_message(&tx, &StageMessage::webhook(event.campaign_id, &event.id), 0)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(TransitionOutcome::Applied)
    }

    async fn renew_lease(&self, id: Uuid, holder: &str, until_ms: i64) -> StoreResult<bool> {
        let changed = self
            .conn()
            .execute(
                "UPDATE campaigns SET doc = json_set(doc, '$.lease.until_ms', ?3) \
                 WHERE id = ?1 AND json_extract(doc, '$.lease.holder') = ?2",
                params![id.to_string(), holder, until_ms],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }

    async fn list_campaigns(&self, account_id: &str) -> StoreResult<Vec<Campaign>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM campaigns WHERE account_id = ?1")
            .map_err(db_err)?;
        let docs = stmt
            .query_map([account_id], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let mut campaigns = docs
            .iter()
            .map(|d| serde_json::from_str::<Campaign>(d).map_err(json_err))
            .collect::<StoreResult<Vec<_>>>()?;
        campaigns.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(campaigns)
    }

    async fn account_stats(&self, account_id: &str, from_day: &str) -> StoreResult<AccountStats> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT day, videos, credits FROM produced
                 WHERE account_id = ?1 AND (day >= ?2 OR day = '*') ORDER BY day",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![account_id, from_day], |r| {
                Ok(Produced {
                    day: r.get(0)?,
                    videos: r.get::<_, i64>(1)?.max(0) as u64,
                    credits: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let mut stats = AccountStats::default();
        for row in rows {
            if row.day == "*" {
                stats.total_videos = row.videos;
                stats.total_credits = row.credits;
            } else {
                stats.days.push(row);
            }
        }
        Ok(stats)
    }

    async fn list_campaign_page(
        &self,
        account_id: &str,
        status: Option<CampaignStatus>,
        before: Option<&CampaignPosition>,
        limit: u32,
    ) -> StoreResult<CampaignPage> {
        // The index `campaigns_listed` serves the order and the position; one more row
        // than asked tells whether another page follows.
        let (before_ns, before_id) = match before {
            Some(p) => (
                p.created_at.timestamp_nanos_opt().unwrap_or(i64::MAX),
                p.id.to_string(),
            ),
            None => (i64::MAX, "~".to_string()),
        };
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM campaigns INDEXED BY campaigns_listed
                 WHERE account_id = ?1 AND (?2 IS NULL OR status = ?2)
                   AND (created_ns, id) < (?3, ?4)
                 ORDER BY created_ns DESC, id DESC LIMIT ?5",
            )
            .map_err(db_err)?;
        let docs = stmt
            .query_map(
                params![
                    account_id,
                    status.map(|s| s.as_str()),
                    before_ns,
                    before_id,
                    i64::from(limit) + 1
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let mut campaigns = docs
            .iter()
            .map(|d| serde_json::from_str::<Campaign>(d).map_err(json_err))
            .collect::<StoreResult<Vec<_>>>()?;
        let more = campaigns.len() > limit as usize;
        campaigns.truncate(limit as usize);
        Ok(CampaignPage { campaigns, more })
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<Campaign>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM campaigns WHERE id = ?1")
            .map_err(db_err)?;
        let doc: Option<String> = stmt
            .query_row([id.to_string()], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    async fn get_idempotency(
        &self,
        account_id: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM idempotency WHERE account_id = ?1 AND key = ?2 AND expires_at_ms >= ?3",
            )
            .map_err(db_err)?;
        let doc: Option<String> = stmt
            .query_row(params![account_id, key, now_ms], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    async fn release_idempotency(
        &self,
        account_id: &str,
        key: &str,
        campaign_id: Uuid,
    ) -> StoreResult<()> {
        self.conn()
            .execute(
                "DELETE FROM idempotency WHERE account_id = ?1 AND key = ?2
                 AND json_extract(doc, '$.campaign_id') = ?3",
                params![account_id, key, campaign_id.to_string()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    async fn quota_used(&self, account_id: &str, period: &str) -> StoreResult<u32> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT used FROM quota WHERE account_id = ?1 AND period = ?2")
            .map_err(db_err)?;
        Ok(stmt
            .query_row(params![account_id, period], |r| r.get(0))
            .optional()
            .map_err(db_err)?
            .unwrap_or(0))
    }
}
