//! The demo shop's data: its products and customers, a small
//! deterministic dice, and the CloudEvents headers every service sends.

use async_nats::HeaderMap;

/// Small deterministic generator: the demo needs variety, not security.
pub(super) struct Dice(u64);

impl Dice {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(super) fn hex(&mut self, chars: usize) -> String {
        (0..chars)
            .map(|_| format!("{:x}", self.below(16)))
            .collect()
    }
}

pub(super) const SKUS: [(&str, f64); 6] = [
    ("SKU-RED-MUG", 12.5),
    ("SKU-TEA-GREEN", 7.9),
    ("SKU-KETTLE-2L", 39.0),
    ("SKU-SPOON-SET", 15.0),
    ("SKU-FILTER-100", 4.2),
    ("SKU-TRAY-OAK", 24.0),
];
pub(super) const CUSTOMERS: [(&str, &str); 5] = [
    ("cus-1042", "gold"),
    ("cus-2201", "standard"),
    ("cus-0007", "platinum"),
    ("cus-3310", "standard"),
    ("cus-4128", "silver"),
];

pub(super) fn cloud_headers(dice: &mut Dice, source: &str, kind: &str, id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-id", id);
    headers.insert("ce-source", source);
    headers.insert("ce-type", kind);
    headers.insert("content-type", "application/json");
    let trace = format!("00-{}-{}-01", dice.hex(32), dice.hex(16));
    headers.insert("traceparent", trace.as_str());
    headers
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
