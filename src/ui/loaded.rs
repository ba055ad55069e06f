//! What a view holds of something fetched in the background: the value,
//! whether a fetch runs, the last error; shared by every view that asks.

/// Something fetched: its value, whether a fetch is running, the last error.
#[derive(Debug)]
pub struct Loaded<T> {
    pub value: Option<T>,
    pub loading: bool,
    pub error: Option<String>,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Self {
            value: None,
            loading: false,
            error: None,
        }
    }
}

impl<T> Loaded<T> {
    /// Take an answer: the value, or the error beside the old value.
    pub fn answer(&mut self, result: Result<T, String>) {
        self.loading = false;
        match result {
            Ok(v) => {
                self.value = Some(v);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// For data polled again and again: the spinner only until the first
    /// value (a spinner line coming and going would move what is below
    /// it), the error always.
    pub fn first_status_ui(&self, ui: &mut egui::Ui) {
        if self.loading && self.value.is_none() {
            ui.spinner();
        }
        if let Some(e) = &self.error {
            ui.colored_label(crate::ui::palette::of(ui).bad, e);
        }
    }

    /// The spinner or the error, on one line.
    pub fn status_ui(&self, ui: &mut egui::Ui) {
        if self.loading {
            ui.spinner();
        }
        if let Some(e) = &self.error {
            ui.colored_label(crate::ui::palette::of(ui).bad, e);
        }
    }
}
