//! The demo's configuration admin: keys of the `config` bucket edited now
//! and then (so a key has a history to diff), and a report file in the
//! `reports` object store.

use std::time::Duration;

use async_nats::jetstream;

use super::{DemoResult, Dice, connect};

/// Keys of the `config` bucket edited now and then, and a report file in
/// the `reports` object store.
pub(super) async fn config_admin(url: String, replicas: usize) -> DemoResult {
    use async_nats::jetstream::{kv, object_store};
    let client = connect(&url, "config-admin").await?;
    let js = jetstream::new(client);
    let config = js
        .create_key_value(kv::Config {
            bucket: "config".into(),
            history: 10,
            num_replicas: replicas,
            ..Default::default()
        })
        .await?;
    let reports = js
        .create_object_store(object_store::Config {
            bucket: "reports".into(),
            num_replicas: replicas,
            ..Default::default()
        })
        .await?;
    let report: Vec<u8> = (0..2000)
        .flat_map(|i| format!("{i},SKU-{:03},{}\n", i % 97, i * 7 % 300).into_bytes())
        .collect();
    reports
        .put("daily-sales.csv", &mut report.as_slice())
        .await?;
    config
        .put(
            "feature.flags",
            r#"{"new_checkout":false,"dark_mode":true}"#.into(),
        )
        .await?;
    config
        .put("shipping.carriers", r#"["dhl","ups"]"#.into())
        .await?;
    let mut dice = Dice::new(4242);
    for round in 0u64.. {
        let discount = [0, 5, 10, 15][(round % 4) as usize];
        let rules = serde_json::json!({
            "currency": "EUR",
            "discount_percent": discount,
            "free_shipping_over": 50 + 10 * (round % 3),
            "tiers": {"gold": 0.05, "platinum": if round % 2 == 0 { 0.1 } else { 0.12 }},
            "updated_by": "config-admin",
        });
        config
            .put("pricing.rules", serde_json::to_vec_pretty(&rules)?.into())
            .await?;
        config
            .put(
                format!(
                    "service.{}.replicas",
                    ["orders", "fulfillment", "pricing"][dice.below(3) as usize]
                ),
                (1 + dice.below(4)).to_string().into(),
            )
            .await?;
        tokio::time::sleep(Duration::from_secs(if round < 3 { 1 } else { 15 })).await;
    }
    Ok(())
}
