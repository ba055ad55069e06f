//! The task behind one Kafka connection: the topics the subscriptions
//! match (looked up again every few seconds, so new topics and partitions
//! are read from their first record), a fetcher per leader reading its
//! partitions from where each subscription says, the consumer groups'
//! commits polled as records on `__consumer_offsets`, and the commands.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::fetcher::{self, Assign, Ends, Fetched, TopicPartition};
use super::link::{Cluster, KafkaLinkError};
use super::message::parts_of;
use super::watch::{BadTopicPattern, TopicMatcher};
use crate::broker::profile::{ConnectionProfile, ReadFrom, SubscriptionSpec};
use crate::broker::reading::Reading;
use crate::broker::retrying::{BrokerLink, Ended, LinkError, Retrying};
use crate::broker::status::SubscriptionState;
use crate::broker::{Command, JobProgress, JobSpec, SendMode, SendOutcome, WireMessage};
use crate::capture::{GroupCommit, Incoming, KAFKA_COMMITS_TOPIC, KafkaFields, now_timestamp};

/// How often the topics and leaders are read again.
const REFRESH: Duration = Duration::from_secs(3);
/// How often the groups' commits are polled.
const GROUP_POLL: Duration = Duration::from_secs(1);

/// Kafka's part of the monitoring task (`retrying.rs` has the rest).
pub(crate) struct Kafka;

pub(crate) type KafkaTask = Retrying<Kafka>;

impl LinkError for KafkaLinkError {
    fn is_configuration(&self) -> bool {
        KafkaLinkError::is_configuration(self)
    }

    fn is_auth(&self) -> bool {
        KafkaLinkError::is_auth(self)
    }
}

impl BrokerLink for Kafka {
    type Link = Cluster;
    type Error = KafkaLinkError;
    const CONNECTION: &'static str = "a Kafka connection";

    async fn open(task: &KafkaTask, url: &str) -> Result<Cluster, KafkaLinkError> {
        Cluster::open(&task.profile, url).await
    }

    async fn session(
        task: &mut KafkaTask,
        cluster: Cluster,
        ever_up: &mut bool,
    ) -> Ended<KafkaLinkError> {
        task.session(cluster, ever_up).await
    }

    async fn send(profile: ConnectionProfile, message: WireMessage, mode: SendMode) -> SendOutcome {
        super::send::send(&profile, message, mode).await
    }

    async fn run_job(profile: ConnectionProfile, job: JobSpec, progress: Arc<JobProgress>) {
        super::send::run_job(profile, job, progress).await
    }
}

