//! Payloads that are not JSON, read in the inspector: a Protobuf message
//! built by a real client (prost, from `tests/fixtures/proto/shop.proto`,
//! and by a descriptor set), MessagePack, CBOR and Avro, published to a
//! real server; the type bound to the subject read it, said so, and a
//! wrong choice says why.

use crate::common;
use common::shop::{Line, Order};

use common::ui::{connected_with, step_until};
use egui_kittest::kittest::Queryable;
use eventscope::app::AppConfig;
use eventscope::broker::ConnectionProfile;
use eventscope::decode::{SchemaSettings, Schemas};
use eventscope::ui::View;
use prost::Message;

#[test]
fn protobuf_and_messagepack_payloads_are_read_and_say_what_read_them() {
    let _timed = common::timed();
    let server = common::server();
    let protos = common::shop::PROTOS;
    let config = AppConfig {
        view: View::Traffic,
        schemas: SchemaSettings {
            proto_dirs: vec![protos.into()],
            bindings: vec![("orders.>".into(), "shop.Order".into())],
            ..SchemaSettings::default()
        },
        ..AppConfig::default()
    };
    let mut h = connected_with(config, ConnectionProfile::new("local", server.url()));
    let order = Order {
        id: "ord-42".into(),
        cents: 1250,
        lines: vec![Line {
            sku: "tea".into(),
            count: 2,
        }],
    };
    // {"device": 7, "ok": true} in MessagePack.
    let packed = vec![
        0x82, 0xa6, b'd', b'e', b'v', b'i', b'c', b'e', 0x07, 0xa2, b'o', b'k', 0xc3,
    ];
    let rt = common::runtime();
    rt.block_on(async {
        let client = common::client(&server).await;
        client
            .publish("orders.created", order.encode_to_vec().into())
            .await
            .expect("publish");
        client
            .publish("telemetry.7", packed.into())
            .await
            .expect("publish");
        client.flush().await.expect("flush");
    });
    step_until(&mut h, "both rows", |h| {
        h.query_all_by_label("orders.created").next().is_some()
            && h.query_all_by_label("telemetry.7").next().is_some()
    });
    // The table previews each as its decoder read it.
    assert!(
        h.query_by_label_contains("[Protobuf shop.Order] {\"id\":\"ord-42\"")
            .is_some(),
        "the bound type's preview"
    );
    assert!(
        h.query_by_label_contains("[MessagePack] {\"device\":7")
            .is_some()
    );
    h.get_all_by_label("orders.created")
        .last()
        .expect("the row")
        .click();
    step_until(&mut h, "the bound type's reading", |h| {
        h.query_by_label("Read as Protobuf shop.Order").is_some()
    });
    assert!(
        h.query_by_label_contains("\"id\": \"ord-42\"").is_some(),
        "the decoded message, as JSON"
    );
    assert!(h.query_by_label_contains("\"sku\": \"tea\"").is_some());
    h.get_all_by_label("telemetry.7")
        .last()
        .expect("the row")
        .click();
    step_until(&mut h, "MessagePack read", |h| {
        h.query_by_label("Read as MessagePack").is_some()
    });
    assert!(h.query_by_label_contains("\"device\": 7").is_some());
    // Chosen wrongly: said why, no data shown.
    h.get_by_label("Read as").click();
    h.run_steps(2);
    h.get_by_label("CBOR").click();
    step_until(&mut h, "CBOR refused", |h| {
        h.query_by_label_contains("not CBOR").is_some()
    });
    assert!(
        h.query_by_label_contains("\"device\": 7").is_none(),
        "no data shown in the inspector"
    );
    // A type chosen for one message: the wrong one says why.
    read_row_as(&mut h, "orders.created", "Protobuf", "shop.Line");
    step_until(&mut h, "the wrong type refused", |h| {
        h.query_by_label_contains("not a shop.Line").is_some()
    });
}

