//! The stage queue: a table with visibility timeouts and receive counts.

use super::*;

#[async_trait]
impl StageQueue for LocalStore {
    async fn send(&self, message: &StageMessage, delay_secs: u32) -> StoreResult<()> {
        insert_message(&self.conn(), message, delay_secs.min(900))
    }
}

/// The consumer side (local workers, and tests reading the queue back).
impl LocalStore {
    /// Takes the oldest visible message of one of `stages`, hiding it for `visibility_ms`.
    pub fn receive(&self, stages: &[Stage], visibility_ms: i64) -> StoreResult<Option<Received>> {
        let now = Utc::now().timestamp_millis();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut found = None;
        for stage in stages {
            let row: Option<(i64, String, u32)> = tx
                .prepare_cached(
                    "SELECT id, body, receives FROM queue WHERE stage = ?1 AND visible_at_ms <= ?2
                     ORDER BY visible_at_ms, id LIMIT 1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![stage.as_str(), now], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                })
                .map_err(db_err)?;
            if let Some(row) = row {
                found = Some(row);
                break;
            }
        }
        let Some((id, body, receives)) = found else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE queue SET receives = receives + 1, visible_at_ms = ?2 WHERE id = ?1",
            params![id, now + visibility_ms],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(Some(Received {
            id,
            message: serde_json::from_str(&body).map_err(json_err)?,
            receives: receives + 1,
        }))
    }

    /// Deletes a received message: its work is done.
    /// Hides a received message for another `visibility_ms` from now, only if no one has
    /// received it since (a worker still running its stage keeps its message).
    pub fn extend_visibility(&self, received: &Received, visibility_ms: i64) -> StoreResult<bool> {
        let until = Utc::now().timestamp_millis() + visibility_ms;
        let changed = self
            .conn()
            .execute(
                "UPDATE queue SET visible_at_ms = ?3 WHERE id = ?1 AND receives = ?2",
                params![received.id, received.receives, until],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }

    /// Deletes a received message, only if no one has received it since (`receives` is
    /// the count it was received with, like an SQS receipt handle): a worker that outlived
    /// its visibility timeout can't delete the copy another worker now holds. `Ok(false)`:
    /// it was received again meanwhile, or is gone.
    pub fn ack(&self, received: &Received) -> StoreResult<bool> {
        let deleted = self
            .conn()
            .execute(
                "DELETE FROM queue WHERE id = ?1 AND receives = ?2",
                params![received.id, received.receives],
            )
            .map_err(db_err)?;
        Ok(deleted == 1)
    }

    /// When the next message of `stages` becomes visible, if any is queued.
    pub fn next_visible_at(&self, stages: &[Stage]) -> StoreResult<Option<i64>> {
        let conn = self.conn();
        let mut earliest: Option<i64> = None;
        for stage in stages {
            let t: Option<i64> = conn
                .query_row(
                    "SELECT MIN(visible_at_ms) FROM queue WHERE stage = ?1",
                    [stage.as_str()],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            earliest = match (earliest, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(earliest)
    }

    /// Messages waiting in the stage queue, oldest first.
    pub fn pending_messages(&self) -> StoreResult<Vec<StageMessage>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM queue ORDER BY id")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        rows.map(|r| {
            r.map_err(db_err)
                .and_then(|body| serde_json::from_str(&body).map_err(json_err))
        })
        .collect()
    }
}
