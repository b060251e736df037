//! `DynamoAuditLog` (and `Trail` over it) against DynamoDB Local, each test on fresh tables:
//! idempotent writes, the compliance query's pages and windows, erasure (unlinking, nothing of
//! the user id left in the table, late and new records), tamper evidence on raw items, and the
//! trail fed by a live engine (Redis hot tiers) through an erasure. Needs `scripts/test.sh` (or
//! the env file of `scripts/services.sh start`).

#![cfg(all(feature = "redis", feature = "dynamodb"))]

mod live_support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hotcold_engine::audit::chain::{AuditRecord, Chain, ChainHead, Problem, verify};
use hotcold_engine::audit::log::{AuditLog, AuditQuery, MAX_PAGE};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore, DynamoConfig};
use hotcold_engine::{
    AuditEvent, AuditKind, RegionId, SessionConfig, SessionData, SessionId, SessionManager, Tier, Timestamp, UserId,
};
use live_support::{dynamo_config, dynamodb_endpoint, unique};

/// A base time in the future, so no record's TTL (`at` + 90 days) can have passed.
const T0: u64 = 1_800_000_000_000;

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(300), future).await.unwrap_or_else(|_| panic!("{what} took over 300 s"))
}

/// Creates `config`'s tables, one test at a time (DynamoDB Local is shared with other runs).
async fn create_tables(config: &DynamoConfig) -> DynamoColdStore {
    static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = CREATING.lock().await;
    DynamoColdStore::connect(config.clone(), true).await.expect("create DynamoDB tables")
}

/// Fresh tables. The timeouts are patient (a loaded DynamoDB Local on a busy machine): these
/// tests check what the log keeps and answers, not how fast; the write deadline that makes the
/// trail defer is `Trail`'s business (test `trail_over_dynamodb_through_the_engine`).
async fn fresh() -> (DynamoColdStore, DynamoAuditLog, DynamoConfig) {
    let config = DynamoConfig {
        attempt_timeout: Duration::from_secs(10),
        call_timeout: Duration::from_secs(30),
        audit_write_timeout: Duration::from_secs(30),
        ..dynamo_config(&dynamodb_endpoint()).await
    };
    let cold = create_tables(&config).await;
    let log = live_support::audit_log(&cold, config.clone());
    (cold, log, config)
}

fn user(what: &str) -> UserId {
    UserId::new(&unique(what)).unwrap()
}

fn event(at: u64, user: Option<&UserId>, n: u64) -> AuditEvent {
    let mut hash = [0u8; 16];
    hash[..8].copy_from_slice(&n.to_le_bytes());
    hash[8] = 0xa5;
    AuditEvent {
        at: Timestamp(at),
        kind: AuditKind::Updated,
        tier: Tier::Hot,
        region: RegionId(1),
        session: SessionId::from_parts(hash, RegionId(0)),
        user_id: user.cloned(),
        version: n,
        data_bytes: 0,
        created_at: Timestamp(0),
        activity: hotcold_engine::Activity::default(),
    }
}

fn query(limit: usize) -> AuditQuery {
    AuditQuery { limit, ..AuditQuery::default() }
}

/// `(writer, seq)`: how a record is identified.
fn ids(records: &[AuditRecord]) -> Vec<(String, u64)> {
    records.iter().map(|r| (r.writer.clone(), r.seq)).collect()
}

/// Every record `scan` answers, following every page.
async fn scan_all(log: &DynamoAuditLog) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = log.scan(cursor, 500).await.expect("scan");
        records.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return records,
        }
    }
}

/// Every item of `table`, raw.
async fn raw_items(cold: &DynamoColdStore, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = cold
            .client()
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("raw scan");
        items.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return items,
        }
    }
}

/// True if `value`, or anything inside it, contains `needle` (as text or bytes).
fn mentions(value: &AttributeValue, needle: &str) -> bool {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.contains(needle),
        AttributeValue::B(b) => b.as_ref().windows(needle.len()).any(|w| w == needle.as_bytes()),
        AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().any(|s| s.contains(needle)),
        AttributeValue::Bs(v) => v.iter().any(|b| b.as_ref().windows(needle.len()).any(|w| w == needle.as_bytes())),
        AttributeValue::L(v) => v.iter().any(|v| mentions(v, needle)),
        AttributeValue::M(m) => m.iter().any(|(k, v)| k.contains(needle) || mentions(v, needle)),
        _ => false,
    }
}

