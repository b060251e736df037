//! DynamoDB request units of simulated runs, exactly: CONTRACT section 4 (and the minimum charges
//! of `hotcold_model::metering`) applied by hand to the run's own counts.
//!
//! Every scenario here has deterministic traffic whose DynamoDB calls follow from counts the run
//! reports: one payload size (so every item has one known size), visits of a fixed number of
//! requests a fixed think time apart, no travel, no returns, no faults but sync outages. The
//! expected units are worked out below from
//!
//! - a write (or a delete that removes an item): `ceil(item / 1024)` WRU, paid by the writing
//!   region, paid again in each of the other `n - 1` replica regions (replicated WRU), and for a
//!   write its item bytes cross to each of them (replicated bytes; a delete carries no data);
//! - a strongly consistent read that finds an item: `ceil(item / 4096)` RRU;
//! - a read that finds nothing: 1 RRU; a delete that finds nothing: 1 WRU, replicating nothing;
//! - the expiry index: 2 more WRU per write that takes effect (`INDEX_WRU_PER_WRITE`), 1 more per
//!   delete that removes an item, paid and replicated like the write;
//!
//! with item = payload + `costs.dynamodb.item_overhead_bytes`, and asserted equal to the metered
//! figures per region, over the whole run (`usage`) and in every time-series bucket.

use hotcold_model::Scenario;
use hotcold_model::record::{BucketRow, RunRecord};
use hotcold_sim::{RunOptions, run};

/// Expiry index units per write that takes effect.
const INDEX: u64 = hotcold_model::metering::INDEX_WRU_PER_WRITE;

const ONE: [&str; 1] = ["us-east-1"];
const THREE: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

/// A scenario over `regions` (2,000 sessions created per region an hour, evenly over the day):
/// hot TTL 20 min, demotion after 5 min idle, a sync pass a minute, cold TTL 1 day, item overhead
/// 100 bytes, every payload `payload` bytes; visits of `requests` requests `think` apart, none
/// returning, none travelling. `visit` is added to `traffic.visit`, `tail` at the end (`faults`,
/// `engine`).
fn scenario(regions: &[&str], payload: u64, requests: u32, think: &str, visit: &str, tail: &str) -> Scenario {
    let list = regions.join(", ");
    let traffic: String =
        regions.iter().map(|r| format!("    {r}: {{ sessions_per_day: 48000, peak_to_trough: 1.0 }}\n")).collect();
    let text = format!(
        "name: metering-exact
seed: 23
duration: 3h
warmup: 10m
session_config:
  hot_storage: {{ ttl: 20m, promotion_threshold: 5m, regions: [{list}] }}
  cold_storage: {{ ttl: 1d }}
  sync: {{ sync_interval: 1m, cross_region_delay: 2s }}
costs:
  dynamodb: {{ item_overhead_bytes: 100 }}
traffic:
  regions:
{traffic}  visit:
    requests: {{ dist: constant, value: {requests} }}
    think_time: {{ dist: constant, value: {think} }}
    payload_bytes: {{ dist: constant, value: {payload} }}
{visit}  returns: {{ probability: 0 }}
  travel_probability: 0
{tail}"
    );
    match Scenario::parse(&text, "metering-exact.yaml") {
        Ok(s) => s,
        Err(e) => panic!("test scenario: {e}\n{text}"),
    }
}

/// One region's counts (whole run, or one time-series bucket) and its metered units.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    created: u64,
    promotions: u64,
    demotions: u64,
    losses: u64,
    wru: u64,
    rru: u64,
}

impl Tally {
    fn of(row: &BucketRow) -> Self {
        Self {
            created: row.created,
            promotions: row.promotions,
            demotions: row.demotions,
            losses: row.losses,
            wru: row.wru,
            rru: row.rru,
        }
    }

    fn add(&mut self, other: Self) {
        self.created += other.created;
        self.promotions += other.promotions;
        self.demotions += other.demotions;
        self.losses += other.losses;
        self.wru += other.wru;
        self.rru += other.rru;
    }
}

/// What a region should have been charged, worked out by hand from its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Units {
    wru: u64,
    rru: u64,
    replicated_wru: u64,
    replicated_bytes: u64,
}

