//! [`SplitMap`]: the simulated table's records in many hash maps of staggered sizes.
//!
//! A month of ShopFlow holds about 60 million records. In one hash table they cost far more than
//! their bytes, for two reasons:
//! - A table doubles its buckets when it passes 7/8 full, so it is between 44 % and 88 % full
//!   depending on where the record count falls against a power of two: up to twice the memory of
//!   its records.
//! - While it doubles, the old and the new table are both held: the peak memory of a run (what
//!   decides the machine it needs) is that of the table once more, for a moment.
//!
//! Split into [`PARTS`] tables, each doubles on its own, so the moment costs 1/[`PARTS`] of the
//! table. And part `i` takes a share of the records proportional to 2^(i/[`PARTS`]) (from 1 to 2),
//! so the parts pass their doubling points at different record counts: their fill averages over
//! a doubling cycle (about 63 %) whatever the count. Measured on the month: docs/performance.md.
//!
//! Which part holds a record depends only on its id, so lookups cost one more step (a search
//! among [`PARTS`] bounds), and nothing the simulator computes depends on iteration order (every
//! scan sorts or counts).

use std::collections::hash_map::Entry;

use hotcold_engine::SessionId;
use rustc_hash::FxHashMap;

/// Number of parts.
pub(crate) const PARTS: usize = 64;

/// A map from session ids, split into [`PARTS`] hash maps of staggered shares.
#[derive(Debug)]
pub(crate) struct SplitMap<V> {
    parts: Vec<FxHashMap<SessionId, V>>,
    /// `bounds[i]`: the first routing value of part `i + 1` (cumulative shares of 2^32).
    bounds: [u32; PARTS],
}

impl<V> Default for SplitMap<V> {
    fn default() -> Self {
        Self { parts: (0..PARTS).map(|_| FxHashMap::default()).collect(), bounds: staggered_bounds() }
    }
}

/// Cumulative shares of the 2^32 routing values: part `i`'s share is proportional to
/// 2^(i / PARTS). The last bound is 2^32 - 1 (every value falls in some part).
fn staggered_bounds() -> [u32; PARTS] {
    let weights: Vec<f64> = (0..PARTS).map(|i| (i as f64 / PARTS as f64).exp2()).collect();
    let total: f64 = weights.iter().sum();
    let mut bounds = [u32::MAX; PARTS];
    let mut sum = 0.0;
    for (bound, weight) in bounds.iter_mut().zip(&weights).take(PARTS - 1) {
        sum += weight;
        *bound = (sum / total * 4_294_967_296.0) as u32;
    }
    bounds
}

impl<V> SplitMap<V> {
    /// The part that holds `id`: from 4 bytes of its hash that the part's own hasher mixes with
    /// the other 12, so ids in one part still spread over its buckets.
    #[inline]
    fn part(&self, id: &SessionId) -> usize {
        let bytes = id.hash_bytes();
        let value = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        self.bounds.partition_point(|&bound| bound <= value).min(PARTS - 1)
    }

    /// The record of `id`.
    #[inline]
    pub(crate) fn get(&self, id: &SessionId) -> Option<&V> {
        self.parts[self.part(id)].get(id)
    }

    /// The entry of `id`, to read and write with one probe.
    #[inline]
    pub(crate) fn entry(&mut self, id: SessionId) -> Entry<'_, SessionId, V> {
        let part = self.part(&id);
        self.parts[part].entry(id)
    }

    /// Removes the record of `id`.
    pub(crate) fn remove(&mut self, id: &SessionId) -> Option<V> {
        let part = self.part(id);
        self.parts[part].remove(id)
    }

    /// Keeps the records for which `keep` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&SessionId, &mut V) -> bool) {
        for part in &mut self.parts {
            part.retain(&mut keep);
        }
    }

    /// Every record, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&SessionId, &V)> {
        self.parts.iter().flat_map(|part| part.iter())
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.parts.iter().map(FxHashMap::len).sum()
    }

    /// Records the parts can hold without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.parts.iter().map(FxHashMap::capacity).sum()
    }

    /// Gives back the memory of the parts beyond what their records need.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.parts.iter_mut().for_each(FxHashMap::shrink_to_fit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> SessionId {
        let (a, b) = (hotcold_model::rng::splitmix(n), hotcold_model::rng::splitmix(!n));
        let mut hash = [0u8; 16];
        hash[..8].copy_from_slice(&a.to_le_bytes());
        hash[8..].copy_from_slice(&b.to_le_bytes());
        SessionId::from_parts(hash, hotcold_engine::RegionId(0))
    }

    #[test]
    fn every_routing_value_has_a_part_and_shares_grow_from_1_to_2() {
        let bounds = staggered_bounds();
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds increase");
        assert_eq!(bounds[PARTS - 1], u32::MAX);
        let share = |i: usize| f64::from(bounds[i]) - if i == 0 { 0.0 } else { f64::from(bounds[i - 1]) };
        let ratio = share(PARTS - 1) / share(0);
        assert!((ratio - 2f64.powf((PARTS - 1) as f64 / PARTS as f64)).abs() < 1e-3, "last/first share {ratio}");
    }

    #[test]
    fn it_behaves_as_one_map() {
        let mut map = SplitMap::<u64>::default();
        for n in 0..10_000 {
            map.entry(id(n)).or_insert(n);
        }
        assert_eq!(map.len(), 10_000);
        assert_eq!(map.get(&id(1234)), Some(&1234));
        assert_eq!(map.remove(&id(1234)), Some(1234));
        assert_eq!(map.get(&id(1234)), None);
        map.retain(|_, v| *v % 2 == 0);
        assert_eq!(map.len(), 4_999);
        let mut values: Vec<u64> = map.iter().map(|(_, v)| *v).collect();
        values.sort_unstable();
        assert_eq!(values.first(), Some(&0));
        assert_eq!(values.last(), Some(&9_998));
        // Records spread over the parts in their staggered shares: the largest part holds
        // about twice what the smallest does.
        let sizes: Vec<usize> = map.parts.iter().map(FxHashMap::len).collect();
        assert!(sizes.iter().all(|&n| n > 0), "{sizes:?}");
        assert!(sizes[PARTS - 1] > sizes[0], "{sizes:?}");
        map.shrink_to_fit();
        assert!(map.capacity() >= map.len());
    }
}
