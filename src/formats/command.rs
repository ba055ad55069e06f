//! A record as the shell command that sends it again with the broker's
//! own CLI: `nats pub` / `nats req` (headers, reply), `mosquitto_pub`
//! (QoS, retain, MQTT 5 user properties), `rabbitmqadmin publish`
//! (exchange, routing key, properties, headers), `kcat -P` (key,
//! partition, headers). Every word is shell-quoted; a payload that is not
//! text (or holds a NUL, which no shell word can) is piped in from its
//! base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::capture::{AmqpFields, BrokerKind, KafkaFields, MqttFields, Record};

/// One way to send the record again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendCommand {
    /// What it is, for a menu: "nats pub", "nats req"...
    pub label: &'static str,
    pub command: String,
}

/// The commands that send `record` again on `broker`, the likeliest first.
pub fn send_commands(record: &Record, broker: BrokerKind) -> Vec<SendCommand> {
    match broker {
        BrokerKind::Nats => nats(record),
        BrokerKind::Mqtt => vec![mqtt(record)],
        BrokerKind::Amqp => vec![amqp(record)],
        BrokerKind::Kafka => vec![kafka(record)],
    }
}

fn quote(word: &str) -> String {
    // try_quote refuses only a NUL, which callers never pass (payloads
    // with one go through base64).
    shlex::try_quote(word).map_or_else(|_| "''".into(), |q| q.into_owned())
}

/// The payload as one shell word, or `None` when it must be piped.
fn text_payload(record: &Record) -> Option<&str> {
    std::str::from_utf8(record.payload())
        .ok()
        .filter(|t| !t.contains('\0'))
}

/// `printf %s BASE64 | base64 -d | ` before a command that reads stdin.
fn piped_from_base64(record: &Record) -> String {
    format!(
        "printf %s {} | base64 -d | ",
        quote(&BASE64.encode(record.payload()))
    )
}

