//! The topology as Graphviz DOT, for users who lay graphs out with their own tools
//! (`dot -Tsvg topology.dot`), with the same colours and labels as the picture.

use super::draw::{edge_label, heat, percent};
use super::{NodeKind, Topology};
use std::fmt::Write;

/// Quotes a DOT string.
fn quoted(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// The topology as a DOT digraph.
pub fn to_dot(t: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "// {}\n// {}", t.title, t.subtitle);
    let _ = writeln!(out, "digraph {} {{", quoted(&t.title));
    out.push_str("  rankdir=LR;\n  node [shape=box, style=filled, fontname=\"DejaVu Sans\"];\n  edge [fontname=\"DejaVu Sans\", fontsize=10];\n");
    // Nodes are named by index (a service may be called "clients"); labels carry the names.
    for (i, n) in t.nodes.iter().enumerate() {
        let mut label = format!("{}\n{}", n.name, n.detail);
        let fill = match (n.kind, n.utilisation) {
            (NodeKind::Clients, _) | (_, None) => "#dee8f2".to_string(),
            (_, Some(u)) => {
                let _ = write!(label, "\nutilisation {}", percent(u));
                let c = heat(u);
                format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
            }
        };
        let border = if n.bottleneck {
            ", color=\"#d55e00\", penwidth=4"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  n{i} [label={}, fillcolor=\"{fill}\"{border}];",
            quoted(&label)
        );
    }
    for e in &t.edges {
        let in_process = e.link.is_none() && t.nodes[e.from].kind != NodeKind::Clients;
        let _ = writeln!(
            out,
            "  n{} -> n{} [label={}{}];",
            e.from,
            e.to,
            quoted(&edge_label(e)),
            if in_process { ", style=dashed" } else { "" }
        );
    }
    out.push_str("}\n");
    out
}
