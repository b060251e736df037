//! DynamoDB request units and bytes per call, by the formulas of CONTRACT section 4: one place
//! for the simulated cold store and for `hotcold load`'s meter at the live engine's calls.
//!
//! - An item is the session's data plus `item_overhead_bytes` (attribute names, keys, times).
//! - A write costs `ceil(item / 1 KiB)` write request units (WRU), a strongly consistent read
//!   `ceil(item / 4 KiB)` read request units (RRU). A read that finds nothing costs 1 RRU and a
//!   delete of nothing 1 WRU (DynamoDB's minimum charge).
//! - A conditional write that fails its condition still consumes its units, but replicates
//!   nothing.
//! - In a global table every write (and delete) that takes effect is paid again in each other
//!   replica region, and its bytes cross to each of them.
//! - The sessions table's expiry index (the sync job's cold expiry sweep reads it) costs
//!   [`INDEX_WRU_PER_WRITE`] more units per write that takes effect (the entry moves with the
//!   last access: a delete and a put of a small projected item) and [`INDEX_WRU_PER_DELETE`] per
//!   delete that removes an item, in every replica region like the write itself. An upper bound:
//!   a new item or a tombstone moves no entry, it only adds or removes one.

/// Bytes per write request unit.
pub const WRITE_UNIT_BYTES: u64 = 1024;
/// Bytes per read request unit (strongly consistent read).
pub const READ_UNIT_BYTES: u64 = 4096;
/// Most items one DynamoDB `BatchWriteItem` call takes.
pub const BATCH_WRITE_MAX_ITEMS: usize = 25;
/// Units charged for a read that finds no item, or a delete of no item.
pub const MINIMUM_UNITS: u64 = 1;
/// Expiry index units per write that takes effect (index items are under 1 KiB).
pub const INDEX_WRU_PER_WRITE: u64 = 2;
/// Expiry index units per delete that removes an item.
pub const INDEX_WRU_PER_DELETE: u64 = 1;

/// What one call costs the region that makes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Charge {
    /// Write request units paid by the calling region.
    pub wru: u64,
    /// Read request units paid by the calling region.
    pub rru: u64,
    /// Write request units paid again in the other replica regions, all together.
    pub replicated_wru: u64,
    /// Bytes replicated to the other replica regions, all together.
    pub replicated_bytes: u64,
}

/// How a table's calls are charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metering {
    /// Bytes an item takes beyond the session's data (`costs.dynamodb.item_overhead_bytes`).
    pub item_overhead: u64,
    /// Regions holding a replica of the table (1 for a table in one region).
    pub replicas: u64,
}

/// Write units of one write of an item of `item_bytes`: the rule the cost report prices audit and
/// analytics items by, the same as every metered write.
pub const fn write_units(item_bytes: u64) -> u64 {
    units(item_bytes, WRITE_UNIT_BYTES)
}

/// Units for an item of `bytes`: one per started `unit_bytes`, and never less than one (DynamoDB
/// charges every request at least one unit; it matters only for an empty item, with
/// `costs.dynamodb.item_overhead_bytes: 0`).
const fn units(bytes: u64, unit_bytes: u64) -> u64 {
    let units = bytes.div_ceil(unit_bytes);
    if units < MINIMUM_UNITS { MINIMUM_UNITS } else { units }
}

impl Metering {
    /// The size of the item holding `data_len` bytes of session data.
    pub const fn item_bytes(&self, data_len: u64) -> u64 {
        data_len + self.item_overhead
    }

    /// A strongly consistent read that found the item holding `data_len` bytes, or nothing.
    pub const fn read(&self, found_data_len: Option<u64>) -> Charge {
        let rru = match found_data_len {
            Some(len) => units(self.item_bytes(len), READ_UNIT_BYTES),
            None => MINIMUM_UNITS,
        };
        Charge { wru: 0, rru, replicated_wru: 0, replicated_bytes: 0 }
    }

    /// A (conditional) write of an item holding `data_len` bytes; `took_effect` is false when the
    /// condition failed.
    pub const fn write(&self, data_len: u64, took_effect: bool) -> Charge {
        let item = self.item_bytes(data_len);
        let base = units(item, WRITE_UNIT_BYTES);
        if !took_effect {
            return Charge { wru: base, rru: 0, replicated_wru: 0, replicated_bytes: 0 };
        }
        let wru = base + INDEX_WRU_PER_WRITE;
        let others = self.replicas.saturating_sub(1);
        Charge { wru, rru: 0, replicated_wru: wru * others, replicated_bytes: item * others }
    }

    /// A delete that removed the item holding `data_len` bytes, or found nothing. A delete
    /// replicates as a write of the item's units; no data crosses.
    pub const fn delete(&self, removed_data_len: Option<u64>) -> Charge {
        match removed_data_len {
            Some(len) => {
                let wru = units(self.item_bytes(len), WRITE_UNIT_BYTES) + INDEX_WRU_PER_DELETE;
                Charge { wru, rru: 0, replicated_wru: wru * self.replicas.saturating_sub(1), replicated_bytes: 0 }
            }
            None => Charge { wru: MINIMUM_UNITS, rru: 0, replicated_wru: 0, replicated_bytes: 0 },
        }
    }

