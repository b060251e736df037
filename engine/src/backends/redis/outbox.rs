//! The audit outbox on Redis: a list, `{P:audit-outbox}`, of records waiting for the audit table
//! (JSON lines of [`StoredRecord`], user included: it is on its way to being linked). The
//! region's Redis is durable enough for this (it holds the sessions themselves) and is up when
//! the sessions are served, which is when events happen.
//!
//! Pushes append; a drain reads from the head and, once the records are in the table, removes
//! each with `LREM key 1 <record>`: records are unique (writer and number), so two instances
//! draining at once remove each record once, and a drainer that dies before removing leaves the
//! records to be delivered again (the table keeps one copy). An entry that does not decode is
//! moved to `{P:audit-outbox}:corrupt` for a person to inspect, so it cannot block the queue.

use ::redis::Value;

use super::{RedisHotStore, kind};
use crate::audit::chain::AuditRecord;
use crate::audit::log::StoredRecord;
use crate::audit::trail::AuditOutbox;
use crate::error::StoreError;

impl RedisHotStore {
    fn outbox_key(&self) -> String {
        format!("{{{}:audit-outbox}}", self.config.key_prefix)
    }

    fn outbox_line(record: &AuditRecord) -> Result<String, StoreError> {
        serde_json::to_string(&StoredRecord::of(record, true))
            .map_err(|e| StoreError::Corrupt { backend: "audit outbox".into(), detail: e.to_string() })
    }
}

impl AuditOutbox for RedisHotStore {
    async fn push(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut cmd = ::redis::cmd("RPUSH");
        cmd.arg(self.outbox_key());
        for record in records {
            cmd.arg(Self::outbox_line(record)?);
        }
        self.query(cmd).await.map(|_| ())
    }

    async fn peek(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.outbox_key();
        let answer = self.query(::redis::cmd("LRANGE").arg(&key).arg(0).arg(limit - 1).to_owned()).await?;
        let Value::Array(lines) = answer else {
            return Err(self.corrupt(format!("unexpected outbox answer {}", kind(&answer))));
        };
        let mut records = Vec::with_capacity(lines.len());
        for line in lines {
            let Value::BulkString(bytes) = line else { continue };
            let decoded = serde_json::from_slice::<StoredRecord>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(StoredRecord::into_record);
            match decoded {
                Ok(record) => records.push(record),
                Err(_) => {
                    self.query(::redis::cmd("LREM").arg(&key).arg(1).arg(&bytes).to_owned()).await?;
                    self.query(::redis::cmd("RPUSH").arg(format!("{key}:corrupt")).arg(&bytes).to_owned()).await?;
                }
            }
        }
        Ok(records)
    }

    async fn remove(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let key = self.outbox_key();
        // One round trip: every LREM in one pipeline (one key, so one Cluster slot).
        let mut pipeline = ::redis::pipe();
        for record in records {
            pipeline.cmd("LREM").arg(&key).arg(1).arg(Self::outbox_line(record)?).ignore();
        }
        let mut conn = self.conn.clone();
        self.timed(async move { pipeline.query_async::<()>(&mut conn).await }).await
    }

    async fn len(&self) -> Result<u64, StoreError> {
        match self.query(::redis::cmd("LLEN").arg(self.outbox_key()).to_owned()).await? {
            Value::Int(n) => Ok(u64::try_from(n).unwrap_or(0)),
            other => Err(self.corrupt(format!("unexpected outbox length {}", kind(&other)))),
        }
    }
}
