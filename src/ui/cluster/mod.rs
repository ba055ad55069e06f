//! The Cluster view: what the connection can see (and what not, said),
//! then one tab each for the server table, the connections report, the
//! JetStream meta group and stream replicas, routes/gateways/leaf nodes,
//! and the connect/disconnect/auth-error feed. It draws what the app
//! fetched; the app polls only the tab on screen.

pub(super) mod servers;

use egui::RichText;
use egui_extras::{Column, TableBuilder};

use super::bounded::Bounded;
use super::format;
use super::loaded::Loaded;
use crate::broker::{ConnectionScope, Visibility};
use crate::server_answers::{
    ConnectionRow, ConnectionSort, EventKind, LinkRow, MetaGroup, Peer, ServerEvent, ServerRow,
    StreamGroup,
};
use crate::ui::cluster::servers::server_table_ui;

/// Events kept on screen (the count goes on).
pub const EVENTS_KEEP: usize = 5_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClusterTab {
    #[default]
    Servers,
    Connections,
    Replicas,
    Links,
    Events,
}

impl ClusterTab {
    const ALL: [ClusterTab; 5] = [
        ClusterTab::Servers,
        ClusterTab::Connections,
        ClusterTab::Replicas,
        ClusterTab::Links,
        ClusterTab::Events,
    ];

    fn label(self) -> &'static str {
        match self {
            ClusterTab::Servers => "Servers",
            ClusterTab::Connections => "Client connections",
            ClusterTab::Replicas => "Meta group & replicas",
            ClusterTab::Links => "Routes, gateways, leaf nodes",
            ClusterTab::Events => "Events",
        }
    }
}

/// The connect/disconnect/auth-error feed.
pub struct EventFeed {
    pub events: Bounded<ServerEvent>,
    pub running: bool,
    pub error: Option<String>,
}

impl Default for EventFeed {
    fn default() -> Self {
        Self {
            events: Bounded::new(EVENTS_KEEP),
            running: false,
            error: None,
        }
    }
}

#[derive(Default)]
pub struct ClusterView {
    pub tab: ClusterTab,
    /// The connections up: key, name, and whether it has the system
    /// account (once known).
    pub through: Vec<(crate::capture::ConnectionKey, String, Option<bool>)>,
    /// The connection chosen to look through (`None`: the app's choice).
    pub chosen: Option<crate::capture::ConnectionKey>,
    /// The connection looked through now.
    pub using: Option<crate::capture::ConnectionKey>,
    pub visibility: Loaded<Visibility>,
    pub servers: Loaded<Vec<ServerRow>>,
    /// Said when the table is one server's, from its monitoring URL.
    pub servers_note: Option<String>,
    pub connections: Loaded<(ConnectionScope, Vec<ConnectionRow>)>,
    pub sort: ConnectionSort,
    /// Only this account's connections (`None`: every account).
    pub account: Option<String>,
    /// The report as shown, made again only when the answer, the sort or
    /// the account changes (not every frame).
    shown: ConnectionsShown,
    pub replicas: Loaded<(Option<MetaGroup>, Vec<StreamGroup>)>,
    pub links: Loaded<Vec<LinkRow>>,
    pub events: EventFeed,
}

/// The connections report's rows in order under the account filter, and
/// each account's connection count and message rate.
#[derive(Default)]
struct ConnectionsShown {
    made_for: Option<(ConnectionSort, Option<String>)>,
    rows: Vec<usize>,
    accounts: Vec<(String, usize, f64)>,
}

impl ClusterView {
    /// Another connection is looked through: what the last one showed goes;
    /// the tab, the choice and the connection list stay.
    pub fn look_through(&mut self, key: Option<crate::capture::ConnectionKey>) {
        *self = ClusterView {
            tab: self.tab,
            chosen: self.chosen,
            using: key,
            through: std::mem::take(&mut self.through),
            ..Default::default()
        };
    }

    /// A new connections report: sorted once here.
    pub fn set_connections(
        &mut self,
        result: Result<(ConnectionScope, Vec<ConnectionRow>), String>,
    ) {
        self.connections.answer(result);
        self.shown.made_for = None;
    }

