//! The Search view's work: a query parsed and run on the search thread
//! over what the store retains, fed a slice per frame; the matching
//! message inspected beside the results; saved searches kept between
//! runs.

use std::time::Duration;

use super::EventscopeApp;
use crate::search::{SavedSearch, SearchRun};
use crate::ui::{SearchAction, SearchShown, inspector_ui, search_ui};

pub(super) const SAVED_SEARCHES_KEY: &str = "eventscope.saved_searches";

/// Records handed to the search thread per frame: cloning them costs
/// about a millisecond, far less than searching them.
const FEED_PER_FRAME: usize = 50_000;

/// Flows drawn in one followed diagram at most.
const MAX_FOLLOWED: usize = 40;

#[derive(Default)]
pub(super) struct SearchWork {
    pub view: crate::ui::SearchView,
    run: Option<SearchRun>,
    /// What a Follow searched for, to title its diagram.
    following: Option<String>,
}

impl EventscopeApp {
    /// Each frame: the running search its next slice.
    pub(super) fn search_step(&mut self, ctx: &egui::Context) {
        let Some(run) = &mut self.search.run else {
            return;
        };
        run.feed(&self.session.store, FEED_PER_FRAME);
        if run.is_running() {
            ctx.request_repaint_after(Duration::from_millis(16));
        }
    }

    pub(super) fn search_view_ui(&mut self, ui: &mut egui::Ui) {
        let store = &self.session.store;
        let asked = egui::Panel::right("search-inspector")
            .resizable(true)
            .default_size(crate::ui::side_default(ui, 420.0))
            .size_range(crate::ui::side_range(ui))
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        inspector_ui(ui, &mut self.inspector, store, self.search.view.selected)
                    })
                    .inner
            })
            .inner;
        self.on_inspector_action(asked);
        let store = &self.session.store;
        let work = &mut self.search;
        let action = egui::CentralPanel::default().show(ui, |ui| {
            let progress = work.run.as_ref().map(|r| (r.progress(), r.total));
            let shown = progress.as_ref().map(|(p, total)| SearchShown {
                progress: p,
                total: *total,
                running: !p.done && !p.cancelled,
            });
            search_ui(ui, &mut work.view, store, shown)
        });
        let action = action.inner;
        let Some(action) = action else {
            return;
        };
        match action {
            SearchAction::Run => {
                self.search.following = None;
                self.start_search();
            }
            SearchAction::Cancel => {
                if let Some(run) = &mut self.search.run {
                    run.cancel();
                }
            }
            SearchAction::Save(name) => {
                let view = &mut self.search.view;
                view.saved.retain(|s| s.name != name);
                view.saved.push(SavedSearch {
                    name,
                    query: view.input.clone(),
                });
                view.save_name.clear();
            }
            SearchAction::Forget(i) => {
                self.search.view.saved.remove(i);
            }
            SearchAction::RunSaved(i) => {
                if let Some(saved) = self.search.view.saved.get(i) {
                    self.search.view.input = saved.query.clone();
                    self.start_search();
                }
            }
            SearchAction::Diagram => self.matches_as_diagram(),
            SearchAction::NarrowTo(subject) => {
                self.search.view.input.subject = subject;
                self.start_search();
            }
        }
    }

    /// Screenshot mode on the Search view: once enough traffic has come,
    /// search for `--search-json` and select the newest match.
    pub(super) fn drive_search_screenshot(&mut self) {
        let Some(test) = self
            .screenshot
            .as_ref()
            .filter(|_| self.view == crate::ui::View::Search)
            .and_then(|p| p.search_json.clone())
        else {
            return;
        };
        let waiting = match &self.search.run {
            None => {
                if self.session.store.len() >= 150 {
                    self.search.view.input.json = test;
                    self.start_search();
                }
                true
            }
            Some(run) if run.is_running() => true,
            Some(run) => {
                let newest = run.progress().matches.last().copied();
                self.search.view.selected = newest;
                newest.is_none()
            }
        };
        if let Some(plan) = &mut self.screenshot {
            plan.app_waiting = waiting;
        }
    }

    /// Follow one event: every message carrying `value` (in headers or
    /// payload), found by a search; its flows drawn as one diagram from
    /// there.
    pub(super) fn follow(&mut self, what: String, value: String) {
        self.search.view.input = crate::search::QueryInput {
            text: value.clone(),
            ..Default::default()
        };
        self.search.following = Some(format!("{what} {value}"));
        self.start_search();
        self.view = crate::ui::View::Search;
    }

    /// The flows the search's matches belong to, in time order, shown as
    /// one diagram in the Flows view.
    fn matches_as_diagram(&mut self) {
        let Some(run) = &self.search.run else {
            return;
        };
        let seqs: std::collections::HashSet<crate::capture::Seq> =
            run.progress().matches.iter().copied().collect();
        let store = &self.session.store;
        let times: Vec<i64> = seqs
            .iter()
            .filter_map(|s| store.get(*s).map(|r| r.received_at))
            .collect();
        let (Some(from), Some(to)) = (times.iter().min(), times.iter().max()) else {
            return;
        };
        // A flow starts at or before its records; a minute covers retries.
        let ids: Vec<crate::flow::FlowId> = self
            .session
            .flows
            .started_within(from - 60_000_000_000, to + 1)
            .filter(|f| {
                f.first_record.is_some_and(|r| seqs.contains(&r))
                    || f.detail()
                        .steps
                        .iter()
                        .any(|s| s.record.is_some_and(|r| seqs.contains(&r)))
            })
            .map(|f| f.id)
            .take(MAX_FOLLOWED)
            .collect();
        if ids.is_empty() {
            self.say(crate::ui::Notice::problem(
                "none of these messages is in a flow that is still kept",
            ));
            return;
        }
        let what = self
            .search
            .following
            .clone()
            .unwrap_or_else(|| "the search's matches".into());
        self.flows.selected = ids.first().copied();
        self.flows.followed = Some((what, ids));
        self.view = crate::ui::View::Flows;
    }

    /// Parse the query and run it; a query that does not parse says why.
    pub fn start_search(&mut self) {
        let view = &mut self.search.view;
        let query = match view.input.parse(crate::capture::now_timestamp()) {
            Ok(q) => q,
            Err(e) => {
                view.error = Some(e.to_string());
                return;
            }
        };
        view.error = None;
        view.selected = None;
        view.previews.set_schemas(self.inspector.schemas.clone());
        match SearchRun::start(query, self.inspector.schemas.clone(), &self.session.store) {
            Ok(run) => self.search.run = Some(run),
            Err(e) => self.search.view.error = Some(format!("cannot start the search: {e}")),
        }
    }
}
