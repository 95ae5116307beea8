//! The Worker's log: one JSON object per line, never a token, a secret or a
//! value a caller controls (but the path's route name).

use serde::Serialize;
use worker::{console_log, console_warn};

/// `{"event": ..., "error": ...}` at warning level.
pub fn warn(event: &'static str, error: &str) {
    #[derive(Serialize)]
    struct Line<'a> {
        event: &'static str,
        error: &'a str,
    }
    console_warn!("{}", json(&Line { event, error }));
}

/// One line at info level.
pub fn info(line: &impl Serialize) {
    console_log!("{}", json(line));
}

/// A struct of strings and numbers as JSON; that cannot fail.
pub fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One line at warning level.
pub fn warn_line(line: &impl Serialize) {
    console_warn!("{}", json(line));
}