/// A descriptor set (what `protoc -o` and `buf build` write), CBOR, and
/// Avro with a schema file in Kafka's Confluent framing, each published
/// to a real server: the table previews each as its decoder read it, and
/// the inspector names the framing.
#[test]
fn a_descriptor_set_cbor_and_avro_are_read_from_a_real_server() {
    let _timed = common::timed();
    let server = common::server();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dir = tempfile::tempdir().expect("dir");
    let set = protox::compile(["shop.proto"], [format!("{fixtures}/proto")]).expect("compiles");
    let set_path = dir.path().join("shop.binpb");
    std::fs::write(
        &set_path,
        prost_reflect::prost::Message::encode_to_vec(&set),
    )
    .expect("write");
    let config = AppConfig {
        view: View::Traffic,
        schemas: SchemaSettings {
            descriptor_sets: vec![set_path],
            avro_schemas: vec![format!("{fixtures}/avro/reading.avsc").into()],
            bindings: vec![
                ("orders.>".into(), "shop.Order".into()),
                ("plant.>".into(), "plant.Reading".into()),
            ],
            ..SchemaSettings::default()
        },
        ..AppConfig::default()
    };
    let mut h = connected_with(config, ConnectionProfile::new("local", server.url()));
    let order = Order {
        id: "ord-7".into(),
        ..Order::default()
    };
    // plant.Reading {sensor "t-1", celsius 21.5, unit C, note "ok"},
    // written by hand from Avro's specification, after the Confluent
    // header (magic 0, schema id 42).
    let mut avro = vec![0, 0, 0, 0, 42];
    avro.extend([0x06, b't', b'-', b'1']);
    avro.extend(21.5f64.to_le_bytes());
    avro.extend([0x00, 0x02, 0x04, b'o', b'k']);
    // {"lamp": "on"} in CBOR.
    let cbor = vec![0xa1, 0x64, b'l', b'a', b'm', b'p', 0x62, b'o', b'n'];
    let rt = common::runtime();
    rt.block_on(async {
        let client = common::client(&server).await;
        for (subject, payload) in [
            ("orders.placed", order.encode_to_vec()),
            ("plant.boiler", avro),
            ("lights.hall", cbor),
        ] {
            client
                .publish(subject, payload.into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    step_until(&mut h, "the three previews", |h| {
        h.query_by_label_contains("[Protobuf shop.Order] {\"id\":\"ord-7\"")
            .is_some()
            && h.query_by_label_contains(
                "[Avro plant.Reading (Confluent schema id 42)] {\"sensor\":\"t-1\",\"celsius\":21.5,\"unit\":\"C\",\"note\":\"ok\"}",
            )
            .is_some()
            && h.query_by_label_contains("[CBOR] {\"lamp\":\"on\"}").is_some()
    });
    h.get_all_by_label("plant.boiler")
        .last()
        .expect("the row")
        .click();
    step_until(&mut h, "the Avro reading", |h| {
        h.query_by_label("Read as Avro plant.Reading (Confluent schema id 42)")
            .is_some()
    });
    assert!(h.query_by_label_contains("\"celsius\": 21.5").is_some());
    // The Protobuf message read as the Avro schema: refused, not shown.
    read_row_as(&mut h, "orders.placed", "Avro", "plant.Reading");
    step_until(&mut h, "the wrong schema refused", |h| {
        h.query_by_label_contains("not a Avro plant.Reading")
            .is_some()
    });
}

/// Publishing with the bound type: JSON typed by hand reaches a real
/// subscriber as the Protobuf bytes prost reads back; JSON the type does
/// not fit is refused in words, nothing sent.
#[test]
fn json_is_published_as_the_bound_protobuf_type() {
    use eventscope::outgoing::{Encoding, PublishTemplate};
    use futures_util::StreamExt;
    let _timed = common::timed();
    let server = common::server();
    let mut schemas = Schemas::default();
    let protos = common::shop::PROTOS;
    schemas
        .load_proto_dir(std::path::Path::new(protos))
        .expect("the fixture compiles");
    schemas.bind("orders.>", "shop.Order").expect("bind");
    let rt = common::runtime();
    let client = rt.block_on(common::client(&server));
    let mut orders = rt.block_on(common::subscribed(&client, "orders.>"));
    let template = PublishTemplate {
        subject: "orders.created".into(),
        payload: r#"{"id":"ord-{{seq}}","cents":"1250","lines":[{"sku":"tea","count":2}]}"#.into(),
        encoding: Encoding::BoundType,
        ..PublishTemplate::default()
    };
    let message = template.message_with(7, &schemas).expect("encodes");
    rt.block_on(client.publish(message.subject.clone(), message.payload.clone()))
        .expect("publish");
    let got = rt
        .block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), orders.next()).await
        })
        .expect("in time")
        .expect("a message");
    let order = Order::decode(got.payload.as_ref()).expect("prost reads it");
    assert_eq!(order.id, "ord-7");
    assert_eq!(order.cents, 1250);
    assert_eq!(order.lines[0].sku, "tea");
    let wrong = PublishTemplate {
        payload: r#"{"id":"x","colour":"red"}"#.into(),
        ..template.clone()
    };
    let said = wrong
        .message_with(1, &schemas)
        .expect_err("refused")
        .to_string();
    assert!(
        said.contains("not a shop.Order") && said.contains("colour"),
        "{said}"
    );
    let unbound = PublishTemplate {
        subject: "payments.done".into(),
        ..template
    };
    let said = unbound
        .message_with(1, &schemas)
        .expect_err("no type")
        .to_string();
    assert!(
        said.contains("no type is bound to 'payments.done'"),
        "{said}"
    );
}

