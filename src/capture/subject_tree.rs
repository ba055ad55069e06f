//! Subject tree: one node per token (`orders` > `created`) with message and
//! byte counts, last-seen time and per-second rates, aggregated up the tree.
//!
//! Counts are of everything seen since the last clear, not only of what the
//! store still retains. High-cardinality branches (`_INBOX.<id>.<n>`,
//! `$JS.ACK.<stream>.<consumer>.<n>…`) are collapsed into one `>` node, and
//! a node never gets more than [`MAX_CHILDREN`] children (the rest are
//! counted in an overflow node), so the tree stays small under any traffic.

use foldhash::{HashMap, HashMapExt};

use super::record::Timestamp;

pub type NodeId = u32;

pub const ROOT: NodeId = 0;
/// Children per node before new tokens are folded into [`OVERFLOW_NAME`].
pub const MAX_CHILDREN: usize = 2_000;
/// The node that holds every subject below a collapsed prefix.
pub const REST_NAME: &str = ">";
/// The node that holds subjects beyond a node's child cap.
pub const OVERFLOW_NAME: &str = "(other)";

/// Seconds of per-second history kept per node (for rates and plots).
pub const HISTORY_SECONDS: usize = 60;
/// Window over which `rate` averages, in whole seconds before the current one.
pub const RATE_WINDOW_SECONDS: i64 = 5;

/// Prefixes whose deeper tokens are unique per message (inboxes are new per
/// request or pull), and the depth at which they are collapsed into one node.
const COLLAPSE_AT: &[(&str, usize)] = &[("_INBOX", 1), ("$JS.ACK", 4), ("$JS.FC", 4)];

#[derive(Debug)]
pub struct Node {
    pub name: Box<str>,
    pub parent: NodeId,
    pub depth: u16,
    pub messages: u64,
    pub bytes: u64,
    pub last_seen: Timestamp,
    /// What joins this node's name to its children's: `.` for NATS
    /// subjects, `/` for MQTT topics.
    separator: char,
    /// A broker's own root (`MQTT topics`): its topics never mix
    /// with NATS subjects that share a first token, and paths start below it.
    pub broker_root: bool,
    children: HashMap<Box<str>, NodeId>,
    history: SecondRing,
}

impl Node {
    fn new(name: &str, parent: NodeId, depth: u16) -> Self {
        Self {
            name: name.into(),
            parent,
            depth,
            messages: 0,
            bytes: 0,
            last_seen: 0,
            separator: '.',
            broker_root: false,
            children: HashMap::new(),
            history: SecondRing::default(),
        }
    }