    fn refresh_shown(&mut self) {
        let wanted = (self.sort, self.account.clone());
        if self.shown.made_for.as_ref() == Some(&wanted) {
            return;
        }
        let Some((_, rows)) = &mut self.connections.value else {
            return;
        };
        self.sort.sort(rows);
        let mut accounts: Vec<(String, usize, f64)> = Vec::new();
        for r in rows.iter() {
            match accounts.iter_mut().find(|(a, _, _)| *a == r.account) {
                Some((_, n, rate)) => {
                    *n += 1;
                    *rate += r.in_msgs_per_s.unwrap_or(0.0);
                }
                None => accounts.push((r.account.clone(), 1, r.in_msgs_per_s.unwrap_or(0.0))),
            }
        }
        accounts.sort_by(|a, b| a.0.cmp(&b.0));
        self.shown.rows = (0..rows.len())
            .filter(|i| self.account.as_ref().is_none_or(|a| &rows[*i].account == a))
            .collect();
        self.shown.accounts = accounts;
        self.shown.made_for = Some(wanted);
    }
}

pub fn cluster_ui(ui: &mut egui::Ui, view: &mut ClusterView) {
    ui.horizontal(|ui| {
        for tab in ClusterTab::ALL {
            ui.selectable_value(&mut view.tab, tab, tab.label());
        }
        if view.through.len() > 1 {
            ui.separator();
            let label = |name: &str, system: Option<bool>| match system {
                Some(true) => format!("{name} (system account)"),
                _ => name.to_owned(),
            };
            let shown = view
                .using
                .and_then(|k| view.through.iter().find(|(key, _, _)| *key == k))
                .map_or("-".to_owned(), |(_, n, s)| label(n, *s));
            ui.label("Seen through");
            egui::ComboBox::from_id_salt("cluster-through")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut view.chosen,
                        None,
                        "the best one (the system account's, if any)",
                    );
                    for (key, name, system) in &view.through {
                        ui.selectable_value(&mut view.chosen, Some(*key), label(name, *system));
                    }
                });
        }
    });
    visibility_ui(ui, &view.visibility);
    ui.separator();
    match view.tab {
        ClusterTab::Servers => {
            if let Some(note) = &view.servers_note {
                ui.colored_label(crate::ui::palette::of(ui).bad, note);
            }
            server_table_ui(ui, &view.servers)
        }
        ClusterTab::Connections => connections_ui(ui, view),
        ClusterTab::Replicas => replicas_ui(ui, &view.replicas),
        ClusterTab::Links => links_ui(ui, &view.links),
        ClusterTab::Events => events_ui(ui, &view.events),
    }
}

fn visibility_ui(ui: &mut egui::Ui, seen: &Loaded<Visibility>) {
    let Some(v) = &seen.value else {
        seen.status_ui(ui);
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.label("This connection sees:");
        for (what, yes) in [
            ("system account", v.system_account),
            ("its account's connections", v.account_connz),
            ("JetStream", v.jetstream),
            ("a monitoring URL", v.monitoring_url),
        ] {
            let mark = if yes { "✔" } else { "✖" };
            ui.label(RichText::new(format!("{mark} {what}")).color(if yes {
                crate::ui::palette::of(ui).good
            } else {
                crate::ui::palette::of(ui).bad
            }));
        }
    });
    for missing in v.missing() {
        ui.weak(missing);
    }
}

fn header(h: &mut egui_extras::TableRow<'_, '_>, titles: &[&str]) {
    for t in titles {
        h.col(|ui| {
            ui.strong(*t);
        });
    }
}

