//! A layered (Sugiyama-style) layout of the call graph, left to right: clients, the gateway, then
//! each service one column after its deepest caller. Calls that skip columns pass through
//! invisible waypoints so that they bend around the boxes in between; the order within each
//! column is improved by a few barycentre sweeps to keep arrows from crossing.

use super::Topology;

/// Box size and spacing, in pixels of the 1:1 image.
pub const NODE_W: f64 = 210.0;
pub const NODE_H: f64 = 74.0;
const COLUMN_GAP: f64 = 190.0;
const ROW_GAP: f64 = 34.0;
const MARGIN: f64 = 40.0;
/// Room above the graph for the title and subtitle, and below it for the legend.
pub const HEADER_H: f64 = 90.0;
pub const FOOTER_H: f64 = 70.0;

/// Where everything goes.
#[derive(Clone, Debug)]
pub struct Placed {
    pub width: u32,
    pub height: u32,
    /// Centre of each node's box, by node index.
    pub centres: Vec<(f64, f64)>,
    /// Column of each node.
    pub columns: Vec<usize>,
    /// Each edge's path, from the caller's box edge to the callee's, through waypoints.
    pub paths: Vec<Vec<(f64, f64)>>,
}

/// A node or a waypoint in a column.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Node(usize),
    /// Waypoint `k` (from 1) of edge `e`.
    Bend(usize, usize),
}

/// Lays `topology` out.
pub fn layout(topology: &Topology) -> Placed {
    let n = topology.nodes.len();
    let columns = longest_path_columns(topology);
    let depth = columns.iter().copied().max().unwrap_or(0) + 1;
    let mut slots: Vec<Vec<Slot>> = vec![Vec::new(); depth];
    for (i, &c) in columns.iter().enumerate() {
        slots[c].push(Slot::Node(i));
    }
    for (e, edge) in topology.edges.iter().enumerate() {
        for (k, c) in (columns[edge.from] + 1..columns[edge.to]).enumerate() {
            slots[c].push(Slot::Bend(e, k + 1));
        }
    }
    order_columns(topology, &columns, &mut slots);
    let rows = slots.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let pitch = NODE_H + ROW_GAP;
    let graph_h = rows * pitch - ROW_GAP;
    let width = 2.0 * MARGIN + depth as f64 * NODE_W + (depth as f64 - 1.0) * COLUMN_GAP;
    let height = HEADER_H + graph_h + FOOTER_H + MARGIN;
    let mut centres = vec![(0.0, 0.0); n];
    let mut bends: Vec<Vec<(f64, f64)>> = vec![Vec::new(); topology.edges.len()];
    for (c, column) in slots.iter().enumerate() {
        let x = MARGIN + NODE_W / 2.0 + c as f64 * (NODE_W + COLUMN_GAP);
        let top = HEADER_H + (graph_h - (column.len() as f64 * pitch - ROW_GAP)) / 2.0;
        for (r, slot) in column.iter().enumerate() {
            let y = top + NODE_H / 2.0 + r as f64 * pitch;
            match *slot {
                Slot::Node(i) => centres[i] = (x, y),
                Slot::Bend(e, _) => bends[e].push((x, y)),
            }
        }
    }
    let paths: Vec<Vec<(f64, f64)>> = topology
        .edges
        .iter()
        .zip(bends)
        .map(|(edge, bends)| {
            let (a, b) = (centres[edge.from], centres[edge.to]);
            let mut path = vec![(a.0 + NODE_W / 2.0, a.1)];
            for (x, y) in bends {
                // Through the column at the waypoint's height, straight across the box's width.
                path.push((x - NODE_W / 2.0, y));
                path.push((x + NODE_W / 2.0, y));
            }
            path.push((b.0 - NODE_W / 2.0, b.1));
            path
        })
        .collect();
    let mut paths: Vec<Vec<(f64, f64)>> = paths;
    spread_ports(topology, &centres, &mut paths);
    Placed {
        width: width.max(640.0).ceil() as u32,
        height: height.ceil() as u32,
        centres,
        columns,
        paths,
    }
}

/// Spreads the arrows leaving (and entering) a box over its side, in the order of where they go
/// (come from), so that a fan-out does not start as one thick line and labels do not pile up.
fn spread_ports(topology: &Topology, centres: &[(f64, f64)], paths: &mut [Vec<(f64, f64)>]) {
    let spread =
        |mut ends: Vec<(f64, usize)>, paths: &mut [Vec<(f64, f64)>], first: bool, y: f64| {
            ends.sort_by(|a, b| a.0.total_cmp(&b.0));
            let k = ends.len() as f64;
            for (j, (_, e)) in ends.into_iter().enumerate() {
                let offset = if k > 1.0 {
                    NODE_H * 0.6 * (j as f64 / (k - 1.0) - 0.5)
                } else {
                    0.0
                };
                let path = &mut paths[e];
                let end = if first { 0 } else { path.len() - 1 };
                path[end].1 = y + offset;
            }
        };
    for (i, &(_, y)) in centres.iter().enumerate() {
        let leaving: Vec<(f64, usize)> = (0..topology.edges.len())
            .filter(|&e| topology.edges[e].from == i)
            .map(|e| {
                let next = if paths[e].len() > 2 {
                    paths[e][1].1
                } else {
                    centres[topology.edges[e].to].1
                };
                (next, e)
            })
            .collect();
        spread(leaving, paths, true, y);
        let entering: Vec<(f64, usize)> = (0..topology.edges.len())
            .filter(|&e| topology.edges[e].to == i)
            .map(|e| {
                let len = paths[e].len();
                let before = if len > 2 {
                    paths[e][len - 2].1
                } else {
                    centres[topology.edges[e].from].1
                };
                (before, e)
            })
            .collect();
        spread(entering, paths, false, y);
    }
}

