//! Command-line interface: the GUI by default, headless twins as
//! subcommands. Connection flags are shared by all of them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::FlowPick;
use crate::broker::{Auth, ConnectionProfile, SubscriptionSpec, TlsSettings};
use crate::broker::{find_context, nats_config_dir, selected_context};

mod cluster;
mod connected;
mod convert;
mod diff;
mod flows;
pub use flows::FlowsArgs;
mod jetstream;
mod kv;
mod map;
mod record;
pub use record::RecordArgs;
mod replay;
pub use replay::ReplayArgs;
mod schema_args;
mod search;
mod servers;
mod services;

/// Run what the command line asks: a headless subcommand, or the app.
pub fn run(cli: Cli) -> std::process::ExitCode {
    match cli.command {
        Some(Command::Record(args)) => record::record_command(*args),
        Some(Command::Flows(args)) => flows::flows_command(args),
        Some(Command::Replay(args)) => replay::replay_command(*args),
        Some(Command::Streams(args)) => jetstream::streams_command(args),
        Some(Command::Consumers(args)) => jetstream::consumers_command(args),
        Some(Command::Browse(args)) => jetstream::browse_command(*args),
        Some(Command::Lag(args)) => jetstream::lag_command(args),
        Some(Command::Recorder(args)) => jetstream::recorder_command(args),
        Some(Command::Export(args)) => jetstream::export_command(args),
        Some(Command::Servers(args)) => servers::servers_command(args),
        Some(Command::Convert(args)) => convert::convert_command(*args),
        Some(Command::Search(args)) => search::search_command(*args),
        Some(Command::Diff(args)) => diff::diff_command(*args),
        Some(Command::Services(args)) => services::services_command(args),
        Some(Command::Cluster(args)) => cluster::cluster_command(args),
        Some(Command::Kv(args)) => kv::kv_command(args),
        Some(Command::Object(args)) => kv::object_command(args),
        Some(Command::Map(args)) => map::map_command(*args),
        Some(Command::Asyncapi(args)) => map::asyncapi_command(*args),
        None => match gui_start(cli) {
            Ok(start) => gui(start),
            Err(e) => {
                eprintln!("eventscope: {e}");
                std::process::ExitCode::from(2)
            }
        },
    }
}

/// A screenshot run that has not finished by then is stuck: exit instead
/// of hanging a CI job.
const SCREENSHOT_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(120);