fn connections_ui(ui: &mut egui::Ui, view: &mut ClusterView) {
    view.connections.first_status_ui(ui);
    view.refresh_shown();
    let Some((scope, rows)) = &view.connections.value else {
        return;
    };
    let (shown, accounts) = (&view.shown.rows, &view.shown.accounts);
    ui.horizontal(|ui| {
        ui.label(match scope {
            ConnectionScope::AllAccounts => "Every account's connections, every server.",
            ConnectionScope::OwnAccount => "This account's connections only (no system account).",
        });
        egui::ComboBox::from_label("Account")
            .selected_text(view.account.as_deref().unwrap_or("all accounts"))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut view.account, None, "all accounts");
                for (a, _, _) in accounts {
                    ui.selectable_value(&mut view.account, Some(a.clone()), a.as_str());
                }
            });
    });
    // Per account: connections and message rates.
    ui.horizontal_wrapped(|ui| {
        for (a, count, rate) in accounts {
            let name = if a.is_empty() { "(this account)" } else { a };
            ui.label(format!(
                "{name}: {count} connections, {} msgs in/s",
                format::rate(*rate)
            ));
            ui.separator();
        }
    });
    let rate = |v: Option<f64>| v.map_or("-".to_owned(), format::rate);
    let byte_rate =
        |v: Option<f64>| v.map_or("-".to_owned(), |b| format!("{}/s", format::bytes(b as u64)));
    let mut clicked = None;
    TableBuilder::new(ui)
        .id_salt("cluster-connections")
        .striped(true)
        .column(Column::auto().at_least(60.0))
        .column(Column::auto().at_least(40.0))
        .column(Column::initial(180.0).clip(true))
        .columns(Column::auto().at_least(60.0), 8)
        .header(20.0, |mut h| {
            for (i, title) in ["Server", "Cid", "Name", "Account"].iter().enumerate() {
                h.col(|ui| {
                    let sort = [
                        ConnectionSort::Server,
                        ConnectionSort::Server,
                        ConnectionSort::Name,
                        ConnectionSort::Account,
                    ][i];
                    if i == 1 {
                        ui.strong(*title);
                    } else if ui
                        .add(egui::Button::new(RichText::new(*title).strong()).frame(false))
                        .clicked()
                    {
                        clicked = Some(sort);
                    }
                });
            }
            for sort in [
                ConnectionSort::Subscriptions,
                ConnectionSort::InMsgsRate,
                ConnectionSort::OutMsgsRate,
                ConnectionSort::InBytesRate,
                ConnectionSort::OutBytesRate,
                ConnectionSort::Pending,
            ] {
                h.col(|ui| {
                    let mark = if view.sort == sort { " ⏷" } else { "" };
                    if ui
                        .add(
                            egui::Button::new(
                                RichText::new(format!("{}{mark}", sort.label())).strong(),
                            )
                            .frame(false),
                        )
                        .on_hover_text("Sort by this column")
                        .clicked()
                    {
                        clicked = Some(sort);
                    }
                });
            }
            h.col(|ui| {
                ui.strong("RTT");
            });
        })
        .body(|body| {
            body.rows(20.0, shown.len(), |mut row| {
                let r = &rows[shown[row.index()]];
                let cells = [
                    r.server.clone(),
                    r.cid.to_string(),
                    if r.name.is_empty() {
                        "(unnamed)".into()
                    } else {
                        r.name.clone()
                    },
                    r.account.clone(),
                    format::count(r.subscriptions),
                    rate(r.in_msgs_per_s),
                    rate(r.out_msgs_per_s),
                    byte_rate(r.in_bytes_per_s),
                    byte_rate(r.out_bytes_per_s),
                    format::bytes(r.pending_bytes),
                    r.rtt.clone(),
                ];
                for (i, cell) in cells.into_iter().enumerate() {
                    row.col(|ui| {
                        if i == 9 && r.pending_bytes > 0 {
                            ui.colored_label(crate::ui::palette::of(ui).bad, cell);
                        } else {
                            ui.label(cell);
                        }
                    });
                }
            });
        });
    if let Some(sort) = clicked {
        view.sort = sort;
    }
}

fn peer_ui(ui: &mut egui::Ui, p: &Peer) {
    let (text, color) = if p.leader {
        (
            format!("{} (leader)", p.name),
            crate::ui::palette::of(ui).good,
        )
    } else if p.unhealthy() {
        (
            format!("{} {}", p.name, p.state()),
            crate::ui::palette::of(ui).bad,
        )
    } else {
        (
            format!("{} {}", p.name, p.state()),
            ui.visuals().text_color(),
        )
    };
    ui.label(RichText::new(text).color(color))
        .on_hover_text(if p.active.is_empty() {
            "".into()
        } else {
            format!("last heard {}", p.active)
        });
}