/// The items of the audit table that mention `user` anywhere (attribute names or values).
async fn items_naming(cold: &DynamoColdStore, config: &DynamoConfig, user: &UserId) -> Vec<String> {
    raw_items(cold, &config.audit_table)
        .await
        .iter()
        .filter(|item| item.iter().any(|(k, v)| k.contains(user.as_str()) || mentions(v, user.as_str())))
        .map(|item| format!("{item:?}"))
        .collect()
}

/// The raw key (`pk`, `sk`) of `writer`'s record `seq`.
async fn key_of(
    cold: &DynamoColdStore,
    config: &DynamoConfig,
    writer: &str,
    seq: u64,
) -> HashMap<String, AttributeValue> {
    let items = raw_items(cold, &config.audit_table).await;
    let item = items
        .iter()
        .find(|item| {
            item.get("writer") == Some(&AttributeValue::S(writer.to_string()))
                && item.get("seq") == Some(&AttributeValue::N(seq.to_string()))
        })
        .unwrap_or_else(|| panic!("no item of {writer} #{seq}"));
    HashMap::from([("pk".to_string(), item["pk"].clone()), ("sk".to_string(), item["sk"].clone())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_twice_is_kept_once() {
    within("idempotent writes", async {
        let (_cold, log, _) = fresh().await;
        let ann = user("ann");
        let mut chain = Chain::new(unique("idem"));
        let first = chain.seal(event(T0, Some(&ann), 1));
        let second = chain.seal(event(T0 + 10, Some(&ann), 2));
        let anonymous = chain.seal(event(T0 + 20, None, 3));

        // Redelivered one call after the other (an outbox after a timeout that had succeeded).
        log.write(std::slice::from_ref(&first)).await.expect("write");
        log.write(std::slice::from_ref(&first)).await.expect("write again");
        let page = log.user_page(&ann, &query(100)).await.expect("page");
        assert_eq!(ids(&page.records), ids(std::slice::from_ref(&first)), "written twice, kept once");
        assert_eq!(scan_all(&log).await.len(), 1, "scan: one record");

        // Twice in one batch (a drain whose batch holds a record twice), also for no user.
        log.write(&[second.clone(), second.clone()]).await.expect("one batch holding a record twice");
        log.write(&[anonymous.clone(), anonymous.clone(), first.clone()]).await.expect("again, no user");
        let page = log.user_page(&ann, &query(100)).await.expect("page");
        assert_eq!(ids(&page.records), ids(&[second.clone(), first.clone()]), "newest first, each once");
        assert_eq!(page.next_cursor, None);
        let mut scanned = ids(&scan_all(&log).await);
        scanned.sort();
        assert_eq!(scanned, ids(&[first, second, anonymous]), "scan: three records, each once");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_newest_first_complete_and_windowed() {
    within("paging", async {
        const RECORDS: u64 = 2_500;
        let (_cold, log, _) = fresh().await;
        let (pat, other, nobody) = (user("pat"), user("other"), user("nobody"));
        let at = |i: u64| T0 + 10 * i;
        // One writer seals everything in time order: pat's records, every 50th followed by an
        // event of no known user, every 100th by one of another user.
        let mut chain = Chain::new(unique("pager"));
        let (mut mine, mut anonymous, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..RECORDS {
            mine.push(chain.seal(event(at(i), Some(&pat), i)));
            if i % 50 == 0 {
                anonymous.push(chain.seal(event(at(i) + 5, None, i)));
            }
            if i % 100 == 0 {
                theirs.push(chain.seal(event(at(i) + 7, Some(&other), i)));
            }
        }
        let mut all: Vec<AuditRecord> = mine.iter().chain(&anonymous).chain(&theirs).cloned().collect();
        all.sort_by_key(|r| r.seq);
        // Batches newest first: the order comes from the keys, not from the writes.
        for batch in all.chunks(250).rev() {
            log.write(batch).await.expect("write a batch");
        }
        let newest_first = |records: &[AuditRecord]| -> Vec<(String, u64)> { ids(records).into_iter().rev().collect() };
        let expected = newest_first(&mine);

        // The whole history in three pages.
        let mut pages = Vec::new();
        let mut cursor = None;
        for _ in 0..3 {
            let page =
                log.user_page(&pat, &AuditQuery { cursor: cursor.take(), ..query(MAX_PAGE) }).await.expect("page");
            cursor = page.next_cursor.clone();
            pages.push(page);
        }
        let sizes: Vec<usize> = pages.iter().map(|p| p.records.len()).collect();
        assert_eq!(sizes, vec![1_000, 1_000, 500], "pages of 1,000, then the rest");
        assert!(pages[0].next_cursor.is_some() && pages[1].next_cursor.is_some(), "full pages continue");
        assert_eq!(pages[2].next_cursor, None, "the last page ends the history");
        let paged: Vec<AuditRecord> = pages.iter().flat_map(|p| p.records.clone()).collect();
        let unique_ids: BTreeSet<(String, u64)> = ids(&paged).into_iter().collect();
        assert_eq!(unique_ids.len(), paged.len(), "no record on two pages");
        assert!(paged.windows(2).all(|w| w[0].event.at > w[1].event.at), "strictly newest first");
        assert_eq!(ids(&paged), expected, "exactly pat's records: none of another user, none of no user");
        for (read, written) in paged.iter().zip(mine.iter().rev()) {
            assert_eq!(read.event, AuditEvent { user_id: None, ..written.event.clone() }, "read back as written");
            assert!(read.hash_matches());
        }

        // A page never exceeds MAX_PAGE, whatever is asked.
        let big = log.user_page(&pat, &query(5 * MAX_PAGE)).await.expect("page");
        assert_eq!(big.records.len(), MAX_PAGE);

        // Windows: since inclusive, until exclusive.
        let window = |since: Option<u64>, until: Option<u64>, limit: usize| AuditQuery {
            since: since.map(Timestamp),
            until: until.map(Timestamp),
            limit,
            cursor: None,
        };
        let slice = |from: u64, to: u64| -> Vec<(String, u64)> { newest_first(&mine[from as usize..to as usize]) };
        let page = log.user_page(&pat, &window(Some(at(1_000)), Some(at(1_500)), 1_000)).await.expect("window");
        assert_eq!(ids(&page.records), slice(1_000, 1_500), "[at(1000), at(1500))");
        assert_eq!(page.next_cursor, None);
        let page = log.user_page(&pat, &window(Some(at(1_000) + 1), Some(at(1_500) + 1), 1_000)).await.unwrap();
        assert_eq!(ids(&page.records), slice(1_001, 1_501), "(at(1000), at(1500)]");
        let page = log.user_page(&pat, &window(Some(at(2_400)), None, 1_000)).await.expect("since only");
        assert_eq!(ids(&page.records), slice(2_400, 2_500));
        let page = log.user_page(&pat, &window(None, Some(at(100)), 1_000)).await.expect("until only");
        assert_eq!(ids(&page.records), slice(0, 100));
        let page = log.user_page(&pat, &window(Some(at(7)), Some(at(7)), 1_000)).await.expect("empty window");
        assert!(page.records.is_empty() && page.next_cursor.is_none(), "since == until: nothing");
        // A window paged with a cursor.
        let mut windowed = Vec::new();
        let mut sizes = Vec::new();
        let mut cursor = None;
        loop {
            let q = AuditQuery { cursor: cursor.take(), ..window(Some(at(1_000)), Some(at(1_500)), 200) };
            let page = log.user_page(&pat, &q).await.expect("windowed page");
            sizes.push(page.records.len());
            windowed.extend(page.records);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(sizes.len() < 10, "the windowed pages never end: {sizes:?}");
        }
        assert_eq!(sizes, vec![200, 200, 100]);
        assert_eq!(ids(&windowed), slice(1_000, 1_500), "the window, paged");

        // Another user sees only theirs; a user with no record sees an empty page.
        let page = log.user_page(&other, &query(1_000)).await.expect("other");
        assert_eq!(ids(&page.records), newest_first(&theirs));
        let page = log.user_page(&nobody, &query(1_000)).await.expect("nobody");
        assert!(page.records.is_empty() && page.next_cursor.is_none(), "no records: an empty last page");

        // scan sees every record, those of no user included.
        let mut scanned = ids(&scan_all(&log).await);
        scanned.sort_by_key(|(_, seq)| *seq);
        assert_eq!(scanned, ids(&all), "scan: every record once");
        assert_eq!(scanned.len() as u64, RECORDS + 25 + 50);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_unlinks_keeps_counting_and_leaves_no_user_id() {
    within("erasure", async {
        let (cold, log, config) = fresh().await;
        let (eve, other) = (user("erasable-eve"), user("kept-kim"));
        let mut chain = Chain::new(unique("erase"));
        let mut records = Vec::new();
        for i in 0..40 {
            records.push(chain.seal(event(T0 + 10 * i, Some(&eve), i)));
            if i % 8 == 0 {
                records.push(chain.seal(event(T0 + 10 * i + 1, Some(&other), i)));
            }
        }
        records.push(chain.seal(event(T0 + 3, None, 99)));
        log.write(&records).await.expect("write");
        assert_eq!(log.user_page(&eve, &query(1_000)).await.unwrap().records.len(), 40);

        let erased_at = T0 + 1_000;
        assert_eq!(log.forget_user(&eve, Timestamp(erased_at)).await.expect("forget"), 40, "eve's records unlinked");
        let page = log.user_page(&eve, &query(1_000)).await.expect("page");
        assert!(page.records.is_empty() && page.next_cursor.is_none(), "nothing reaches them from the user id");
        assert_eq!(scan_all(&log).await.len(), 46, "every record still counted");
        assert_eq!(log.user_page(&other, &query(1_000)).await.unwrap().records.len(), 5, "others untouched");
        let naming = items_naming(&cold, &config, &eve).await;
        assert!(naming.is_empty(), "items naming the erased user: {naming:?}");
        assert_eq!(log.forget_user(&user("never-seen"), Timestamp(erased_at)).await.expect("forget"), 0);
        assert_eq!(log.forget_user(&eve, Timestamp(erased_at)).await.expect("forget again"), 0, "already unlinked");

        // A late record from before the erasure (another process's outbox) is linked to nobody;
        // one after it starts a new link.
        let late = chain.seal(event(erased_at, Some(&eve), 100));
        log.write(std::slice::from_ref(&late)).await.expect("late write");
        assert!(log.user_page(&eve, &query(1_000)).await.unwrap().records.is_empty(), "at == erased_at: unlinked");
        // Also through a log with nothing cached (another process).
        let fresh_log = live_support::audit_log(&cold, config.clone());
        let older = chain.seal(event(erased_at - 500, Some(&eve), 101));
        fresh_log.write(std::slice::from_ref(&older)).await.expect("late write, other process");
        assert!(log.user_page(&eve, &query(1_000)).await.unwrap().records.is_empty(), "at < erased_at: unlinked");
        assert_eq!(scan_all(&log).await.len(), 48, "late records counted");

        let new = chain.seal(event(erased_at + 1, Some(&eve), 102));
        log.write(std::slice::from_ref(&new)).await.expect("new write");
        let page = log.user_page(&eve, &query(1_000)).await.expect("page");
        assert_eq!(ids(&page.records), ids(std::slice::from_ref(&new)), "only the record after the erasure");
        let naming = items_naming(&cold, &config, &eve).await;
        assert!(naming.is_empty(), "items naming the user after the new link: {naming:?}");
        assert_eq!(scan_all(&log).await.len(), 49);
        // The chain is intact through all this.
        let verification = verify(scan_all(&log).await, &[chain.head().unwrap()]);
        assert!(verification.intact(), "{:?}", verification.problems);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_items_is_found_by_verify() {
    within("tamper evidence", async {
        let (cold, log, config) = fresh().await;
        let tom = user("tom");
        let mut chain = Chain::new(unique("tamper"));
        let records: Vec<AuditRecord> =
            (1..=10).map(|i| chain.seal(event(T0 + 10 * i, if i % 3 == 0 { None } else { Some(&tom) }, i))).collect();
        log.write(&records).await.expect("write");
        let head: ChainHead = chain.head().unwrap();
        log.report_head(&head).await.expect("report head");
        let heads = log.heads().await.expect("heads");
        assert_eq!(heads, vec![head.clone()], "the reported head reads back");
        let verification = verify(scan_all(&log).await, &heads);
        assert!(verification.intact(), "untouched: {:?}", verification.problems);
        assert_eq!(verification.records, 10);
        let writer = chain.writer().to_string();

        // Another kind written straight into record 4's item.
        let update = cold
            .client()
            .update_item()
            .table_name(&config.audit_table)
            .set_key(Some(key_of(&cold, &config, &writer, 4).await))
            .update_expression("SET #kind = :kind")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":kind", AttributeValue::S("created".into()))
            .send()
            .await;
        update.expect("raw update");
        let altered = Problem::Altered { writer: writer.clone(), seq: 4 };
        assert_eq!(verify(scan_all(&log).await, &heads).problems, vec![altered.clone()]);

        // Record 7 removed.
        let delete = |seq: u64| {
            let (cold, config, writer) = (&cold, &config, &writer);
            async move {
                let key = key_of(cold, config, writer, seq).await;
                cold.client()
                    .delete_item()
                    .table_name(&config.audit_table)
                    .set_key(Some(key))
                    .send()
                    .await
                    .expect("raw delete");
            }
        };
        delete(7).await;
        let missing = Problem::Missing { writer: writer.clone(), from: 7, to: 7 };
        assert_eq!(verify(scan_all(&log).await, &heads).problems, vec![altered.clone(), missing.clone()]);

        // The last record removed: only the reported head tells.
        delete(10).await;
        let cut = Problem::HeadMismatch { writer: writer.clone(), seq: 10 };
        let verification = verify(scan_all(&log).await, &heads);
        assert_eq!(verification.problems, vec![altered, missing, cut]);
        assert_eq!(verification.records, 8);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trail_over_dynamodb_through_the_engine() {
    within("engine trail", async {
        let config = dynamo_config(&dynamodb_endpoint()).await;
        // Tables are created with patient timeouts (a JVM that just started is slow); the
        // engine then uses the defaults, the audit write deadline (250 ms) included.
        let patient = DynamoConfig {
            attempt_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(20),
            ..config.clone()
        };
        create_tables(&patient).await;
        let cold = DynamoColdStore::connect(config.clone(), false).await.expect("DynamoDB client");
        let trail = live_support::trail(live_support::audit_log(&cold, config.clone()));
        let engine = live_support::live_engine(cold, trail, "region").await;
        let manager = SessionManager::new(Arc::clone(&engine), RegionId(0));
        let ula = user("ula");
        let data = |n: u64| SessionData::from_json(&serde_json::json!({ "n": n }), 1 << 16).unwrap();

        let mut sessions = Vec::new();
        for n in 0..3 {
            sessions.push(manager.create(ula.clone(), data(n)).await.expect("create").session.id);
        }
        let updated = manager.update(&sessions[1], data(10), 1).await.expect("update");
        assert_eq!(updated.version, 2);
        assert!(manager.logout(&sessions[2]).await.expect("logout"), "the session existed");

        let trail = engine.audit();
        // Whatever missed the write deadline waits in the outbox: deliver it.
        let drained = trail.drain().await.expect("drain");
        assert_eq!(drained.pending, 0);
        let counts = trail.counts();
        assert_eq!((counts.written + counts.delivered, counts.failed), (5, 0), "{counts:?}");
        assert_eq!(engine.audit_failures(), 0);

        let page = trail.user_page(&ula, &query(100)).await.expect("page");
        let seen: Vec<(AuditKind, SessionId)> = page.records.iter().map(|r| (r.event.kind, r.event.session)).collect();
        assert_eq!(
            seen,
            vec![
                (AuditKind::LoggedOut, sessions[2]),
                (AuditKind::Updated, sessions[1]),
                (AuditKind::Created, sessions[2]),
                (AuditKind::Created, sessions[1]),
                (AuditKind::Created, sessions[0]),
            ],
            "the user's events, newest first"
        );
        assert_eq!(page.next_cursor, None);
        assert!(page.records.iter().all(|r| r.event.user_id.is_none()), "records read back carry no user id");
        assert_eq!(page.records[1].event.version, 2, "the update's version");

        // Erasure: the two live sessions go (the logged-out one is a tombstone already).
        assert_eq!(manager.erase_user(&ula).await.expect("erase"), 2);
        let page = trail.user_page(&ula, &query(100)).await.expect("page after erasure");
        assert!(page.records.is_empty() && page.next_cursor.is_none(), "nothing reaches the records from the user");
        let scanned = scan_all(trail.log()).await;
        let mut kinds: Vec<AuditKind> = scanned.iter().map(|r| r.event.kind).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                AuditKind::Created,
                AuditKind::Created,
                AuditKind::Created,
                AuditKind::Updated,
                AuditKind::LoggedOut,
                AuditKind::Erased,
                AuditKind::Erased,
            ],
            "every record kept, the erasure's included"
        );
        // The erasure's own records are found under the pseudonym only.
        let pseudonym = engine.pseudonym(&ula);
        let page = trail.user_page(&pseudonym, &query(100)).await.expect("pseudonym's page");
        let erased: BTreeSet<SessionId> = page.records.iter().map(|r| r.event.session).collect();
        assert_eq!(erased, BTreeSet::from([sessions[0], sessions[1]]), "{page:?}");
        assert!(page.records.iter().all(|r| r.event.kind == AuditKind::Erased));
        // The head was reported by the erasure's drain; the whole trail verifies.
        let heads = trail.log().heads().await.expect("heads");
        assert_eq!(heads.iter().map(|h| h.seq).collect::<Vec<_>>(), vec![7], "{heads:?}");
        let verification = verify(scanned, &heads);
        assert!(verification.intact(), "{:?}", verification.problems);
        let naming = items_naming(engine.cold(), &config, &ula).await;
        assert!(naming.is_empty(), "audit items naming the erased user: {naming:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_record_redelivered_after_erasure_is_kept_once() {
    within("late redelivery", async {
        let (_cold, log, _) = fresh().await;
        let vic = user("vic");
        let mut chain = Chain::new(unique("late"));
        let first = chain.seal(event(T0, Some(&vic), 1));
        log.write(std::slice::from_ref(&first)).await.expect("write");
        log.forget_user(&vic, Timestamp(T0 + 1_000)).await.expect("forget");
        // A record from before the erasure reaches the log from an outbox, and again (the first
        // delivery timed out after it had in fact succeeded): the log keeps one, as it does for
        // any record written twice.
        let late = chain.seal(event(T0 + 500, Some(&vic), 2));
        log.write(std::slice::from_ref(&late)).await.expect("late delivery");
        log.write(std::slice::from_ref(&late)).await.expect("late redelivery");
        let mut scanned = ids(&scan_all(&log).await);
        scanned.sort();
        assert_eq!(scanned, ids(&[first, late]), "each record once, the redelivered late one included");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_of_a_long_region_name_still_pages() {
    within("long writer", async {
        let (_cold, log, _) = fresh().await;
        // A region name the configuration accepts (up to 64 characters of a-z, 0-9, '-').
        let region = format!("eu-{}", "x".repeat(57));
        let mut session_config = SessionConfig::default();
        session_config.hot_storage.regions = vec![region.clone()];
        session_config.validate().expect("a valid region name");
        let writer = hotcold_engine::audit::trail::writer_name(&region);
        let wes = user("wes");
        let mut chain = Chain::new(writer.clone());
        let records: Vec<AuditRecord> = (0..3).map(|i| chain.seal(event(T0 + 10 * i, Some(&wes), i))).collect();
        log.write(&records).await.expect("write");
        let first = log.user_page(&wes, &query(2)).await.expect("page");
        assert_eq!(first.records.len(), 2);
        let cursor = first.next_cursor.unwrap_or_else(|| {
            panic!(
                "a full page of writer {writer:?} ({} characters) gives no cursor: its third record is unreachable",
                writer.len()
            )
        });
        let second = log.user_page(&wes, &AuditQuery { cursor: Some(cursor), ..query(2) }).await.expect("page");
        assert_eq!(ids(&second.records), ids(&records[..1]));
    })
    .await;
}
