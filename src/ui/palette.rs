//! The colours every view shares for what a message or a request came to:
//! published, settled well, retried or slow, failed. One place, so that
//! "red" means the same in the flows, the streams and the KV views.

use egui::Color32;

pub const PUBLISH: Color32 = Color32::from_rgb(100, 150, 255);
pub const GOOD: Color32 = Color32::from_rgb(110, 200, 110);
pub const RETRY: Color32 = Color32::from_rgb(240, 150, 60);
pub const BAD: Color32 = Color32::from_rgb(235, 85, 80);