/// Each node's column: one more than its deepest caller's (the call graph is acyclic: the model
/// refuses cycles), the clients in column 0.
fn longest_path_columns(topology: &Topology) -> Vec<usize> {
    let n = topology.nodes.len();
    let mut column = vec![0usize; n];
    // Relaxing every edge n times settles longest paths in a DAG; n is small next to the edges'
    // cost, and this needs no separate topological order.
    for _ in 0..n {
        let mut changed = false;
        for e in &topology.edges {
            if e.from != e.to && column[e.to] < column[e.from] + 1 {
                column[e.to] = column[e.from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    column
}

/// Reorders each column by the mean row of its neighbours in the column before (sweeping right)
/// and after (sweeping left), a few times: the barycentre heuristic for few crossings.
fn order_columns(topology: &Topology, columns: &[usize], slots: &mut [Vec<Slot>]) {
    // The neighbours of a slot in the previous and the next column.
    let neighbours = |slot: Slot, towards_left: bool| -> Vec<Slot> {
        let mut out = Vec::new();
        match slot {
            Slot::Node(i) => {
                for (e, edge) in topology.edges.iter().enumerate() {
                    let span = columns[edge.to] - columns[edge.from];
                    if towards_left && edge.to == i {
                        out.push(if span > 1 {
                            Slot::Bend(e, span - 1)
                        } else {
                            Slot::Node(edge.from)
                        });
                    }
                    if !towards_left && edge.from == i {
                        out.push(if span > 1 {
                            Slot::Bend(e, 1)
                        } else {
                            Slot::Node(edge.to)
                        });
                    }
                }
            }
            Slot::Bend(e, k) => {
                let edge = &topology.edges[e];
                let span = columns[edge.to] - columns[edge.from];
                out.push(match (towards_left, k) {
                    (true, 1) => Slot::Node(edge.from),
                    (true, _) => Slot::Bend(e, k - 1),
                    (false, k) if k + 1 == span => Slot::Node(edge.to),
                    (false, _) => Slot::Bend(e, k + 1),
                });
            }
        }
        out
    };
    let row_of = |slots: &[Vec<Slot>], column: usize, s: Slot| {
        slots[column].iter().position(|&x| x == s).map(|r| r as f64)
    };
    for sweep in 0..8 {
        let rightwards = sweep % 2 == 0;
        let order: Vec<usize> = if rightwards {
            (1..slots.len()).collect()
        } else {
            (0..slots.len().saturating_sub(1)).rev().collect()
        };
        for c in order {
            let other = if rightwards { c - 1 } else { c + 1 };
            let mut keyed: Vec<(f64, Slot)> = slots[c]
                .iter()
                .enumerate()
                .map(|(r, &s)| {
                    let rows: Vec<f64> = neighbours(s, rightwards)
                        .into_iter()
                        .filter_map(|x| row_of(slots, other, x))
                        .collect();
                    let key = if rows.is_empty() {
                        r as f64
                    } else {
                        rows.iter().sum::<f64>() / rows.len() as f64
                    };
                    (key, s)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            slots[c] = keyed.into_iter().map(|(_, s)| s).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Edge, Node, NodeKind, Topology};
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> Topology {
        Topology {
            title: String::new(),
            subtitle: String::new(),
            nodes: (0..n)
                .map(|i| Node {
                    name: format!("n{i}"),
                    kind: NodeKind::Service,
                    detail: String::new(),
                    utilisation: Some(0.5),
                    bottleneck: false,
                })
                .collect(),
            edges: edges
                .iter()
                .map(|&(from, to)| Edge {
                    from,
                    to,
                    calls_per_s: 1.0,
                    error_share: None,
                    stages: Vec::new(),
                    link: None,
                    fire_and_forget: false,
                })
                .collect(),
        }
    }

    #[test]
    fn callees_sit_right_of_their_deepest_caller_and_boxes_never_overlap() {
        // 0 → 1 → 2 → 3, and 0 → 3 and 1 → 3 skipping columns; 4 is called by 1 only.
        let t = graph(5, &[(0, 1), (1, 2), (2, 3), (0, 3), (1, 3), (1, 4)]);
        let p = layout(&t);
        assert_eq!(p.columns, vec![0, 1, 2, 3, 2]);
        for (i, a) in p.centres.iter().enumerate() {
            for b in &p.centres[i + 1..] {
                let apart = (a.0 - b.0).abs() >= NODE_W || (a.1 - b.1).abs() >= NODE_H;
                assert!(apart, "boxes at {a:?} and {b:?} overlap");
            }
        }
        // The edge 0 → 3 skips two columns: its path goes around through two waypoints.
        assert_eq!(p.paths[3].len(), 2 + 2 * 2);
        for path in &p.paths {
            assert!(
                path.windows(2).all(|w| w[1].0 >= w[0].0),
                "paths run left to right"
            );
        }
    }

    #[test]
    fn barycentre_ordering_uncrosses_a_crossed_pair() {
        // 0 → {1, 2}; 1 → 4 and 2 → 3: in file order 3 sits above 4 and the arrows cross.
        let t = graph(5, &[(0, 1), (0, 2), (1, 4), (2, 3)]);
        let p = layout(&t);
        let above = |a: usize, b: usize| p.centres[a].1 < p.centres[b].1;
        assert_eq!(above(1, 2), above(4, 3), "the arrows 1 → 4 and 2 → 3 cross");
    }
}