    /// `BatchWriteItem` calls needed to write `items` items.
    pub const fn batch_calls(items: usize) -> u64 {
        items.div_ceil(BATCH_WRITE_MAX_ITEMS) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE_REGIONS: Metering = Metering { item_overhead: 100, replicas: 3 };

    #[test]
    fn writes_cost_one_unit_per_started_kib_and_replicate_to_every_other_region() {
        // 924 + 100 = 1,024 bytes: exactly 1 WRU; one byte more: 2; plus 2 for the expiry index.
        assert_eq!(
            THREE_REGIONS.write(924, true),
            Charge { wru: 3, rru: 0, replicated_wru: 6, replicated_bytes: 2_048 }
        );
        assert_eq!(
            THREE_REGIONS.write(925, true),
            Charge { wru: 4, rru: 0, replicated_wru: 8, replicated_bytes: 2_050 }
        );
        // A failed condition pays its units (no index change) and replicates nothing.
        assert_eq!(THREE_REGIONS.write(925, false), Charge { wru: 2, ..Charge::default() });
        // One region: nothing to replicate.
        let alone = Metering { item_overhead: 100, replicas: 1 };
        assert_eq!(alone.write(5_000, true), Charge { wru: 5 + INDEX_WRU_PER_WRITE, ..Charge::default() });
    }

    #[test]
    fn reads_cost_one_unit_per_started_4_kib_and_a_miss_costs_one() {
        assert_eq!(THREE_REGIONS.read(Some(3_996)).rru, 1); // 4,096 bytes
        assert_eq!(THREE_REGIONS.read(Some(3_997)).rru, 2);
        assert_eq!(THREE_REGIONS.read(Some(0)).rru, 1);
        assert_eq!(THREE_REGIONS.read(None), Charge { rru: 1, ..Charge::default() });
    }

    #[test]
    fn deletes_pay_the_item_units_everywhere_and_a_miss_pays_one_unit_here() {
        assert_eq!(
            THREE_REGIONS.delete(Some(2_000)),
            Charge { wru: 4, rru: 0, replicated_wru: 8, replicated_bytes: 0 }
        );
        assert_eq!(THREE_REGIONS.delete(None), Charge { wru: 1, ..Charge::default() });
    }

    /// Items of exactly the given size (no overhead), at every unit boundary: a write costs one
    /// WRU per started 1,024 bytes (plus the expiry index's units when it takes effect), a read
    /// one RRU per started 4,096 bytes, a delete of the item its WRU plus the index's.
    #[test]
    fn units_at_every_boundary() {
        let bare = Metering { item_overhead: 0, replicas: 1 };
        // (item bytes, WRU = ceil(bytes / 1024), RRU = ceil(bytes / 4096)), worked by hand.
        let cases = [
            (0, 1, 1), // an empty item (no overhead configured): every request costs one unit
            (1, 1, 1),
            (1_023, 1, 1),
            (1_024, 1, 1),
            (1_025, 2, 1),
            (2_047, 2, 1),
            (2_048, 2, 1),
            (2_049, 3, 1),
            (4_095, 4, 1),
            (4_096, 4, 1),
            (4_097, 5, 2),
            (8_192, 8, 2),
            (8_193, 9, 3),
            (409_599, 400, 100),
            (409_600, 400, 100), // DynamoDB's largest item, 400 KB
        ];
        for (bytes, wru, rru) in cases {
            assert_eq!(bare.item_bytes(bytes), bytes);
            let written = wru + INDEX_WRU_PER_WRITE;
            assert_eq!(bare.write(bytes, true), Charge { wru: written, ..Charge::default() }, "write of {bytes} B");
            assert_eq!(bare.write(bytes, false), Charge { wru, ..Charge::default() }, "refused write of {bytes} B");
            assert_eq!(bare.read(Some(bytes)), Charge { rru, ..Charge::default() }, "read of {bytes} B");
            let deleted = wru + INDEX_WRU_PER_DELETE;
            assert_eq!(bare.delete(Some(bytes)), Charge { wru: deleted, ..Charge::default() }, "delete of {bytes} B");
        }
    }

    /// The same boundaries reached through the item overhead: data of 0 bytes is an item of the
    /// overhead alone; 924 + 100 = 1,024; 925 + 100 = 1,025; 3,996 + 100 = 4,096; 3,997 + 100 =
    /// 4,097. In two regions each write that takes effect is paid once more in the other region
    /// with its item bytes; a delete once more without data.
    #[test]
    fn boundaries_through_the_overhead_in_two_regions() {
        let two = Metering { item_overhead: 100, replicas: 2 };
        // (data bytes, item bytes, WRU, RRU)
        let cases = [
            (0, 100, 1, 1),
            (1, 101, 1, 1),
            (924, 1_024, 1, 1),
            (925, 1_025, 2, 1),
            (3_996, 4_096, 4, 1),
            (3_997, 4_097, 5, 2),
        ];
        for (data, item, wru, rru) in cases {
            assert_eq!(two.item_bytes(data), item);
            let written = wru + INDEX_WRU_PER_WRITE;
            assert_eq!(
                two.write(data, true),
                Charge { wru: written, rru: 0, replicated_wru: written, replicated_bytes: item }
            );
            assert_eq!(two.write(data, false), Charge { wru, ..Charge::default() });
            assert_eq!(two.read(Some(data)), Charge { rru, ..Charge::default() });
            let deleted = wru + INDEX_WRU_PER_DELETE;
            assert_eq!(
                two.delete(Some(data)),
                Charge { wru: deleted, rru: 0, replicated_wru: deleted, replicated_bytes: 0 }
            );
        }
        // Finding nothing costs the minimum, here only, whatever the table's size.
        assert_eq!(two.read(None), Charge { rru: 1, ..Charge::default() });
        assert_eq!(two.delete(None), Charge { wru: 1, ..Charge::default() });
    }

    #[test]
    fn batches_hold_25_items() {
        assert_eq!(Metering::batch_calls(0), 0);
        assert_eq!(Metering::batch_calls(1), 1);
        assert_eq!(Metering::batch_calls(24), 1);
        assert_eq!(Metering::batch_calls(25), 1);
        assert_eq!(Metering::batch_calls(26), 2);
        assert_eq!(Metering::batch_calls(100), 4);
    }
}
