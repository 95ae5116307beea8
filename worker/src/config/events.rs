//! Events at the edge (`events/`): each app's callback checks (store-app
//! mode's from its settings; a self-built app's `encrypt_key` and
//! `verification_token` in its `SELF_BUILT_APPS` entry) and where its events
//! go (`EVENT_SUBSCRIBERS`). Pure.

use crate::config::Brand;
use feishu_tenant_token::event::EventConfig;
use serde_json::Value;

/// Most subscribers per app, and event types per subscriber.
pub const MAX_SUBSCRIBERS: usize = 10;
const MAX_TYPES: usize = 100;

/// The events settings: the apps received and their handlers.
#[derive(Clone, Debug, Default)]
pub struct Events {
    pub apps: Vec<AppEvents>,
    pub subscribers: Vec<(String, Vec<Subscriber>)>,
    /// How long a handler that fails is retried, from the event's arrival
    /// (`EVENT_RETRY_SECS`, default and at most 72 hours): then a dead letter.
    pub retry_ms: u64,
}

impl Events {
    /// `app_id`'s checks, when the Worker receives its events under `brand`.
    pub fn app(&self, app_id: &str, brand: Brand) -> Option<&AppEvents> {
        self.apps
            .iter()
            .find(|a| a.app_id == app_id && a.brand == brand)
    }

    /// `app_id`'s handlers (none: its events are kept, not pushed).
    pub fn subscribers(&self, app_id: &str) -> &[Subscriber] {
        self.subscribers
            .iter()
            .find(|(a, _)| a == app_id)
            .map_or(&[], |(_, s)| s)
    }
}

/// An app whose events the Worker receives.
#[derive(Clone, Debug)]
pub struct AppEvents {
    pub app_id: String,
    pub brand: Brand,
    pub check: EventConfig,
}

/// Where an app's events are pushed: the handler's URL, and the event types
/// it takes (`None`: every one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriber {
    pub url: String,
    pub types: Option<Vec<String>>,
}

impl Subscriber {
    pub fn takes(&self, event_type: &str) -> bool {
        self.types
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == event_type))
    }
}

/// Whether `url` may receive events: https, or http to this machine (tests,
/// `make dev`).
fn deliverable(url: &str) -> bool {
    let plain = url.len() <= 2048 && url.bytes().all(|b| b.is_ascii_graphic());
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
        });
    plain && (url.starts_with("https://") || loopback)
}

/// `EVENT_SUBSCRIBERS`: `{"cli_a": ["https://bot.example/feishu", {"url":
/// "...", "types": ["im.message.receive_v1"]}]}`. Errors name the app and
/// the place.
pub fn parse_subscribers(text: &str) -> Result<Vec<(String, Vec<Subscriber>)>, String> {
    let bad = |why: String| format!("EVENT_SUBSCRIBERS: {why}");
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(bad(
            "a JSON object of app ids to lists of handler URLs, e.g. {\"cli_a\": [\"https://bot.example/feishu\"]}".to_owned(),
        ));
    };
    let mut out = Vec::with_capacity(map.len());
    for (app, list) in map {
        let Value::Array(items) = list else {
            return Err(bad(format!("{app}: a list of handlers")));
        };
        if items.is_empty() || items.len() > MAX_SUBSCRIBERS {
            return Err(bad(format!("{app}: 1 to {MAX_SUBSCRIBERS} handlers")));
        }
        let mut subs = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let (url, types) = match item {
                Value::String(u) => (u, None),
                Value::Object(mut o) => {
                    let url = match o.remove("url") {
                        Some(Value::String(u)) => u,
                        _ => return Err(bad(format!("{app}[{i}].url is missing"))),
                    };
                    let types = match o.remove("types") {
                        None | Some(Value::Null) => None,
                        Some(Value::Array(t)) if !t.is_empty() && t.len() <= MAX_TYPES => Some(
                            t.into_iter()
                                .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                                .collect::<Option<Vec<_>>>()
                                .ok_or_else(|| {
                                    bad(format!("{app}[{i}].types: event type names"))
                                })?,
                        ),
                        Some(_) => {
                            return Err(bad(format!(
                                "{app}[{i}].types: 1 to {MAX_TYPES} event type names"
                            )));
                        }
                    };
                    if let Some(k) = o.keys().next() {
                        return Err(bad(format!(
                            "{app}[{i}]: unknown field {k:?} (fields: url, types)"
                        )));
                    }
                    (url, types)
                }
                _ => return Err(bad(format!("{app}[{i}]: a URL or {{\"url\", \"types\"}}"))),
            };
            if !deliverable(&url) {
                return Err(bad(format!(
                    "{app}[{i}]: an https:// URL (http:// only to this machine)"
                )));
            }
            subs.push(Subscriber { url, types });
        }
        out.push((app, subs));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_by_url_or_with_types() {
        let s = parse_subscribers(
            r#"{"cli_a": ["https://bot.example/feishu", {"url": "http://127.0.0.1:9/x", "types": ["im.message.receive_v1"]}]}"#,
        )
        .unwrap();
        assert_eq!(s[0].0, "cli_a");
        let [all, some] = &s[0].1[..] else { panic!() };
        assert!(all.takes("anything"));
        assert!(some.takes("im.message.receive_v1") && !some.takes("card.action.trigger"));
    }

    #[test]
    fn refusals_name_the_place() {
        for (text, names) in [
            ("[]", "JSON object"),
            (r#"{"cli_a": []}"#, "cli_a: 1 to"),
            (
                r#"{"cli_a": ["http://bot.example/x"]}"#,
                "cli_a[0]: an https://",
            ),
            (
                r#"{"cli_a": ["http://127.0.0.1.evil.example/x"]}"#,
                "cli_a[0]",
            ),
            (
                r#"{"cli_a": [{"url": "https://a", "typez": []}]}"#,
                "\"typez\"",
            ),
            (
                r#"{"cli_a": [{"url": "https://a", "types": ["x"], "retry": 1}]}"#,
                "unknown field",
            ),
            (r#"{"cli_a": [5]}"#, "cli_a[0]"),
        ] {
            let e = parse_subscribers(text).unwrap_err();
            assert!(e.contains(names), "{text}: {e}");
        }
    }
}