fn header_pairs(record: &Record) -> Vec<(String, String)> {
    record
        .headers()
        .map(|h| {
            h.iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn nats(record: &Record) -> Vec<SendCommand> {
    let mut flags = String::new();
    for (name, value) in header_pairs(record) {
        flags.push_str(&format!(" -H {}", quote(&format!("{name}:{value}"))));
    }
    let subject = quote(record.subject());
    let (pipe, body) = match text_payload(record) {
        Some(text) => (String::new(), format!(" {}", quote(text))),
        None => (piped_from_base64(record), " --force-stdin".into()),
    };
    let mut commands = Vec::new();
    let publish = |reply: &str| SendCommand {
        label: "nats pub",
        command: format!("{pipe}nats pub {subject}{body}{flags}{reply}"),
    };
    match record.reply() {
        Some(reply) => {
            commands.push(SendCommand {
                label: "nats req",
                command: format!("{pipe}nats req {subject}{body}{flags}"),
            });
            commands.push(publish(&format!(" --reply {}", quote(reply))));
        }
        None => commands.push(publish("")),
    }
    commands
}

fn mqtt(record: &Record) -> SendCommand {
    let fields = MqttFields::of_json(record.fields()).unwrap_or_default();
    let mut words = vec![
        "mosquitto_pub".to_owned(),
        "-t".into(),
        quote(record.subject()),
    ];
    if fields.qos > 0 {
        words.push(format!("-q {}", fields.qos));
    }
    if fields.retain {
        words.push("-r".into());
    }
    let properties = header_pairs(record);
    if !properties.is_empty() || fields.content_type.is_some() {
        words.push("-V mqttv5".into());
    }
    for (name, value) in properties {
        words.push(format!(
            "-D publish user-property {} {}",
            quote(&name),
            quote(&value)
        ));
    }
    if let Some(content_type) = &fields.content_type {
        words.push(format!("-D publish content-type {}", quote(content_type)));
    }
    let pipe = match text_payload(record) {
        Some(text) => {
            words.push(format!("-m {}", quote(text)));
            String::new()
        }
        None => {
            words.push("-s".into());
            piped_from_base64(record)
        }
    };
    SendCommand {
        label: "mosquitto_pub",
        command: format!("{pipe}{}", words.join(" ")),
    }
}

fn amqp(record: &Record) -> SendCommand {
    let fields = AmqpFields::of_json(record.fields());
    let (exchange, routing_key) = match &fields {
        Some(f) => (f.exchange.clone(), f.routing_key.clone()),
        None => match record.subject().split_once('/') {
            Some((e, k)) => (e.to_owned(), k.to_owned()),
            None => (String::new(), record.subject().to_owned()),
        },
    };
    let exchange = if exchange == crate::capture::AMQP_DEFAULT_EXCHANGE {
        String::new()
    } else {
        exchange
    };
    let mut properties = fields
        .as_ref()
        .and_then(|f| serde_json::to_value(&f.properties).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    if let Some(headers) = fields.as_ref().and_then(|f| f.headers.clone()) {
        properties.insert("headers".into(), headers);
    }
    let mut words = vec![
        "rabbitmqadmin publish".to_owned(),
        quote(&format!("exchange={exchange}")),
        quote(&format!("routing_key={routing_key}")),
    ];
    match text_payload(record) {
        Some(text) => words.push(quote(&format!("payload={text}"))),
        None => {
            words.push(quote(&format!(
                "payload={}",
                BASE64.encode(record.payload())
            )));
            words.push("payload_encoding=base64".into());
        }
    }
    if !properties.is_empty() {
        words.push(quote(&format!(
            "properties={}",
            serde_json::Value::Object(properties)
        )));
    }
    SendCommand {
        label: "rabbitmqadmin publish",
        command: words.join(" "),
    }
}

fn kafka(record: &Record) -> SendCommand {
    let fields = KafkaFields::of_json(record.fields()).unwrap_or_default();
    let mut words = vec![
        "kcat -P -b".to_owned(),
        "\"$KAFKA_BROKERS\"".into(),
        "-t".into(),
        quote(record.subject()),
    ];
    if let Some(partition) = fields.partition {
        words.push(format!("-p {partition}"));
    }
    // kcat reads the key from the message line with -K; a text key only.
    let key = fields.key.as_deref().filter(|k| !k.contains('\u{1e}'));
    if key.is_some() {
        words.push("-K $'\\x1f'".into());
    }
    for (name, value) in header_pairs(record) {
        words.push(format!("-H {}", quote(&format!("{name}={value}"))));
    }
    // One message up to end of input: the delimiter is a byte the payload
    // does not hold, so newlines stay inside it.
    words.push("-D $'\\x1e'".into());
    let prefix = key.map(|k| format!("{}\u{1f}", k)).unwrap_or_default();
    let pipe = match text_payload(record) {
        Some(text) => format!("printf %s {} | ", quote(&format!("{prefix}{text}"))),
        None if key.is_some() => format!(
            "{{ printf %s {}; printf %s {} | base64 -d; }} | ",
            quote(&prefix),
            quote(&BASE64.encode(record.payload()))
        ),
        None => piped_from_base64(record),
    };
    SendCommand {
        label: "kcat -P",
        command: format!("{pipe}{}", words.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderBlock;

    /// Split as a POSIX shell would (shlex), to check the words.
    fn words(command: &str) -> Vec<String> {
        shlex::split(command).expect("a shell line")
    }

    #[test]
    fn nats_requests_and_binary_payloads_survive_the_shell() {
        let headers = HeaderBlock::build(None, [("ce-id", "it's 1"), ("x", "a b")]);
        let record = Record::new(
            0,
            0,
            "orders.new",
            Some("_INBOX.9"),
            Some(&headers),
            b"{\"a\": \"$HOME\"}",
        );
        let commands = send_commands(&record, BrokerKind::Nats);
        assert_eq!(commands[0].label, "nats req");
        assert_eq!(
            words(&commands[0].command),
            [
                "nats",
                "req",
                "orders.new",
                "{\"a\": \"$HOME\"}",
                "-H",
                "ce-id:it's 1",
                "-H",
                "x:a b"
            ]
        );
        assert!(words(&commands[1].command).ends_with(&["--reply".into(), "_INBOX.9".into()]));
        let binary = Record::new(0, 0, "bin", None, None, &[0, 159, 146, 150]);
        let command = &send_commands(&binary, BrokerKind::Nats)[0].command;
        assert_eq!(
            words(command),
            [
                "printf",
                "%s",
                "AJ+Slg==",
                "|",
                "base64",
                "-d",
                "|",
                "nats",
                "pub",
                "bin",
                "--force-stdin"
            ]
        );
    }

    #[test]
    fn each_broker_gets_its_own_cli() {
        let mqtt = crate::capture::RecordPacker::default().pack_incoming(
            0,
            0,
            &crate::capture::Incoming {
                subject: b"devices/1/temp",
                reply: None,
                headers: None,
                fields: r#"{"qos":1,"retain":true}"#,
                payload: b"21.5",
            },
        );
        assert_eq!(
            words(&send_commands(&mqtt, BrokerKind::Mqtt)[0].command),
            [
                "mosquitto_pub",
                "-t",
                "devices/1/temp",
                "-q",
                "1",
                "-r",
                "-m",
                "21.5"
            ]
        );
        let kafka = crate::capture::RecordPacker::default().pack_incoming(
            0,
            0,
            &crate::capture::Incoming {
                subject: b"orders",
                reply: None,
                headers: None,
                fields: r#"{"partition":2,"key":"k-1"}"#,
                payload: b"line 1\nline 2",
            },
        );
        let command = &send_commands(&kafka, BrokerKind::Kafka)[0].command;
        assert!(command.contains("-t orders -p 2 -K"), "{command}");
        let amqp = Record::new(0, 0, "amq.default/work", None, None, b"job");
        assert_eq!(
            words(&send_commands(&amqp, BrokerKind::Amqp)[0].command),
            [
                "rabbitmqadmin",
                "publish",
                "exchange=",
                "routing_key=work",
                "payload=job"
            ]
        );
    }
}
