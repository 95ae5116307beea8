//! An event recorded once: the app's event log object (class `EventLog`,
//! binding `EVENT_LOGS`, named `events:v1:<brand>:<app_id>`) numbers it,
//! drops it when its `event_id` (or a received message's `message_id`) was
//! seen in the last 72 hours, and pushes it to the app's handlers. Feishu
//! gets its 200 once the event is recorded (or known): the handlers' work is
//! the object's, later. The object unreachable: 503, so Feishu delivers the
//! event again (nothing lost).

use crate::cache::ask::Want;
use crate::config::Config;
use crate::coordinator::EVENT_LOG_BINDING;
use crate::coordinator::ask::{post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::events::{RECORD_PATH, ack, object_name};
use crate::http::reply::{self, Local};
use crate::log;
use core::cell::Cell;
use feishu_tenant_token::SerdeJson;
use feishu_tenant_token::event::{Received, identity};
use serde::{Deserialize, Serialize};
use worker::{Env, Response, Result};

/// What the front tells the log of one event.
#[derive(Serialize, Deserialize)]
pub struct Arrived {
    pub app_id: String,
    pub brand: String,
    pub event_id: String,
    pub event_type: String,
    #[serde(default)]
    pub message_id: Option<String>,
    pub plaintext: String,
}

thread_local! {
    static WARNED_UNBOUND: Cell<bool> = const { Cell::new(false) };
}

/// Records `received` (a checked event of `app_id`) and acknowledges it.
pub async fn record(
    env: &Env,
    config: &Config,
    app_id: &str,
    received: &Received,
) -> Result<Response> {
    let Some(id) = identity(&SerdeJson, &received.plaintext) else {
        log::warn(
            "event_without_id",
            "an event with no event_id or type: acknowledged, not kept",
        );
        return ack();
    };
    let Ok(ns) = env.durable_object(EVENT_LOG_BINDING) else {
        if !WARNED_UNBOUND.with(|w| w.replace(true)) {
            log::warn(
                "events_not_kept",
                "events are acknowledged but neither kept nor delivered: bind EVENT_LOGS (class EventLog: see wrangler.toml)",
            );
        }
        return ack();
    };
    let arrived = Arrived {
        app_id: app_id.to_owned(),
        brand: config.brand.name().to_owned(),
        event_id: id.event_id,
        event_type: id.event_type,
        message_id: id.message_id,
        plaintext: received.plaintext.clone(),
    };
    let body = serde_json::to_string(&arrived).unwrap_or_default();
    let stub = match stub(&ns, &object_name(config.brand.name(), app_id)) {
        Ok(s) => s,
        Err(why) => return unavailable(&why),
    };
    match post(
        &stub,
        &format!("{OBJECT_ORIGIN}{RECORD_PATH}"),
        &body,
        Want::Servable,
    )
    .await
    {
        Ok(a) if a.status == 200 => {
            #[derive(Serialize)]
            struct Line<'a> {
                event: &'static str,
                app: &'a str,
                event_type: &'a str,
                outcome: &'a str,
            }
            // One line per event, as per request: `LOG_REQUESTS` governs both.
            if config.log_requests {
                log::info(&Line {
                    event: "event_received",
                    app: app_id,
                    event_type: &arrived.event_type,
                    outcome: &a.body,
                });
            }
            ack()
        }
        Ok(a) => unavailable(&format!("the event log answered HTTP {}", a.status)),
        Err(e) => unavailable(&e.to_string()),
    }
}

fn unavailable(why: &str) -> Result<Response> {
    log::warn("event_log_failed", why);
    reply::local(
        Local::EventLogUnavailable,
        "the event could not be recorded; Feishu delivers it again",
    )
}