fn replicas_ui(ui: &mut egui::Ui, replicas: &Loaded<(Option<MetaGroup>, Vec<StreamGroup>)>) {
    replicas.first_status_ui(ui);
    let Some((meta, streams)) = &replicas.value else {
        return;
    };
    match meta {
        Some(meta) => {
            ui.horizontal(|ui| {
                ui.strong(format!(
                    "JetStream meta group '{}' ({} peers):",
                    meta.name, meta.size
                ));
                for p in &meta.peers {
                    peer_ui(ui, p);
                }
            });
        }
        None => {
            ui.weak("The meta group is seen by the system account only.");
        }
    }
    ui.separator();
    let unhealthy = streams.iter().filter(|s| s.unhealthy() > 0).count();
    ui.label(format!(
        "{} replicated streams, {unhealthy} with replicas behind or offline",
        streams.len()
    ));
    // Unhealthy first.
    let mut order: Vec<&StreamGroup> = streams.iter().collect();
    order.sort_by_key(|s| std::cmp::Reverse(s.unhealthy()));
    TableBuilder::new(ui)
        .id_salt("cluster-replicas")
        .striped(true)
        .column(Column::auto().at_least(80.0))
        .column(Column::initial(180.0).clip(true))
        .column(Column::remainder())
        .header(20.0, |mut h| {
            header(&mut h, &["Account", "Stream", "Peers"])
        })
        .body(|body| {
            body.rows(20.0, order.len(), |mut row| {
                let s = order[row.index()];
                row.col(|ui| {
                    ui.label(if s.account.is_empty() {
                        "(this account)"
                    } else {
                        &s.account
                    });
                });
                row.col(|ui| {
                    ui.label(&s.stream);
                });
                row.col(|ui| {
                    ui.horizontal(|ui| {
                        if s.leader.is_empty() {
                            ui.colored_label(crate::ui::palette::of(ui).bad, "NO LEADER");
                        }
                        for p in s.peers.iter().filter(|p| !p.name.is_empty()) {
                            peer_ui(ui, p);
                        }
                    });
                });
            });
        });
}

fn links_ui(ui: &mut egui::Ui, links: &Loaded<Vec<LinkRow>>) {
    links.first_status_ui(ui);
    let Some(rows) = &links.value else {
        return;
    };
    if rows.is_empty() {
        ui.label("No routes, gateways or leaf nodes: a single server.");
        return;
    }
    TableBuilder::new(ui)
        .id_salt("cluster-links")
        .striped(true)
        .columns(Column::auto().at_least(70.0), 9)
        .header(20.0, |mut h| {
            header(
                &mut h,
                &[
                    "Server", "Kind", "Remote", "Address", "Account", "RTT", "Msgs in", "Msgs out",
                    "Pending",
                ],
            )
        })
        .body(|body| {
            body.rows(20.0, rows.len(), |mut row| {
                let r = &rows[row.index()];
                for cell in [
                    r.server.clone(),
                    r.kind.label().to_owned(),
                    r.remote.clone(),
                    r.address.clone(),
                    r.account.clone(),
                    r.rtt.clone(),
                    format::count(r.in_msgs),
                    format::count(r.out_msgs),
                    format::bytes(r.pending_bytes),
                ] {
                    row.col(|ui| {
                        ui.label(cell);
                    });
                }
            });
        });
}

fn events_ui(ui: &mut egui::Ui, feed: &EventFeed) {
    ui.horizontal(|ui| {
        if feed.running {
            ui.spinner();
            ui.label("Listening for connects, disconnects and authentication failures.");
        }
        ui.label(feed.events.summary("events"));
    });
    if let Some(e) = &feed.error {
        ui.colored_label(crate::ui::palette::of(ui).bad, e);
    }
    TableBuilder::new(ui)
        .id_salt("cluster-events")
        .striped(true)
        .stick_to_bottom(true)
        .column(Column::auto().at_least(90.0))
        .column(Column::auto().at_least(80.0))
        .columns(Column::auto().at_least(60.0), 4)
        .column(Column::initial(160.0).clip(true))
        .column(Column::remainder())
        .header(20.0, |mut h| {
            header(
                &mut h,
                &[
                    "Time", "Event", "Server", "Account", "Cid", "User", "Client", "Reason",
                ],
            )
        })
        .body(|body| {
            let events = feed.events.items();
            body.rows(20.0, events.len(), |mut row| {
                let e = &events[row.index()];
                let cells = [
                    format::clock(e.at),
                    e.kind.label().to_owned(),
                    e.server.clone(),
                    e.account.clone(),
                    e.cid.to_string(),
                    e.user.clone(),
                    format!("{} {}", e.name, e.host),
                    e.reason.clone(),
                ];
                for (i, cell) in cells.into_iter().enumerate() {
                    row.col(|ui| {
                        if i == 1 && e.kind == EventKind::AuthError {
                            ui.colored_label(crate::ui::palette::of(ui).bad, cell);
                        } else {
                            ui.label(cell);
                        }
                    });
                }
            });
        });
}