/// The payload schemas window: a `.proto` picked (typed, where no file
/// dialog can be shown) loads its directory's types; a binding made there
/// reads the next message on its subjects; an unbinding undoes it.
#[test]
fn the_schemas_window_loads_protos_and_binds_subjects() {
    let _timed = common::timed();
    let server = common::server();
    let mut h = common::ui::connected(&server, View::Traffic, true);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Payload schemas…").click();
    h.run_steps(2);
    h.get_by_label("Load .proto directory…").click();
    step_until(&mut h, "the path field", |h| {
        h.query_by_label("File path").is_some()
    });
    let proto = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/proto/shop.proto"
    );
    h.get_by_label("File path").focus();
    h.run_steps(1);
    h.get_by_label("File path").type_text(proto);
    h.run_steps(1);
    h.get_by_label("Open").click();
    step_until(&mut h, "the types loaded", |h| {
        h.query_by_label("2 Protobuf message types and 0 Avro named types loaded")
            .is_some()
    });
    common::ui::replace_text(&mut h, "Subject pattern", "orders.>");
    h.get_by_label("Type").click();
    h.run_steps(2);
    h.get_by_label("shop.Order").click();
    h.run_steps(2);
    h.get_by_label("Bind").click();
    step_until(&mut h, "the binding", |h| {
        h.query_by_label("orders.> → shop.Order").is_some()
    });
    assert_eq!(
        h.state().schema_settings.bindings,
        [("orders.>".to_owned(), "shop.Order".to_owned())],
        "kept for the next run"
    );
    let order = Order {
        id: "ord-9".into(),
        ..Order::default()
    };
    let rt = common::runtime();
    rt.block_on(async {
        let client = common::client(&server).await;
        client
            .publish("orders.created", order.encode_to_vec().into())
            .await
            .expect("publish");
        client.flush().await.expect("flush");
    });
    step_until(&mut h, "the preview by the bound type", |h| {
        h.query_by_label_contains("[Protobuf shop.Order] {\"id\":\"ord-9\"")
            .is_some()
    });
    h.get_by_label("Unbind").click();
    step_until(&mut h, "unbound", |h| {
        h.state().schema_settings.bindings.is_empty()
    });
}

/// Select the (table) row of `subject` and read it as `format`'s `type_name`
/// in the inspector.
fn read_row_as(
    h: &mut egui_kittest::Harness<'static, eventscope::app::EventscopeApp>,
    subject: &str,
    format: &str,
    type_name: &str,
) {
    h.get_all_by_label(subject).last().expect("the row").click();
    h.run_steps(2);
    for label in ["Read as", format, "Type", type_name] {
        h.get_by_label(label).click();
        h.run_steps(3);
    }
}
