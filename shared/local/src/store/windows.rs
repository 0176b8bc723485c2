//! Sliding windows (SPEC §3), each admission one immediate transaction.

use super::*;

#[async_trait]
impl WindowCounters for LocalStore {
    async fn admit(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        let sweep = self.admits.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut log = {
            let mut stmt = tx
                .prepare_cached("SELECT log FROM windows WHERE key = ?1")
                .map_err(db_err)?;
            stmt.query_row([key], |r| r.get::<_, Vec<u8>>(0))
                .optional()
                .map_err(db_err)?
                .map(|b| decode_log(&b))
                .unwrap_or_default()
        };
        let decision = decide(&mut log, now_ms, limit, window_ms);
        if decision.admitted {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO windows (key, log, expires_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET log = excluded.log, expires_at_ms = excluded.expires_at_ms",
                )
                .map_err(db_err)?;
            stmt.execute(params![key, encode_log(&log), now_ms + window_ms])
                .map_err(db_err)?;
        }
        if sweep {
            tx.execute("DELETE FROM windows WHERE expires_at_ms < ?1", [now_ms])
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(decision)
    }
}
