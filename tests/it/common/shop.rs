//! `tests/fixtures/proto/shop.proto`'s messages with prost's derive, as
//! prost-build would generate them: the tests' real Protobuf client.

#[derive(Clone, PartialEq, prost::Message)]
pub struct Order {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int64, tag = "2")]
    pub cents: i64,
    #[prost(message, repeated, tag = "3")]
    pub lines: Vec<Line>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// The fixture's directory, for `--proto` and `SchemaSettings`.
pub const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proto");