/// Runs `scenario` and checks every region's metered figures against `expect` (given the region's
/// counts and the number of other replica regions): whole-run `usage` (WRU, RRU, replicated WRU
/// and bytes), and the WRU and RRU of every time-series bucket. Returns the record and the
/// per-region counts.
#[track_caller]
fn check(scenario: &Scenario, expect: impl Fn(&Tally, u64) -> Units) -> (RunRecord, Vec<Tally>) {
    let record = run(scenario, &RunOptions::default()).unwrap();
    let n = record.regions.len();
    let others = n as u64 - 1;
    let mut tallies = vec![Tally::default(); n];
    for row in &record.timeseries {
        let bucket = Tally::of(row);
        let want = expect(&bucket, others);
        assert_eq!(
            (row.wru, row.rru),
            (want.wru, want.rru),
            "{n} region(s), region {} bucket at {} s: {bucket:?}",
            row.region,
            row.t
        );
        tallies[usize::from(row.region)].add(bucket);
    }
    for (usage, tally) in record.usage.iter().zip(&tallies) {
        let got = Units {
            wru: usage.wru,
            rru: usage.rru,
            replicated_wru: usage.replicated_wru,
            replicated_bytes: usage.replicated_bytes,
        };
        assert_eq!(got, expect(tally, others), "{n} region(s), {}: {tally:?}", usage.region);
        assert_eq!(usage.dynamo_errors, 0, "{}: no faults touch DynamoDB", usage.region);
    }
    let c = &record.counts;
    assert_eq!((c.failed_requests, c.failed_updates), (0, 0), "{n} region(s)");
    (record, tallies)
}

/// Demotions write, promotions read. Payload 3,996 bytes: item 4,096 bytes = exactly 4 WRU
/// (4,096 / 1,024) and exactly 1 RRU (4,096 / 4,096).
///
/// Each visit is a create and, 10 min later, a lookup (half of them with an update). The session
/// is idle 5 min after its create and demoted by the pass of the next minute (so before the
/// lookup): one write. The lookup misses Redis and reads DynamoDB: one read, and the session is
/// promoted into its home region's Redis (no DynamoDB write: it goes home). An update changes
/// only the hot copy (`on_demotion`). 5 min after the lookup the session is demoted again: one
/// more write. Per region, with d demotions, p promotions, n regions:
///   WRU = (4 + 2) d; RRU = 1 p; replicated WRU = 6 d (n - 1); replicated bytes = 4,096 d (n - 1).
#[test]
fn demotions_write_and_promotions_read_in_one_region_and_in_three() {
    for regions in [&ONE[..], &THREE[..]] {
        let s = scenario(regions, 3996, 2, "10m", "    update_fraction: 0.5\n    logout_probability: 0\n", "");
        let (record, tallies) = check(&s, |t, others| Units {
            wru: (4 + INDEX) * t.demotions,
            rru: t.promotions,
            replicated_wru: (4 + INDEX) * t.demotions * others,
            replicated_bytes: 4096 * t.demotions * others,
        });
        let c = &record.counts;
        assert_eq!((c.invalid_lookups, c.lost, c.hot_hits), (0, 0, 0), "{regions:?}: every lookup is a promotion");
        assert!(c.updates > 0 && c.updates < c.cold_promotions, "{regions:?}: {} updates", c.updates);
        for (region, t) in regions.iter().zip(&tallies) {
            // Not vacuous: thousands of each, and sessions promoted were demoted twice.
            assert!(t.promotions > 1000 && t.demotions > t.promotions, "{region}: {t:?}");
        }
    }
}

/// `write_through`: every create and every update writes DynamoDB, and demotion writes again.
/// Payload 3,997 bytes: item 4,097 bytes = ceil(4.0009) = 5 WRU and ceil(1.0002) = 2 RRU.
///
/// As above, but every lookup updates (update_fraction 1), so per region updates = promotions:
/// writes = c creates + p updates + d demotions, each 5 WRU; reads = p, each 2 RRU:
///   WRU = (5 + 2) (c + p + d); RRU = 2 p; replicated WRU = 7 (c + p + d) (n - 1);
///   replicated bytes = 4,097 (c + p + d) (n - 1).
#[test]
fn write_through_writes_every_create_and_update_in_one_region_and_in_three() {
    for regions in [&ONE[..], &THREE[..]] {
        let s = scenario(
            regions,
            3997,
            2,
            "10m",
            "    update_fraction: 1.0\n    logout_probability: 0\n",
            "engine: { durability: write_through }\n",
        );
        let (record, tallies) = check(&s, |t, others| {
            let writes = t.created + t.promotions + t.demotions;
            Units {
                wru: (5 + INDEX) * writes,
                rru: 2 * t.promotions,
                replicated_wru: (5 + INDEX) * writes * others,
                replicated_bytes: 4097 * writes * others,
            }
        });
        let c = &record.counts;
        assert_eq!(c.updates, c.cold_promotions, "{regions:?}: every lookup is a promotion and an update");
        assert_eq!((c.invalid_lookups, c.lost, c.hot_hits), (0, 0, 0), "{regions:?}");
        for (region, t) in regions.iter().zip(&tallies) {
            assert!(t.created > 1000 && t.promotions > 1000 && t.demotions > 1000, "{region}: {t:?}");
        }
    }
}

