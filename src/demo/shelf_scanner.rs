//! The demo's Protobuf producer: a shelf scanner publishing a
//! `warehouse.Shelf` (assets/proto/warehouse.proto) on
//! `warehouse.shelf.<aisle>` every couple of seconds, so the window has
//! binary payloads to read with a schema. The encoding is written here:
//! the demo has no schema of its own to compile, and Protobuf's wire
//! format for four fields is a few lines.

use std::time::Duration;

use bytes::Bytes;

use super::{DemoResult, Dice, SKUS, connect};

/// Where the demo's `.proto` files are, and the binding it makes.
pub const PROTO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/proto");
pub const BINDING: (&str, &str) = ("warehouse.>", "warehouse.Shelf");

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn text(field: u64, s: &str, out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A `warehouse.Shelf` in Protobuf's wire format.
fn shelf(id: &str, skus: &[&str], temperature: f64) -> Vec<u8> {
    let mut out = Vec::new();
    text(1, id, &mut out);
    varint(2 << 3, &mut out);
    varint(skus.len() as u64, &mut out);
    for sku in skus {
        text(3, sku, &mut out);
    }
    varint(4 << 3 | 1, &mut out);
    out.extend_from_slice(&temperature.to_le_bytes());
    out
}

pub(super) async fn shelf_scanner(url: String) -> DemoResult {
    let client = connect(&url, "shelf-scanner").await?;
    let mut dice = Dice::new(0x5eed_0007);
    loop {
        let aisle = 1 + dice.below(4);
        let count = 1 + dice.below(3) as usize;
        let skus: Vec<&str> = (0..count)
            .map(|_| SKUS[dice.below(SKUS.len() as u64) as usize].0)
            .collect();
        let id = format!("A{aisle}-{:02}", dice.below(20));
        let payload = shelf(&id, &skus, 4.0 + dice.below(30) as f64 / 10.0);
        client
            .publish(format!("warehouse.shelf.{aisle}"), Bytes::from(payload))
            .await?;
        tokio::time::sleep(Duration::from_millis(1500 + dice.below(1000))).await;
    }
}
