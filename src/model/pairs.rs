//! A value per ordered pair of nodes (caller → callee, link direction), for lookups on the hot
//! path. Small models keep a dense table (one load per lookup); above [`DENSE_NODES`] nodes the
//! table would grow as the square of the model (10,000 services: 400 MB), so large models keep
//! the pairs that exist, row by row: each node's pairs sorted by the other node, found from the
//! node's offset. A lookup reads the offset (a dense array of 4 bytes per node) and one short
//! row, where a hash table cost a hash and a probe of a table too large for the cache (18% of
//! the time of a call's response on a 10,000-service model).

/// Most nodes kept in a dense table: 1,024² entries, 4 MB.
pub const DENSE_NODES: usize = 1024;

/// Longest row looked up by a scan rather than a binary search (a service's links: 15 at most
/// in the generated 10,000-service model).
const SCANNED_ROW: usize = 16;

/// `u32` values keyed by (from, to) node pairs.
#[derive(Clone, Debug)]
pub struct PairTable {
    nodes: usize,
    /// `dense[from * nodes + to]`, `u32::MAX` for none; empty when the table is sparse.
    dense: Vec<u32>,
    /// Sparse: node `from`'s pairs are `row[start[from]..start[from + 1]]`.
    start: Vec<u32>,
    /// Sparse: (to, value), sorted by `to` within each node's row.
    row: Vec<(u32, u32)>,
}

impl PairTable {
    /// The table of `pairs` (from, to, value) over `nodes` nodes; of pairs given twice, the last.
    pub fn from_pairs(
        nodes: usize,
        pairs: impl IntoIterator<Item = (usize, usize, u32)>,
    ) -> PairTable {
        if nodes <= DENSE_NODES {
            let mut dense = vec![u32::MAX; nodes * nodes];
            for (from, to, value) in pairs {
                dense[from * nodes + to] = value;
            }
            return PairTable {
                nodes,
                dense,
                start: Vec::new(),
                row: Vec::new(),
            };
        }
        let all: Vec<(u32, u32, u32)> = pairs
            .into_iter()
            .map(|(from, to, value)| (from as u32, to as u32, value))
            .collect();
        // Each node's pairs into its row in the order given (a counting sort by `from`: sorting
        // every pair by (from, to) cost three times the instructions on a 10,000-service
        // model's 53,000 link directions, whose table each run builds), then each row sorted
        // by `to`.
        let mut given = vec![0u32; nodes + 1];
        for &(from, _, _) in &all {
            given[from as usize + 1] += 1;
        }
        for i in 0..nodes {
            given[i + 1] += given[i];
        }
        let mut next = given.clone();
        let mut rows = vec![(0u32, 0u32); all.len()];
        for (from, to, value) in all {
            let at = &mut next[from as usize];
            rows[*at as usize] = (to, value);
            *at += 1;
        }
        let mut start = vec![0u32; nodes + 1];
        let mut row: Vec<(u32, u32)> = Vec::with_capacity(rows.len());
        for from in 0..nodes {
            let pairs = &mut rows[given[from] as usize..given[from + 1] as usize];
            // Stable: of equal pairs, the last given ends last, and is the one kept.
            pairs.sort_by_key(|&(to, _)| to);
            let first = row.len();
            for &(to, value) in pairs.iter() {
                match row[first..].last_mut() {
                    Some(last) if last.0 == to => *last = (to, value),
                    _ => row.push((to, value)),
                }
            }
            start[from + 1] = row.len() as u32;
        }
        PairTable {
            nodes,
            dense: Vec::new(),
            start,
            row,
        }
    }

    /// The value of (`from`, `to`), if one was set.
    #[inline]
    pub fn get(&self, from: usize, to: usize) -> Option<u32> {
        if self.dense.is_empty() {
            let (Some(&first), Some(&end)) = (self.start.get(from), self.start.get(from + 1))
            else {
                return None;
            };
            let row = &self.row[first as usize..end as usize];
            let to = to as u32;
            if row.len() <= SCANNED_ROW {
                // A scan's one mispredicted branch, where a search mispredicts at every step.
                return row.iter().find(|&&(t, _)| t == to).map(|&(_, v)| v);
            }
            row.binary_search_by_key(&to, |&(t, _)| t)
                .ok()
                .map(|k| row[k].1)
        } else {
            Some(self.dense[from * self.nodes + to]).filter(|&v| v != u32::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_tables_answer_alike() {
        for nodes in [3, DENSE_NODES + 1] {
            let t = PairTable::from_pairs(nodes, [(0, 2, 7), (2, 0, 8), (0, 1, 5), (0, 2, 9)]);
            assert_eq!(t.get(0, 2), Some(9), "the last of a pair given twice");
            assert_eq!(t.get(0, 1), Some(5));
            assert_eq!(t.get(2, 0), Some(8));
            assert_eq!(t.get(1, 2), None);
            assert_eq!(t.get(2, 2), None);
        }
    }

    /// A sparse table against a map, with rows from empty to hundreds of pairs (a gateway calls
    /// thousands of routes' services).
    #[test]
    fn a_sparse_table_finds_exactly_the_pairs_given() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        let nodes = DENSE_NODES * 3;
        let mut pairs = Vec::new();
        for _ in 0..20_000 {
            let from = if rng.random::<f64>() < 0.2 {
                0
            } else {
                rng.random_range(0..nodes)
            };
            pairs.push((
                from,
                rng.random_range(0..nodes),
                rng.random_range(0..u32::MAX),
            ));
        }
        let t = PairTable::from_pairs(nodes, pairs.iter().copied());
        let map: std::collections::HashMap<(usize, usize), u32> =
            pairs.iter().map(|&(a, b, v)| ((a, b), v)).collect();
        for &(a, b, _) in &pairs {
            assert_eq!(t.get(a, b), map.get(&(a, b)).copied());
        }
        for _ in 0..20_000 {
            let (a, b) = (rng.random_range(0..nodes), rng.random_range(0..nodes));
            assert_eq!(t.get(a, b), map.get(&(a, b)).copied());
        }
    }
}