/// What one monitoring session keeps.
struct Watch {
    reading: Reading,
    /// Pattern -> its matcher, or why it has none.
    patterns: Vec<(SubscriptionSpec, Result<TopicMatcher, BadTopicPattern>)>,
    /// Partitions being read, and the broker reading each.
    assigned: HashMap<TopicPartition, i32>,
    /// Partitions to read once they have a leader, from this offset.
    homeless: HashMap<TopicPartition, i64>,
    fetchers: HashMap<i32, mpsc::UnboundedSender<Assign>>,
    tasks: Vec<JoinHandle<()>>,
    out: mpsc::Sender<Fetched>,
    ends: Ends,
    /// Each group's last commit seen, by (group, topic, partition).
    commits: HashMap<(String, String, i32), (i64, i64)>,
    /// Partitions read `--since` a time, until their first record at or
    /// after it: the offset a broker gives for a time is checked, not
    /// trusted (tansu answers a time with the log's start).
    since: HashMap<TopicPartition, i64>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl KafkaTask {
    fn show_subscriptions(&self, watch: &Watch) {
        let states = watch
            .patterns
            .iter()
            .map(|(spec, matcher)| SubscriptionState {
                pattern: spec.pattern.clone(),
                queue_group: None,
                active: matcher.is_ok(),
                error: matcher.as_ref().err().map(ToString::to_string),
            })
            .collect();
        self.shared.update(|s| s.subscriptions = states);
    }

    async fn session(&mut self, mut cluster: Cluster, ever_up: &mut bool) -> Ended<KafkaLinkError> {
        let (out, mut fetched) = mpsc::channel(8);
        let mut watch = Watch {
            reading: Reading::new(
                self.key,
                self.shared.clone(),
                self.sink.clone(),
                self.profile.subscription_capacity.unwrap_or(usize::MAX),
            ),
            patterns: Vec::new(),
            assigned: HashMap::new(),
            homeless: HashMap::new(),
            fetchers: HashMap::new(),
            tasks: Vec::new(),
            out,
            ends: Ends::default(),
            commits: HashMap::new(),
            since: HashMap::new(),
        };
        for spec in self.profile.subscriptions.clone() {
            watch.add_pattern(spec);
        }
        if let Err(e) = watch.assign_matching(&mut cluster, None).await {
            return Ended::Broken(e);
        }
        self.show_subscriptions(&watch);
        watch.tasks.push(tokio::spawn(poll_groups(
            self.profile.clone(),
            cluster.bootstrap().next().unwrap_or_default(),
            watch.out.clone(),
            watch.ends.clone(),
        )));
        *ever_up = true;
        self.sink.link_came_up(self.key, &self.shared).await;
        let tx = self.sink.tx.clone();
        let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
        let ended = loop {
            tokio::select! {
                biased;
                room = tx.reserve(), if !watch.reading.ready.is_empty() => match room {
                    Ok(room) => watch.reading.send_with(room),
                    Err(_) => break Ended::Closed,
                },
                got = fetched.recv(), if watch.reading.ready.is_empty() => match got {
                    Some(Fetched::Records(records)) => watch.records(records),
                    Some(Fetched::Commits(commits)) => watch.group_commits(commits),
                    Some(Fetched::Moved { partition, next }) => {
                        watch.assigned.remove(&partition);
                        watch.homeless.insert(partition, next);
                        if let Err(e) = watch.refresh(&mut cluster).await {
                            break Ended::Broken(e);
                        }
                    }
                    Some(Fetched::Lost { count, why }) => {
                        self.shared.add_unread(count);
                        self.shared.push_error(why);
                    }
                    Some(Fetched::GroupsFailed(why)) => self.shared.push_error(why),
                    Some(Fetched::Failed { node, error, positions }) => {
                        // Read on from where it stood, wherever the
                        // leaders are now; the link to the cluster itself
                        // must still answer.
                        self.shared.push_error(format!("reading from broker {node} stopped, resuming: {error}"));
                        watch.fetchers.remove(&node);
                        for (partition, next) in positions {
                            watch.assigned.remove(&partition);
                            watch.homeless.insert(partition, next);
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if let Err(e) = watch.refresh(&mut cluster).await {
                            break Ended::Broken(e);
                        }
                    }
                    None => break Ended::Closed,
                },
                _ = refresh.tick() => {
                    if let Err(e) = watch.refresh(&mut cluster).await {
                        break Ended::Broken(e);
                    }
                }
                command = self.commands.recv() => match command {
                    None | Some(Command::Close) => break Ended::Closed,
                    Some(Command::Subscribe { spec, .. }) => {
                        if self.profile.subscriptions.iter().any(|s| s.pattern == spec.pattern) {
                            continue;
                        }
                        self.profile.subscriptions.push(spec.clone());
                        watch.add_pattern(spec);
                        let added = watch.assign_matching(&mut cluster, None).await;
                        self.show_subscriptions(&watch);
                        if let Err(e) = added {
                            break Ended::Broken(e);
                        }
                    }
                    Some(Command::Unsubscribe { pattern }) => {
                        self.profile.subscriptions.retain(|s| s.pattern != pattern);
                        watch.patterns.retain(|(s, _)| s.pattern != pattern);
                        watch.unassign_unmatched();
                        self.show_subscriptions(&watch);
                    }
                    Some(Command::InjectPanic) => panic!("a panic injected by a test"),
                    Some(other) => self.spawn_send(other),
                },
            }
        };
        watch.reading.finish_batch();
        while !watch.reading.ready.is_empty() {
            match tx.reserve().await {
                Ok(room) => watch.reading.send_with(room),
                Err(_) => return Ended::Closed,
            }
        }
        ended
    }
}

impl Watch {
    fn add_pattern(&mut self, spec: SubscriptionSpec) {
        let matcher = TopicMatcher::new(&spec.pattern);
        self.patterns.push((spec, matcher));
    }

    /// The first subscription that reads `topic`.
    fn reader_of(&self, topic: &str) -> Option<&SubscriptionSpec> {
        self.patterns
            .iter()
            .find(|(_, m)| m.as_ref().is_ok_and(|m| m.matches(topic)))
            .map(|(spec, _)| spec)
    }

    /// Read every partition of a matching topic not read yet: from where
    /// its subscription says, or (`new_from`) from this offset, for
    /// topics and partitions made after the session began.
    async fn assign_matching(
        &mut self,
        cluster: &mut Cluster,
        new_from: Option<i64>,
    ) -> Result<(), KafkaLinkError> {
        let mut wanted = Vec::new();
        for (topic, partitions) in &cluster.topics {
            let Some(spec) = self.reader_of(topic) else {
                continue;
            };
            for p in partitions {
                let key: TopicPartition = (Arc::from(topic.as_str()), p.partition);
                if !self.assigned.contains_key(&key) && !self.homeless.contains_key(&key) {
                    wanted.push((key, new_from.map_or(spec.read_from, ReadFrom::Offset)));
                }
            }
        }
        for ((topic, partition), from) in wanted {
            let offset = start_offset(cluster, &topic, partition, from).await?;
            if let ReadFrom::Since(ms) = from {
                self.since.insert((topic.clone(), partition), ms);
            }
            self.homeless.insert((topic, partition), offset);
        }
        self.place_homeless(cluster).await
    }

    /// Hand each partition waiting for a leader to its leader's fetcher.
    async fn place_homeless(&mut self, cluster: &mut Cluster) -> Result<(), KafkaLinkError> {
        let mut by_node: HashMap<i32, Vec<(TopicPartition, i64)>> = HashMap::new();
        for ((topic, partition), offset) in std::mem::take(&mut self.homeless) {
            match cluster.leader(&topic, partition) {
                Some(node) => by_node
                    .entry(node)
                    .or_default()
                    .push(((topic, partition), offset)),
                None => {
                    self.homeless.insert((topic, partition), offset);
                }
            }
        }
        for (node, list) in by_node {
            if self.fetchers.get(&node).is_none_or(|f| f.is_closed()) {
                let conn = cluster.open_node(node).await?;
                let (tx, rx) = mpsc::unbounded_channel();
                self.tasks.push(tokio::spawn(fetcher::run(
                    conn,
                    node,
                    rx,
                    self.out.clone(),
                    self.ends.clone(),
                )));
                self.fetchers.insert(node, tx);
            }
            for (key, _) in &list {
                self.assigned.insert(key.clone(), node);
            }
            if let Some(fetcher) = self.fetchers.get(&node) {
                let _ = fetcher.send(Assign::Add(list));
            }
        }
        Ok(())
    }

    /// Topics and leaders again: new topics and partitions are read from
    /// their start (all of it was written after the session began).
    async fn refresh(&mut self, cluster: &mut Cluster) -> Result<(), KafkaLinkError> {
        cluster.refresh().await?;
        self.place_homeless(cluster).await?;
        self.assign_matching(cluster, Some(0)).await
    }

    fn unassign_unmatched(&mut self) {
        let gone: HashSet<Arc<str>> = self
            .assigned
            .keys()
            .filter(|(topic, _)| self.reader_of(topic).is_none())
            .map(|(topic, _)| topic.clone())
            .collect();
        for topic in gone {
            self.assigned.retain(|(t, _), _| *t != topic);
            self.homeless.retain(|(t, _), _| *t != topic);
            for fetcher in self.fetchers.values() {
                let _ = fetcher.send(Assign::Remove(topic.clone()));
            }
        }
    }

    fn records(&mut self, records: Vec<(TopicPartition, kafka_protocol::records::Record)>) {
        let now = now_timestamp();
        for (key, record) in records {
            if !self.since.is_empty()
                && let Some(since) = self.since.get(&key)
            {
                if record.timestamp < *since {
                    continue;
                }
                self.since.remove(&key);
            }
            let (topic, partition) = key;
            let parts = parts_of(&record, partition);
            self.reading.message(
                now,
                &Incoming {
                    subject: topic.as_bytes(),
                    reply: parts.reply.as_deref().map(str::as_bytes),
                    headers: parts.headers.as_deref(),
                    fields: &parts.fields,
                    payload: record.value.as_deref().unwrap_or_default(),
                },
            );
        }
        self.reading.finish_batch();
    }

    /// Commits that moved (or whose partition grew) since the last poll,
    /// each a record on `__consumer_offsets`.
    fn group_commits(&mut self, commits: Vec<GroupCommit>) {
        let now = now_timestamp();
        for commit in commits {
            let key = (commit.group.clone(), commit.topic.clone(), commit.partition);
            let seen = (commit.committed, commit.end);
            if self.commits.insert(key, seen) == Some(seen) {
                continue;
            }
            let payload = serde_json::json!({
                "group": commit.group,
                "topic": commit.topic,
                "partition": commit.partition,
                "committed": commit.committed,
                "end": commit.end,
                "lag": commit.lag(),
            })
            .to_string();
            let fields = KafkaFields {
                partition: Some(commit.partition),
                commit: Some(commit),
                ..KafkaFields::default()
            };
            let fields = serde_json::to_string(&fields).unwrap_or_default();
            self.reading.message(
                now,
                &Incoming {
                    subject: KAFKA_COMMITS_TOPIC.as_bytes(),
                    reply: None,
                    headers: None,
                    fields: &fields,
                    payload: payload.as_bytes(),
                },
            );
        }
        self.reading.finish_batch();
    }
}

/// Where a partition's reading starts.
async fn start_offset(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    from: ReadFrom,
) -> Result<i64, KafkaLinkError> {
    Ok(match from {
        ReadFrom::End => cluster.end_offset(topic, partition).await?,
        ReadFrom::Beginning => cluster.offset_at(topic, partition, -2).await?.unwrap_or(0),
        ReadFrom::Offset(n) if n >= 0 => n,
        ReadFrom::Offset(back) => {
            let start = cluster.offset_at(topic, partition, -2).await?.unwrap_or(0);
            (cluster.end_offset(topic, partition).await? + back).max(start)
        }
        ReadFrom::Since(ms) => match cluster.offset_at(topic, partition, ms).await? {
            Some(offset) => offset,
            None => cluster.end_offset(topic, partition).await?,
        },
    })
}

/// Poll every group's commits on a cluster link of its own; a failure is
/// said once (a user may not be allowed to list groups) and tried again.
async fn poll_groups(
    profile: ConnectionProfile,
    first: String,
    out: mpsc::Sender<Fetched>,
    ends: Ends,
) {
    let mut cluster = None;
    let mut said = false;
    let mut tick = tokio::time::interval(GROUP_POLL);
    loop {
        tick.tick().await;
        if cluster.is_none() {
            cluster = Cluster::open(&profile, &first).await.ok();
        }
        let Some(c) = cluster.as_mut() else { continue };
        match c.commits(&ends).await {
            Ok(commits) => {
                said = false;
                if out.send(Fetched::Commits(commits)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                cluster = None;
                if !said {
                    said = true;
                    let why = format!("consumer groups cannot be read, so no lag is shown: {e}");
                    if out.send(Fetched::GroupsFailed(why)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
