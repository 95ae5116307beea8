//! Events at the edge: each app's events received at `POST /events/{app_id}`
//! (store-app mode's at `/feishu/events` too), checked as Feishu's callbacks
//! are checked (`receive`), recorded once by the app's event log object
//! (`record`, duplicates by `event_id` and a received message's `message_id`
//! dropped across isolates), acknowledged at once, and pushed to the app's
//! handlers (`EVENT_SUBSCRIBERS`) in Feishu's own format (`push`), retried
//! with backoff for 72 hours (`log`, the object's alarm), or pulled by bots
//! that cannot expose a URL (`pull`); card callbacks answered at once (`card`).

pub mod log;
pub mod push;
pub mod recent;

#[cfg(target_arch = "wasm32")]
pub mod card;
#[cfg(target_arch = "wasm32")]
pub mod dead;
#[cfg(target_arch = "wasm32")]
pub mod handler;
#[cfg(target_arch = "wasm32")]
pub mod pull;
#[cfg(target_arch = "wasm32")]
pub mod receive;
#[cfg(target_arch = "wasm32")]
pub mod record;

/// The event log's questions (to its object only).
pub const RECORD_PATH: &str = "/events/record";
pub const PULL_PATH: &str = "/events/pull";
pub const DEAD_PATH: &str = "/events/dead";
pub const REPLAY_PATH: &str = "/events/replay";

/// The object keeping `app_id`'s events under `brand`.
pub fn object_name(brand: &str, app_id: &str) -> String {
    format!("events:v1:{brand}:{app_id}")
}

/// Feishu's acknowledgement: any 200.
#[cfg(target_arch = "wasm32")]
pub fn ack() -> worker::Result<worker::Response> {
    crate::http::reply::json_response(200, r#"{"code":0,"msg":"ok"}"#.to_owned())
}