    pub fn child_count(&self) -> usize {
        self.children.len()
    }

    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

#[derive(Debug)]
pub struct SubjectTree {
    nodes: Vec<Node>,
    /// Changes whenever node ids stop meaning what they meant (a clear):
    /// views that keep ids across frames compare it before using them.
    generation: u64,
}

impl Default for SubjectTree {
    fn default() -> Self {
        Self::new()
    }
}

impl SubjectTree {
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::new("", ROOT, 0)],
            generation: 0,
        }
    }

    pub fn clear(&mut self) {
        let generation = self.generation + 1;
        *self = Self::new();
        self.generation = generation;
    }

    /// See the field: ids from an older generation are stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// Count one message on `subject` (a NATS subject) and all its
    /// ancestors.
    pub fn record(&mut self, subject: &str, bytes: usize, at: Timestamp) -> NodeId {
        self.record_split(subject, '.', bytes, at)
    }

    /// Count one message on a name whose levels `separator` splits (`/`
    /// for an MQTT topic).
    pub fn record_split(
        &mut self,
        subject: &str,
        separator: char,
        bytes: usize,
        at: Timestamp,
    ) -> NodeId {
        self.record_under(None, subject, separator, bytes, at)
    }

    /// Count one message of a broker whose names live under a root of
    /// their own (`root`: `MQTT topics`, `RabbitMQ exchanges`; `None` for
    /// NATS, at the top).
    pub fn record_under(
        &mut self,
        root: Option<&str>,
        subject: &str,
        separator: char,
        bytes: usize,
        at: Timestamp,
    ) -> NodeId {
        let start = match root {
            Some(name) => {
                let id = self.child(ROOT, name, '.');
                self.nodes[id as usize].broker_root = true;
                id
            }
            None => ROOT,
        };
        let leaf = self.find_or_insert(start, subject, separator);
        let second = at.div_euclid(1_000_000_000);
        let mut id = leaf;
        loop {
            let node = &mut self.nodes[id as usize];
            node.messages += 1;
            node.bytes += bytes as u64;
            node.last_seen = node.last_seen.max(at);
            node.history.add(second);
            if id == ROOT {
                break;
            }
            id = node.parent;
        }
        leaf
    }

    fn find_or_insert(&mut self, start: NodeId, subject: &str, separator: char) -> NodeId {
        let collapse_depth = COLLAPSE_AT
            .iter()
            .find(|(prefix, _)| {
                subject.starts_with(prefix) && subject.as_bytes().get(prefix.len()) == Some(&b'.')
            })
            .map(|&(_, depth)| depth);
        let mut id = start;
        for (depth, token) in subject.split(separator).enumerate() {
            let name = if collapse_depth == Some(depth) {
                REST_NAME
            } else {
                token
            };
            id = self.child(id, name, separator);
            let reached_rest = &*self.nodes[id as usize].name == REST_NAME
                || &*self.nodes[id as usize].name == OVERFLOW_NAME;
            if reached_rest {
                break;
            }
        }
        id
    }

    /// The child `name` of `parent`, made if new; `separator` joins the
    /// parent's name to it.
    fn child(&mut self, parent: NodeId, name: &str, separator: char) -> NodeId {
        if let Some(&id) = self.nodes[parent as usize].children.get(name) {
            return id;
        }
        self.nodes[parent as usize].separator = separator;
        let full = self.nodes[parent as usize].children.len() >= MAX_CHILDREN;
        let name = if full { OVERFLOW_NAME } else { name };
        if let Some(&id) = self.nodes[parent as usize].children.get(name) {
            return id;
        }
        let id = NodeId::try_from(self.nodes.len()).unwrap_or(NodeId::MAX);
        let depth = self.nodes[parent as usize].depth.saturating_add(1);
        self.nodes.push(Node::new(name, parent, depth));
        self.nodes[parent as usize].children.insert(name.into(), id);
        id
    }

    /// Children of a node sorted by name (for display; cost is per child).
    pub fn sorted_children(&self, id: NodeId) -> Vec<NodeId> {
        let mut children: Vec<NodeId> =
            self.nodes[id as usize].children.values().copied().collect();
        children.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
        children
    }

    /// At most `max` children for display: the busiest, sorted by name, and
    /// how many were left out. Linear in the child count, never sorting all.
    pub fn children_for_display(&self, id: NodeId, max: usize) -> (Vec<NodeId>, usize) {
        let mut children: Vec<NodeId> =
            self.nodes[id as usize].children.values().copied().collect();
        let hidden = children.len().saturating_sub(max);
        if hidden > 0 {
            children.select_nth_unstable_by(max, |a, b| {
                self.node(*b).messages.cmp(&self.node(*a).messages)
            });
            children.truncate(max);
        }
        children.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
        (children, hidden)
    }

    /// The dotted path of a node, e.g. `orders.created`.
    pub fn path(&self, id: NodeId) -> String {
        let mut tokens = Vec::new();
        let mut cur = id;
        let top = |cur: NodeId| cur == ROOT || self.node(cur).broker_root;
        while !top(cur) {
            let node = self.node(cur);
            tokens.push(&*node.name);
            cur = node.parent;
            if !top(cur) {
                tokens.push(if self.node(cur).separator == '/' {
                    "/"
                } else {
                    "."
                });
            }
        }
        tokens.reverse();
        tokens.concat()
    }

    /// The wildcard that stands for everything below a node.
    fn rest_below(&self, id: NodeId) -> &'static str {
        if self.node(id).separator == '/' {
            "/#"
        } else {
            ".>"
        }
    }

    /// A subscription-style pattern that selects what this node counts:
    /// the node itself and everything below it.
    pub fn filter_pattern(&self, id: NodeId) -> String {
        let node = self.node(id);
        if id == ROOT {
            return ">".to_owned();
        }
        if node.broker_root {
            return "#".to_owned();
        }
        if &*node.name == OVERFLOW_NAME || &*node.name == REST_NAME {
            let parent = self.path(node.parent);
            return if parent.is_empty() {
                ">".into()
            } else {
                format!("{parent}{}", self.rest_below(node.parent))
            };
        }
        // A branch stands for everything below it (`orders` -> `orders.>`,
        // `sensors` -> `sensors/#`), not for the one subject that happens
        // to equal its path.
        if !node.is_leaf() {
            return format!("{}{}", self.path(id), self.rest_below(id));
        }
        self.path(id)
    }

    /// Average msg/s over the last [`RATE_WINDOW_SECONDS`] complete seconds.
    pub fn rate(&self, id: NodeId, now: Timestamp) -> f64 {
        let now_sec = now.div_euclid(1_000_000_000);
        let node = self.node(id);
        let sum: u64 = (1..=RATE_WINDOW_SECONDS)
            .map(|back| u64::from(node.history.get(now_sec - back)))
            .sum();
        sum as f64 / RATE_WINDOW_SECONDS as f64
    }

    /// Messages per second for each of the last [`HISTORY_SECONDS`] complete
    /// seconds, oldest first, as (second, count).
    pub fn history(&self, id: NodeId, now: Timestamp) -> Vec<(i64, u32)> {
        let now_sec = now.div_euclid(1_000_000_000);
        let node = self.node(id);
        (1..=HISTORY_SECONDS as i64)
            .rev()
            .map(|back| (now_sec - back, node.history.get(now_sec - back)))
            .collect()
    }

    /// Leaf subjects with the highest current rate, best first.
    /// Walks every node: call it about once a second, not per frame.
    pub fn top_leaves(&self, now: Timestamp, n: usize) -> Vec<(NodeId, f64)> {
        let mut rates: Vec<(NodeId, f64)> = (1..self.nodes.len() as NodeId)
            .filter(|&id| self.node(id).is_leaf())
            .map(|id| (id, self.rate(id, now)))
            .filter(|&(_, r)| r > 0.0)
            .collect();
        rates.sort_by(|a, b| b.1.total_cmp(&a.1));
        rates.truncate(n);
        rates
    }
}

