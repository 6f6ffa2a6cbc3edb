//! The least loaded of many ready instances, for the `least_outstanding` balancer.

/// The least loaded of many ready instances, found without scanning them: a tournament tree
/// over the positions in `up` of the ready instances, each leaf an instance's outstanding calls,
/// each node the least of its two children. The balancer picks the first position at or after
/// its rotating start among the least loaded (wrapping around), exactly the instance the scan
/// picks; an admission or a response changes one leaf and the nodes above it that change.
///
/// Why a tree of counts rather than the least loaded's positions in ordered sets (as it was):
/// an admission moved a position between two `BTreeSet`s — a walk down each, a node allocated or
/// freed now and then — on every call to such a service. Here it is a write and a climb that
/// stops where the least of a subtree stays the same (mostly at once), in one flat vector of
/// 4-byte nodes (fewer than four an instance), and the pick is a climb and a descent.
pub struct LeastIndex {
    /// Node 1 is the root; node `n`'s children are `2n` and `2n + 1`; the leaves are
    /// `width..2 * width`, position `k` at `width + k`, the ones past the last position at
    /// `u32::MAX`.
    tree: Vec<u32>,
    /// Leaves: the number of positions rounded up to a power of two.
    width: usize,
    /// Per instance, its position in `up` (`usize::MAX` when it is not ready).
    position: Vec<usize>,
}

impl LeastIndex {
    /// Up to this many ready instances the balancer scans them (fast, and cache-friendly).
    pub const SCAN_UP_TO: usize = 64;

    /// The index of the ready instances `up` (instance numbers, in the balancer's order), whose
    /// outstanding calls `outstanding(i)` gives.
    pub fn new(up: &[u32], instances: usize, outstanding: impl Fn(usize) -> u32) -> LeastIndex {
        let width = up.len().max(1).next_power_of_two();
        let mut tree = vec![u32::MAX; 2 * width];
        let mut position = vec![usize::MAX; instances];
        for (k, &i) in up.iter().enumerate() {
            position[i as usize] = k;
            tree[width + k] = outstanding(i as usize);
        }
        for node in (1..width).rev() {
            tree[node] = tree[2 * node].min(tree[2 * node + 1]);
        }
        LeastIndex {
            tree,
            width,
            position,
        }
    }

    /// Instance `i` now has `outstanding` calls (nothing to do when it is not ready).
    #[inline]
    pub fn set(&mut self, i: usize, outstanding: u32) {
        let Some(&k) = self.position.get(i).filter(|&&k| k != usize::MAX) else {
            return;
        };
        let mut node = self.width + k;
        self.tree[node] = outstanding;
        while node > 1 {
            let least = self.tree[node].min(self.tree[node ^ 1]);
            node /= 2;
            if self.tree[node] == least {
                break;
            }
            self.tree[node] = least;
        }
    }

    /// The position in `up` of the first least-loaded instance at or after `start`, cyclically.
    pub fn first_from(&self, start: usize) -> usize {
        let least = self.tree[1];
        self.first_with_from(least, self.width + start)
            .or_else(|| self.first_with_from(least, 1))
            .unwrap_or(0)
    }

    /// The first position at or after the leftmost leaf under `node` whose count is `least`
    /// (the least of all), if any: from `node`, the subtrees to its right in order, and in the
    /// first that holds `least`, its leftmost such leaf.
    fn first_with_from(&self, least: u32, mut node: usize) -> Option<usize> {
        loop {
            if self.tree[node] == least {
                while node < self.width {
                    node *= 2;
                    if self.tree[node] != least {
                        node += 1;
                    }
                }
                return Some(node - self.width);
            }
            // Up past every subtree this one is the right child of, then to the next one right.
            while node & 1 == 1 {
                node /= 2;
            }
            if node == 0 {
                return None;
            }
            node += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Against the scan it stands in for, over sizes that are and are not powers of two, with
    /// many ties and counts that rise and fall at random.
    #[test]
    fn the_index_finds_the_first_least_loaded_from_any_start() {
        let mut rng = crate::engine::SimRng::seed_from_u64(11);
        for n in [1, 2, 3, 5, 64, 65, 100, 128, 300] {
            // Ready instances in a shuffled order, one instance not ready.
            let mut up: Vec<u32> = (0..n as u32 + 1).collect();
            up.remove(rng.random_range(0..up.len()));
            for k in (1..up.len()).rev() {
                up.swap(k, rng.random_range(0..=k));
            }
            let mut counts = vec![0u32; n + 1];
            let mut index = LeastIndex::new(&up, n + 1, |i| counts[i]);
            for step in 0..3_000 {
                let i = rng.random_range(0..n + 1);
                counts[i] = if rng.random_bool(0.5) {
                    counts[i] + 1
                } else {
                    counts[i].saturating_sub(1)
                };
                index.set(i, counts[i]);
                let start = rng.random_range(0..n);
                let scanned = (0..n)
                    .map(|k| (start + k) % n)
                    .min_by_key(|&k| counts[up[k] as usize])
                    .unwrap();
                assert_eq!(index.first_from(start), scanned, "n {n}, step {step}");
            }
        }
    }
}
