//! Where each node of the map goes: one column per kind (producers,
//! subjects, streams and queues, consumers), left to right as messages
//! travel; empty columns left out; nodes in a column by name, so a live
//! map does not reshuffle as rates change. The window and the SVG draw
//! from the same places.

use super::{NodeKind, SystemMap};

pub const NODE_WIDTH: f32 = 190.0;
pub const NODE_HEIGHT: f32 = 40.0;
const COLUMN_GAP: f32 = 120.0;
const ROW_GAP: f32 = 18.0;
const MARGIN: f32 = 20.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlacedNode {
    /// Top-left corner, in map units (points at zoom 1).
    pub x: f32,
    pub y: f32,
}

impl PlacedNode {
    pub fn right_middle(&self) -> (f32, f32) {
        (self.x + NODE_WIDTH, self.y + NODE_HEIGHT / 2.0)
    }
    pub fn left_middle(&self) -> (f32, f32) {
        (self.x, self.y + NODE_HEIGHT / 2.0)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MapLayout {
    /// Each node's place, by the node's index.
    pub nodes: Vec<PlacedNode>,
    pub width: f32,
    pub height: f32,
}

impl MapLayout {
    pub fn new(map: &SystemMap) -> Self {
        let kinds = [
            NodeKind::Producer,
            NodeKind::Channel,
            NodeKind::Store,
            NodeKind::Consumer,
        ];
        let mut nodes = vec![PlacedNode { x: 0.0, y: 0.0 }; map.nodes.len()];
        let mut column: usize = 0;
        let mut tallest = 0;
        for kind in kinds {
            let mut members: Vec<usize> = (0..map.nodes.len())
                .filter(|i| map.nodes[*i].kind == kind)
                .collect();
            if members.is_empty() {
                continue;
            }
            members.sort_by(|a, b| map.nodes[*a].name.cmp(&map.nodes[*b].name));
            for (row, i) in members.iter().enumerate() {
                nodes[*i] = PlacedNode {
                    x: MARGIN + column as f32 * (NODE_WIDTH + COLUMN_GAP),
                    y: MARGIN + row as f32 * (NODE_HEIGHT + ROW_GAP),
                };
            }
            tallest = tallest.max(members.len());
            column += 1;
        }
        Self {
            nodes,
            width: 2.0 * MARGIN
                + column as f32 * NODE_WIDTH
                + column.saturating_sub(1) as f32 * COLUMN_GAP,
            height: 2.0 * MARGIN + tallest as f32 * (NODE_HEIGHT + ROW_GAP),
        }
    }
}

/// An arrow's Bézier control points, in map units: forward arrows leave
/// a box's right side for the next column's left; a reply going back
/// leaves the left side for the right; between boxes of one column (a
/// queue dead-lettering into another) out of the right and back in.
pub fn edge_curve(from: &PlacedNode, to: &PlacedNode) -> [(f32, f32); 4] {
    let (start, end, out, back) = if to.x > from.x {
        (from.right_middle(), to.left_middle(), 1.0, -1.0)
    } else if to.x < from.x {
        (from.left_middle(), to.right_middle(), -1.0, 1.0)
    } else {
        (from.right_middle(), to.right_middle(), 1.0, 1.0)
    };
    let bend = ((end.0 - start.0).abs() / 2.0).max(60.0);
    [
        start,
        (start.0 + out * bend, start.1),
        (end.0 + back * bend, end.1),
        end,
    ]
}

/// An arrow's width for its rate: thin for a trickle, thick for a flood,
/// on a log scale so that one busy subject does not hide the rest.
pub fn edge_width(rate: f64) -> f32 {
    (1.0 + (1.0 + rate).log10() * 1.6).min(8.0) as f32
}
