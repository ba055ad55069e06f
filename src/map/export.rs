//! The map as text: a Mermaid flowchart (for a README or a wiki) and an
//! SVG picture drawn from the window's own layout. Written here: both are
//! a few lines per node and edge, and no crate writes either from a graph
//! of ours.

use std::fmt::Write;

use super::layout::{MapLayout, NODE_HEIGHT, NODE_WIDTH, edge_curve, edge_width};
use super::{Edge, Health, NodeKind, SystemMap};

/// `flowchart LR`: producers as stadiums, subjects as boxes, streams and
/// queues as cylinders, consumers as subroutines; arrows labelled with
/// their counts, failing ones red and retrying ones orange.
pub fn mermaid(map: &SystemMap) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, node) in map.nodes.iter().enumerate() {
        let name = escape(&node.name);
        let shape = match node.kind {
            NodeKind::Producer => format!("([\"{name}\"])"),
            NodeKind::Channel => format!("[\"{name}\"]"),
            NodeKind::Store => format!("[(\"{name}\")]"),
            NodeKind::Consumer => format!("[[\"{name}\"]]"),
        };
        let _ = writeln!(out, "    n{i}{shape}");
    }
    let mut styles = String::new();
    for (i, edge) in map.edges.iter().enumerate() {
        let _ = writeln!(
            out,
            "    n{} -->|\"{}\"| n{}",
            edge.from,
            escape(&edge_label(edge)),
            edge.to
        );
        if let Some(colour) = match edge.health() {
            Health::Failing => Some("#c03030"),
            Health::Retrying => Some("#c07000"),
            Health::Waiting | Health::Fine => None,
        } {
            let _ = writeln!(styles, "    linkStyle {i} stroke:{colour},stroke-width:2px");
        }
    }
    out.push_str(&styles);
    if map.edges_left_out > 0 {
        let _ = writeln!(out, "    %% {} quieter arrows left out", map.edges_left_out);
    }
    out
}

/// What an arrow says: count and rate, then anything wrong.
pub fn edge_label(edge: &Edge) -> String {
    let mut label = format!("{} msgs, {:.1}/s", edge.messages, edge.rate);
    for (n, what) in [
        (edge.retries, "retries"),
        (edge.failures, "failed"),
        (edge.dead_letters, "dead letters"),
        (edge.pending, "pending"),
    ] {
        if n > 0 {
            let _ = write!(label, ", {n} {what}");
        }
    }
    if let Some(queue) = &edge.queue {
        let _ = write!(label, ", queue {queue}");
    }
    label
}

/// Mermaid reads `"` and `#` in labels as its own.
fn escape(text: &str) -> String {
    text.replace('#', "#35;").replace('"', "#quot;")
}

/// The map drawn as the window draws it, in print colours on white.
pub fn svg(map: &SystemMap) -> String {
    let layout = MapLayout::new(map);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif">"#,
        w = layout.width.max(1.0),
        h = layout.height.max(1.0)
    );
    out.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    out.push('\n');
    for edge in &map.edges {
        let [(x1, y1), (cx1, cy1), (cx2, cy2), (x2, y2)] =
            edge_curve(&layout.nodes[edge.from], &layout.nodes[edge.to]);
        let colour = match edge.health() {
            Health::Failing => "#be1e1e",
            Health::Retrying => "#aa5500",
            Health::Waiting => "#7d6900",
            Health::Fine => "#646464",
        };
        let _ = writeln!(
            out,
            r#"<path d="M{x1:.1},{y1:.1} C{cx1:.1},{cy1:.1} {cx2:.1},{cy2:.1} {x2:.1},{y2:.1}" fill="none" stroke="{colour}" stroke-width="{:.1}"><title>{}</title></path>"#,
            edge_width(edge.rate),
            xml(&edge_label(edge))
        );
    }
    for (node, place) in map.nodes.iter().zip(&layout.nodes) {
        let fill = match node.kind {
            NodeKind::Producer => "#cddcf5",
            NodeKind::Channel => "#e1e1eb",
            NodeKind::Store => "#e4d4f5",
            NodeKind::Consumer => "#cdebe1",
        };
        let _ = writeln!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6" fill="{fill}" stroke="#828282"/>"##,
            place.x, place.y
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#141414">{}</text>"##,
            place.x + NODE_WIDTH / 2.0,
            place.y + 17.0,
            xml(&short(&node.name, 30))
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#464646">{} · {}</text>"##,
            place.x + NODE_WIDTH / 2.0,
            place.y + 31.0,
            node.kind.label(),
            node.brokers_label()
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A name cut to `max` characters with an ellipsis.
pub fn short(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