/// Per-second counts for the last [`HISTORY_SECONDS`] seconds, in a ring.
#[derive(Debug)]
struct SecondRing {
    counts: [u32; HISTORY_SECONDS],
    last_second: i64,
}

impl Default for SecondRing {
    fn default() -> Self {
        Self {
            counts: [0; HISTORY_SECONDS],
            last_second: i64::MIN,
        }
    }
}

impl SecondRing {
    fn add(&mut self, second: i64) {
        if second > self.last_second {
            let gap = second
                .saturating_sub(self.last_second)
                .min(HISTORY_SECONDS as i64);
            for back in 0..gap {
                self.counts[Self::slot(second - back)] = 0;
            }
            self.last_second = second;
        } else if self.last_second.saturating_sub(second) >= HISTORY_SECONDS as i64 {
            return; // older than the window: counted in totals only
        }
        let slot = Self::slot(second);
        self.counts[slot] = self.counts[slot].saturating_add(1);
    }

    fn get(&self, second: i64) -> u32 {
        if second > self.last_second
            || self.last_second.saturating_sub(second) >= HISTORY_SECONDS as i64
        {
            0
        } else {
            self.counts[Self::slot(second)]
        }
    }

    fn slot(second: i64) -> usize {
        second.rem_euclid(HISTORY_SECONDS as i64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn counts_aggregate_up_the_tree() {
        let mut tree = SubjectTree::new();
        tree.record("orders.created", 10, 100 * S);
        tree.record("orders.paid", 5, 100 * S);
        tree.record("billing", 1, 101 * S);
        let root = tree.node(ROOT);
        assert_eq!((root.messages, root.bytes), (3, 16));
        let orders = tree.sorted_children(ROOT)[1];
        assert_eq!(&*tree.node(orders).name, "orders");
        assert_eq!(tree.node(orders).messages, 2);
        assert_eq!(tree.node(orders).last_seen, 100 * S);
        let created = tree.sorted_children(orders)[0];
        assert_eq!(tree.path(created), "orders.created");
    }

    #[test]
    fn rate_uses_complete_seconds() {
        let mut tree = SubjectTree::new();
        for sec in 0..5 {
            for _ in 0..10 {
                tree.record("a", 1, (1000 + sec) * S);
            }
        }
        tree.record("a", 1, 1005 * S); // current, partial second: not counted
        assert_eq!(tree.rate(ROOT, 1005 * S + 1), 10.0);
        assert_eq!(tree.rate(ROOT, 2000 * S), 0.0);
        let hist = tree.history(ROOT, 1005 * S);
        assert_eq!(hist.last(), Some(&(1004, 10)));
    }

    #[test]
    fn unique_inbox_and_ack_subjects_collapse() {
        let mut tree = SubjectTree::new();
        for i in 0..100 {
            tree.record(&format!("_INBOX.abc.{i}"), 1, 0);
            tree.record(&format!("$JS.ACK.ORDERS.worker.1.{i}.{i}.17953.0"), 1, 0);
        }
        // root, _INBOX, >, $JS, ACK, ORDERS, worker, >
        assert_eq!(tree.len(), 8);
        let inbox = tree.sorted_children(ROOT)[1];
        let rest = tree.sorted_children(inbox)[0];
        assert_eq!(tree.node(rest).messages, 100);
        assert_eq!(tree.filter_pattern(rest), "_INBOX.>");
    }

    #[test]
    fn display_keeps_the_busiest_children() {
        let mut tree = SubjectTree::new();
        for i in 0..50 {
            for _ in 0..=i {
                tree.record(&format!("s.{i:02}"), 1, 0);
            }
        }
        let s = tree.sorted_children(ROOT)[0];
        let (shown, hidden) = tree.children_for_display(s, 3);
        let names: Vec<&str> = shown.iter().map(|&c| &*tree.node(c).name).collect();
        assert_eq!((names, hidden), (vec!["47", "48", "49"], 47));
    }

    #[test]
    fn child_cap_folds_into_overflow() {
        let mut tree = SubjectTree::new();
        for i in 0..MAX_CHILDREN + 50 {
            tree.record(&format!("dev.{i}.x"), 1, 0);
        }
        let dev = tree.sorted_children(ROOT)[0];
        assert_eq!(tree.node(dev).child_count(), MAX_CHILDREN + 1);
        let overflow = tree
            .sorted_children(dev)
            .into_iter()
            .find(|&c| &*tree.node(c).name == OVERFLOW_NAME)
            .expect("overflow node");
        assert_eq!(tree.node(overflow).messages, 50);
        assert_eq!(tree.filter_pattern(overflow), "dev.>");
        assert_eq!(
            tree.filter_pattern(dev),
            "dev.>",
            "a branch filters to all below it"
        );
    }

    #[test]
    fn each_broker_has_its_own_root_and_paths_start_below_it() {
        let mut tree = SubjectTree::new();
        let nats = tree.record("telemetry.2.temp", 1, 0);
        let amqp = tree.record_under(Some("RabbitMQ exchanges"), "telemetry/2.temp", '/', 1, 0);
        assert_ne!(
            tree.node(nats).parent,
            tree.node(amqp).parent,
            "never mixed"
        );
        assert_eq!(tree.path(nats), "telemetry.2.temp");
        assert_eq!(tree.path(amqp), "telemetry/2.temp");
        let exchange = tree.node(amqp).parent;
        assert_eq!(tree.filter_pattern(exchange), "telemetry/#");
        let root = tree.node(exchange).parent;
        assert!(tree.node(root).broker_root);
        assert_eq!(tree.node(root).messages, 1);
        assert_eq!(tree.filter_pattern(nats), "telemetry.2.temp");
    }

    #[test]
    fn clear_moves_to_a_new_generation() {
        let mut tree = SubjectTree::new();
        tree.record("a.b", 1, 0);
        // An MQTT topic splits on '/' and filters with its own wildcard.
        let temp = tree.record_split("sensors/1/temp", '/', 1, 0);
        assert_eq!(tree.path(temp), "sensors/1/temp");
        let sensors = tree.node(tree.node(temp).parent).parent;
        assert_eq!(tree.filter_pattern(sensors), "sensors/#");
        let before = tree.generation();
        tree.clear();
        assert_ne!(tree.generation(), before);
        assert_eq!(tree.len(), 1);
    }
}