/// Run the app; say what went wrong, if anything.
fn gui(start: crate::app::Start) -> std::process::ExitCode {
    if start.screenshot.is_some() {
        std::thread::spawn(|| {
            std::thread::sleep(SCREENSHOT_WATCHDOG);
            eprintln!("eventscope: screenshot not taken within {SCREENSHOT_WATCHDOG:?}; giving up");
            std::process::exit(3);
        });
    }
    match crate::app::run(start) {
        Ok(report) => {
            if let Some(first) = report.first_frame {
                eprintln!(
                    "eventscope: first frame drawn {} ms after start",
                    first.as_millis()
                );
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventscope: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What the app is asked to do at start, from the command line.
fn gui_start(cli: Cli) -> anyhow::Result<crate::app::Start> {
    // With --demo, a connection of its own is made only when asked for.
    let explicit = !cli.connect.servers.is_empty() || cli.connect.context.is_some();
    let connect = if explicit || !(cli.demo || cli.demo_cluster) {
        cli.connect
            .to_profile(&cli.subjects)
            .map_err(anyhow::Error::msg)?
    } else {
        None
    };
    let select = cli
        .select
        .as_deref()
        .map(crate::capture::SubjectPattern::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--select: {e}"))?;
    Ok(crate::app::Start {
        demo: cli.demo,
        demo_cluster: cli.demo_cluster,
        demo_subjects: cli.subjects,
        connect,
        select,
        view: match cli.view {
            ViewArg::Traffic => crate::ui::View::Traffic,
            ViewArg::Flows => crate::ui::View::Flows,
            ViewArg::Publish => crate::ui::View::Publish,
            ViewArg::Connections => crate::ui::View::Connections,
            ViewArg::Jetstream => crate::ui::View::JetStream,
            ViewArg::Servers | ViewArg::Cluster => crate::ui::View::Servers,
            ViewArg::Kv => crate::ui::View::Kv,
            ViewArg::Services => crate::ui::View::Services,
            ViewArg::Search => crate::ui::View::Search,
            ViewArg::Map => crate::ui::View::Map,
        },
        screenshot: cli.screenshot.map(|path| crate::app::ScreenshotRequest {
            path,
            flow: cli.flow,
            start_replay: cli.start_replay,
            jetstream: cli.stream.clone().map(|stream| crate::app::JetStreamShot {
                stream,
                consumer: cli.consumer.clone(),
                tab: match cli.tab {
                    TabArg::Consumers => crate::ui::StreamTab::Consumers,
                    TabArg::Messages => crate::ui::StreamTab::Messages,
                    TabArg::Subjects => crate::ui::StreamTab::Subjects,
                    TabArg::Detail => crate::ui::StreamTab::Detail,
                },
            }),
            kv: cli.bucket.clone().map(|bucket| crate::app::KvShot {
                bucket,
                key: cli.key.clone(),
            }),
            search_json: cli.search_json.clone(),
            palette: cli.palette.clone(),
            diff_previous: cli.diff_previous,
            cluster_tab: cli.cluster_tab.map(|tab| match tab {
                ClusterTabArg::Servers => crate::ui::ClusterTab::Servers,
                ClusterTabArg::Connections => crate::ui::ClusterTab::Connections,
                ClusterTabArg::Replicas => crate::ui::ClusterTab::Replicas,
                ClusterTabArg::Links => crate::ui::ClusterTab::Links,
                ClusterTabArg::Events => crate::ui::ClusterTab::Events,
            }),
        }),
        window_size: parse_size(&cli.window_size).unwrap_or((1440.0, 900.0)),
        theme: cli.theme.map(|theme| match theme {
            ThemeArg::Dark => crate::ui::ThemeChoice::Dark,
            ThemeArg::Light => crate::ui::ThemeChoice::Light,
            ThemeArg::System => crate::ui::ThemeChoice::System,
        }),
        budget_mib: cli.budget_mib,
        spool_mib: cli.spool_mib,
        capture: cli.capture,
        schemas: {
            // Loaded now: a file that does not compile stops the start, in
            // words.
            let settings = cli.schemas.settings()?;
            settings.load()?;
            settings
        },
    })
}

/// Whether a command read its whole capture.
#[derive(Debug, PartialEq, Eq)]
pub enum Complete {
    Yes,
    /// Bad lines were skipped (the exit says the capture was not whole).
    SkippedBadLines,
}

#[derive(Debug, Parser)]
#[command(
    name = "eventscope",
    version,
    about = "A native desktop monitor for NATS, MQTT, RabbitMQ and Kafka: live traffic, flows, replay"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Start a private nats-server with a simulated event-driven system and
    /// monitor it.
    #[arg(long)]
    pub demo: bool,

    /// As --demo, on three routed servers with a system account (for the
    /// Cluster view; a second connection is made as the system account).
    #[arg(long, conflicts_with = "demo")]
    pub demo_cluster: bool,

    /// A capture file (`.jsonl`) to open in the window.
    #[arg(value_name = "CAPTURE")]
    pub capture: Option<PathBuf>,

    #[command(flatten)]
    pub schemas: schema_args::SchemaArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Subject patterns to subscribe to (repeatable; default `>`).
    #[arg(long = "subject", short = 's', value_name = "PATTERN")]
    pub subjects: Vec<String>,

    /// Memory budget for retained messages, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub budget_mib: usize,

    /// Disk budget, in MiB, for messages waiting while the window catches
    /// up with a burst (a private temporary file); past it, they are
    /// dropped and counted. 0: no spool, drop when memory is spent.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub spool_mib: u64,

    /// Save a screenshot of the window to this PNG once the view shows data,
    /// then exit.
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,

    /// The view to show (with --screenshot: the view to capture).
    #[arg(long, value_enum, default_value_t = ViewArg::Traffic)]
    pub view: ViewArg,

    /// Select the newest message whose subject matches this pattern (for
    /// screenshots).
    #[arg(long, value_name = "PATTERN")]
    pub select: Option<String>,

    /// Select the newest flow of this kind (for screenshots of the flows view).
    #[arg(long, value_enum, value_name = "KIND")]
    pub flow: Option<FlowPick>,

    /// With --screenshot: start replaying the captured `orders.>` traffic
    /// (remapped to `replay.orders.>`, at a quarter of the original speed)
    /// and take the picture while it runs.
    #[arg(long, requires = "screenshot")]
    pub start_replay: bool,

    /// With --screenshot: the stream the JetStream view shows (with
    /// `--view flows`: show this stream's flows of --consumer).
    #[arg(long, value_name = "NAME", requires = "screenshot")]
    pub stream: Option<String>,

    /// With --screenshot and --stream: the consumer to choose.
    #[arg(long, value_name = "NAME", requires = "stream")]
    pub consumer: Option<String>,

    /// With --screenshot and --stream: the stream's tab.
    #[arg(long, value_enum, default_value_t = TabArg::Consumers)]
    pub tab: TabArg,

    /// With --screenshot: the KV bucket the KV view shows.
    #[arg(long, value_name = "NAME", requires = "screenshot")]
    pub bucket: Option<String>,

    /// With --screenshot and --bucket: the key whose history diff to show.
    #[arg(long, value_name = "KEY", requires = "bucket")]
    pub key: Option<String>,

    /// With --screenshot: the Cluster view's tab.
    #[arg(long, value_enum, requires = "screenshot")]
    pub cluster_tab: Option<ClusterTabArg>,

    /// With --screenshot --view search: the JSON test searched for once
    /// traffic has come.
    #[arg(long, value_name = "TEST", requires = "screenshot")]
    pub search_json: Option<String>,

    /// With --screenshot: the command palette open with this typed.
    #[arg(long, value_name = "TEXT", requires = "screenshot")]
    pub palette: Option<String>,

    /// With --screenshot --select: compare the selected message with the
    /// previous one on its subject.
    #[arg(long, requires = "select")]
    pub diff_previous: bool,

    /// The theme: dark, light, or follow the desktop's (default: the last
    /// run's).
    #[arg(long, value_enum)]
    pub theme: Option<ThemeArg>,

    /// Window size for screenshots, WIDTHxHEIGHT.
    #[arg(long, default_value = "1440x900")]
    pub window_size: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ViewArg {
    Traffic,
    Flows,
    Publish,
    Connections,
    Jetstream,
    /// The Cluster view (also `servers`).
    Servers,
    Cluster,
    Kv,
    Services,
    Search,
    Map,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ThemeArg {
    Dark,
    Light,
    System,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClusterTabArg {
    Servers,
    Connections,
    Replicas,
    Links,
    Events,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TabArg {
    Consumers,
    Messages,
    Subjects,
    Detail,
}

/// `flows --filter`: the flow list's filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FilterArg {
    All,
    Retries,
    Failed,
    Slow,
}

impl From<FilterArg> for crate::flow::FlowFilter {
    fn from(arg: FilterArg) -> Self {
        match arg {
            FilterArg::All => Self::All,
            FilterArg::Retries => Self::Retries,
            FilterArg::Failed => Self::Failed,
            FilterArg::Slow => Self::Slow,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record messages to a capture file (JSON Lines) and exit.
    Record(Box<RecordArgs>),
    /// Reconstruct flows (requests, JetStream deliveries, retries) from a
    /// capture file or the flight recorder.
    Flows(FlowsArgs),
    /// Replay a capture file into a server, with timing and subject remapping.
    Replay(Box<ReplayArgs>),
    /// JetStream streams as a report.
    Streams(jetstream::StreamsArgs),
    /// A stream's consumers as a report (pending, ack pending, redelivered, …).
    Consumers(jetstream::ConsumersArgs),
    /// Read a stream's messages into a capture file, without a consumer (a
    /// capture stream from `record --to-stream`: the captured messages).
    Browse(Box<jetstream::BrowseArgs>),
    /// Poll a consumer's lag: pending, ack pending, rates, oldest unprocessed.
    Lag(jetstream::LagArgs),
    /// The flight recorder: a bounded stream of consumer acks and advisories.
    Recorder(jetstream::RecorderArgs),
    /// Write a capture kept in a stream (`record --to-stream`) to a file.
    Export(jetstream::ExportArgs),
    /// Every server of the cluster, as a table (needs the system account).
    Servers(servers::ServersArgs),
    /// A capture file or a `nats sub --dump` directory as a capture file,
    /// NDJSON, CSV, JSON or a dump directory, payloads decoded.
    Convert(Box<convert::ConvertArgs>),
    /// Find messages in a capture file or a natscli dump: subject, text or
    /// regular expression, a JSON test on the decoded payload, a time range.
    Search(Box<search::SearchArgs>),
    /// Two captures compared per subject: appeared, vanished, changed
    /// (counts, and the fields their payloads carry).
    Diff(Box<diff::DiffArgs>),
    /// Every NATS micro service the account reaches: instances, endpoints,
    /// requests, errors, processing time.
    Services(services::ServicesArgs),
    /// The cluster from one connection: access, connections report, meta
    /// group and replicas, routes/gateways/leaf nodes, server events.
    Cluster(cluster::ClusterArgs),
    /// KV buckets: keys, values, history and diffs, changes, watch.
    Kv(kv::KvArgs),
    /// Object stores: list, info, download, upload, watch.
    Object(kv::ObjectArgs),
    /// The map of the system (who publishes what, who consumes it, through
    /// which streams) from a capture file, or a live look with --server.
    Map(Box<map::MapArgs>),
    /// An AsyncAPI 3 document of what a capture (or a live look) shows.
    Asyncapi(Box<map::AsyncApiArgs>),
}

/// How to reach and authenticate to a server.
#[derive(Debug, Args, Default)]
pub struct ConnectArgs {
    /// Server URL(s): repeat or separate with commas.
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,

    /// Use a NATS CLI context (default: the selected one, when no --server).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Connection name shown in the UI and written to capture files.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    #[arg(long, value_name = "TOKEN", env = "NATS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    #[arg(
        long,
        value_name = "PASSWORD",
        env = "NATS_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// A `.creds` file (JWT and NKey seed).
    #[arg(long, value_name = "FILE")]
    pub creds: Option<PathBuf>,

    /// A file holding an NKey seed.
    #[arg(long, value_name = "FILE")]
    pub nkey: Option<PathBuf>,

    /// CA certificate to trust (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate (PEM), with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Client private key (PEM), with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Refuse to connect without TLS.
    #[arg(long)]
    pub tls_required: bool,

    /// The server's HTTP monitoring URL (e.g. http://host:8222): names the
    /// connections behind subjects and inboxes in flow diagrams.
    #[arg(long, value_name = "URL")]
    pub monitoring_url: Option<String>,
}

impl ConnectArgs {
    /// The profile these flags describe, or `None` when they name no server
    /// and no context is selected.
    pub fn to_profile(&self, subjects: &[String]) -> Result<Option<ConnectionProfile>, String> {
        let mut profile = if !self.servers.is_empty() {
            ConnectionProfile::new("", self.servers.join(","))
        } else if let Some(name) = &self.context {
            find_context(name).map_err(|e| e.to_string())?
        } else if let Some(name) = nats_config_dir().and_then(|d| selected_context(&d)) {
            match find_context(&name) {
                Ok(p) => p,
                Err(_) => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        // Before anything derives a name or a line of output from the URLs.
        profile.take_url_credentials();
        if profile.name.is_empty() {
            profile.name = self.name.clone().unwrap_or_else(|| default_name(&profile));
        } else if let Some(name) = &self.name {
            profile.name = name.clone();
        }
        if let Some(token) = &self.token {
            profile.auth = Auth::Token {
                token: token.clone(),
            };
        }
        if let Some(user) = &self.user {
            profile.auth = Auth::UserPassword {
                user: user.clone(),
                password: self.password.clone().unwrap_or_default(),
            };
        }
        if let Some(path) = &self.creds {
            profile.auth = Auth::CredsFile { path: path.clone() };
        }
        if let Some(path) = &self.nkey {
            profile.auth = Auth::NkeyFile { path: path.clone() };
        }
        let tls = &mut profile.tls;
        *tls = TlsSettings {
            ca_file: self.tls_ca.clone().or(tls.ca_file.take()),
            client_cert: self.tls_cert.clone().or(tls.client_cert.take()),
            client_key: self.tls_key.clone().or(tls.client_key.take()),
            require_tls: self.tls_required || tls.require_tls,
        };
        if self.monitoring_url.is_some() {
            profile.monitoring_url = self.monitoring_url.clone();
        }
        if !subjects.is_empty() {
            profile.subscriptions = subjects.iter().map(SubscriptionSpec::new).collect();
        }
        profile.validate().map_err(|e| e.to_string())?;
        Ok(Some(profile))
    }
}

fn default_name(profile: &ConnectionProfile) -> String {
    profile
        .server_list()
        .first()
        .map(|s| {
            s.trim_start_matches("nats://")
                .trim_start_matches("tls://")
                .to_owned()
        })
        .unwrap_or_else(|| "nats".into())
}

/// `1440x900` -> (1440.0, 900.0)
pub fn parse_size(text: &str) -> Option<(f32, f32)> {
    let (w, h) = text.split_once(['x', 'X'])?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}