/// A logout replaces the cold record with a tombstone (CONTRACT section 5: removals are final):
/// it reads the record (to find a failover copy elsewhere) and writes the tombstone, an item of
/// no payload, here and in every other replica. Payload 2,000 bytes: item 2,100 bytes =
/// ceil(2.05) = 3 WRU, ceil(0.51) = 1 RRU; the tombstone is 100 bytes = 1 WRU.
///
/// Each visit is a create and, 10 min later, a lookup (a promotion, as above) and a logout; the
/// session had been demoted, so the cold record is there to read, and a logged-out session is
/// never demoted again. Per region logouts = promotions:
///   WRU = (3 + 2) d + (1 + 2) p; RRU = 1 p (promotion) + 1 p (logout's read);
///   replicated WRU = (5 d + 3 p) (n - 1);
///   replicated bytes = (2,100 d + 100 p) (n - 1).
#[test]
fn logouts_bury_the_cold_record_in_one_region_and_in_three() {
    for regions in [&ONE[..], &THREE[..]] {
        let s = scenario(regions, 2000, 2, "10m", "    update_fraction: 0\n    logout_probability: 1.0\n", "");
        let (record, tallies) = check(&s, |t, others| Units {
            wru: (3 + INDEX) * t.demotions + (1 + INDEX) * t.promotions,
            rru: 2 * t.promotions,
            replicated_wru: ((3 + INDEX) * t.demotions + (1 + INDEX) * t.promotions) * others,
            replicated_bytes: (2100 * t.demotions + 100 * t.promotions) * others,
        });
        let c = &record.counts;
        assert_eq!(c.logged_out, c.cold_promotions, "{regions:?}: every promoted session logs out");
        assert_eq!((c.invalid_lookups, c.lost, c.hot_hits), (0, 0, 0), "{regions:?}");
        for (region, t) in regions.iter().zip(&tallies) {
            assert!(t.promotions > 1000 && t.demotions > t.promotions, "{region}: {t:?}");
        }
    }
}

/// A read that finds nothing and a tombstone each pay DynamoDB's minimum, 1 unit. Payload 5,000
/// bytes (item 5,100 bytes = 5 WRU and 2 RRU, which the logouts must not be charged).
///
/// Each visit is one request, a create, then a logout at once: the session was never demoted, so
/// the logout's read finds no item, and its tombstone (100 bytes) is replicated. Per region:
///   WRU = (1 + 2) c; RRU = 1 c; replicated WRU = 3 c (n - 1); replicated bytes = 100 c (n - 1).
#[test]
fn logouts_of_never_demoted_sessions_pay_one_unit_each_way_in_one_region_and_in_three() {
    for regions in [&ONE[..], &THREE[..]] {
        let s = scenario(regions, 5000, 1, "10m", "    update_fraction: 0\n    logout_probability: 1.0\n", "");
        let (record, tallies) = check(&s, |t, others| Units {
            wru: (1 + INDEX) * t.created,
            rru: t.created,
            replicated_wru: (1 + INDEX) * t.created * others,
            replicated_bytes: 100 * t.created * others,
        });
        let c = &record.counts;
        assert_eq!((c.logged_out, c.demoted), (c.created, 0), "{regions:?}");
        for (region, t) in regions.iter().zip(&tallies) {
            assert!(t.created > 1000, "{region}: {t:?}");
        }
    }
}

/// A read that finds nothing pays DynamoDB's minimum, 1 RRU. Payload 8,000 bytes (item 8,100
/// bytes = 2 RRU, which the misses must not be charged).
///
/// The sync job is down in every region for the whole run, so nothing is ever demoted; each
/// visit's lookup comes 30 min after its create, past the 20 min hot TTL: Redis has nothing live,
/// DynamoDB has nothing either (one read that finds nothing), and the user, whose session should
/// still be live for 1 day, has lost it (a loss, counted by the serving region). Per region:
///   RRU = 1 x losses; nothing else.
#[test]
fn reads_of_nothing_pay_one_unit_in_one_region_and_in_three() {
    for regions in [&ONE[..], &THREE[..]] {
        let faults: String = regions
            .iter()
            .map(|r| format!("  - {{ at: 0s, kind: sync_outage, region: {r}, duration: 3h }}\n"))
            .collect();
        let s = scenario(
            regions,
            8000,
            2,
            "30m",
            "    update_fraction: 0\n    logout_probability: 0\n",
            &format!("faults:\n{faults}"),
        );
        let (record, tallies) =
            check(&s, |t, _| Units { wru: 0, rru: t.losses, replicated_wru: 0, replicated_bytes: 0 });
        let c = &record.counts;
        assert_eq!((c.demoted, c.cold_promotions, c.hot_hits), (0, 0, 0), "{regions:?}");
        assert_eq!(c.invalid_lookups, c.lost, "{regions:?}: every lookup finds nothing");
        for (region, t) in regions.iter().zip(&tallies) {
            assert!(t.losses > 1000, "{region}: {t:?}");
        }
    }
}
