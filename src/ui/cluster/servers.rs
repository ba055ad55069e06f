//! The server table: every server the connection reaches (the system
//! account's `$SYS.REQ.SERVER.PING.VARZ`), polled while shown; without the
//! system account, what is missing and why instead of an empty table.
//! Drawn in the Cluster view's first tab.

use egui_extras::{Column, TableBuilder};

use crate::server_answers::ServerRow;
use crate::ui::format;
use crate::ui::loaded::Loaded;

const TITLES: [&str; 13] = [
    "Server",
    "Version",
    "Cluster",
    "Conns",
    "Subs",
    "Msgs in/s",
    "Msgs out/s",
    "Bytes in/s",
    "Bytes out/s",
    "Memory",
    "CPU",
    "Slow",
    "JetStream",
];

pub fn server_table_ui(ui: &mut egui::Ui, table: &Loaded<Vec<ServerRow>>) {
    ui.horizontal(|ui| {
        ui.heading("Servers");
        if let Some(rows) = &table.value {
            ui.label(format!("{} seen from this connection", rows.len()));
        }
        if table.loading {
            ui.spinner();
        }
    });
    if let Some(e) = &table.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    let Some(rows) = table.value.as_deref() else {
        if table.error.is_none() {
            ui.label("Asking the servers…");
        }
        return;
    };
    let rate = |v: Option<f64>| v.map_or("-".to_owned(), format::rate);
    let byte_rate =
        |v: Option<f64>| v.map_or("-".to_owned(), |b| format!("{}/s", format::bytes(b as u64)));
    TableBuilder::new(ui)
        .striped(true)
        .column(Column::auto().at_least(90.0))
        .columns(Column::auto().at_least(50.0), TITLES.len() - 1)
        .header(20.0, |mut h| {
            for title in TITLES {
                h.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, rows.len(), |mut row| {
                let r = &rows[row.index()];
                let cells = [
                    r.name.clone(),
                    r.version.clone(),
                    r.cluster.clone().unwrap_or_else(|| "-".into()),
                    format::count(r.connections),
                    format::count(r.subscriptions),
                    rate(r.in_msgs_per_s),
                    rate(r.out_msgs_per_s),
                    byte_rate(r.in_bytes_per_s),
                    byte_rate(r.out_bytes_per_s),
                    format::bytes(r.mem),
                    format!("{:.1}%", r.cpu),
                    format::count(r.slow_consumers),
                    r.jetstream_store
                        .map_or("off".to_owned(), |s| format!("{} stored", format::bytes(s))),
                ];
                for (i, cell) in cells.into_iter().enumerate() {
                    row.col(|ui| {
                        if i == 11 && r.slow_consumers > 0 {
                            ui.colored_label(crate::ui::palette::of(ui).bad, cell);
                        } else {
                            ui.label(cell);
                        }
                    });
                }
            });
        });
}
