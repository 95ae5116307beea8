//! Pull, for bots that cannot expose a URL: `GET /v1/events?app_id=<id>
//! [&cursor=<c>][&group=<name>][&wait=<s>]` with an API key. JSON
//! `{"events": [...], "next_cursor": "..."}` from the app's event log: no
//! cursor, the oldest event kept (72 hours); with `wait`, the answer waits
//! up to that many seconds (at most 30) for an event. Instances in one
//! `group` share the events (the group's place is the log's: each event to
//! one of them); instances without a group each read everything, by their
//! own cursor. With `Accept: text/event-stream` the same events come as
//! Server-Sent Events (one `id:` per event, the cursor: a reconnecting
//! client's `Last-Event-ID` resumes after it), for up to five minutes.

use crate::cache::ask::Want;
use crate::config::Config;
use crate::coordinator::EVENT_LOG_BINDING;
use crate::coordinator::ask::ObjectStub;
use crate::coordinator::ask::{post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::events::{PULL_PATH, object_name};
use crate::http::query;
use crate::http::reply::{self, Local};
use crate::keys::api_keys::key_holder;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response, Result};

/// The longest a pull waits for an event.
pub const MAX_WAIT_SECS: u64 = 30;
/// Most events in one answer.
pub const MAX_EVENTS: usize = 100;
const MAX_GROUP_CHARS: usize = 64;

/// An agent key allowed to pull (`agents::events::reader`): its id (its
/// groups are its own: `agent:<id>:<group>`, so no agent moves a service's
/// group on) and the event types it may read.
pub struct Reader {
    pub key_id: String,
    pub types: Vec<String>,
}

/// What the front asks the log.
#[derive(Serialize, Deserialize)]
pub struct Pull {
    #[serde(default)]
    pub cursor: Option<u64>,
    /// Only these event types (an agent key's `events`); all when absent.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    #[serde(default)]
    pub group: Option<String>,
    pub wait_ms: u64,
}

/// The app's event log, for a caller holding an API key and naming an app
/// (`app_id`) whose events the Worker receives; else the refusal.
pub async fn app_log(
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<core::result::Result<ObjectStub, Response>> {
    if let Err(refusal) = key_holder(req, &config.api_keys)? {
        return Ok(Err(refusal));
    }
    log_of(req, env, config)
}

/// The event log of the app `req` names, once its caller is known.
fn log_of(
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<core::result::Result<ObjectStub, Response>> {
    let app_id = query::param(&req.inner().url(), "app_id").unwrap_or_default();
    if config.events.app(&app_id, config.brand).is_none() {
        return reply::local(
            Local::NotFound,
            "app_id: no app whose events the Worker receives here",
        )
        .map(Err);
    }
    let Ok(ns) = env.durable_object(EVENT_LOG_BINDING) else {
        return reply::local(
            Local::Misconfigured,
            "events are kept only with the EVENT_LOGS Durable Object binding (class EventLog: see wrangler.toml)",
        )
        .map(Err);
    };
    match stub(&ns, &object_name(config.brand.name(), &app_id)) {
        Ok(s) => Ok(Ok(s)),
        Err(why) => reply::local(Local::UpstreamUnreachable, &why).map(Err),
    }
}

/// `GET /v1/events`: `agent` for an agent key allowed to pull
/// (`agents::events::reader`), else the caller needs an API key.
pub async fn pull(
    req: Request,
    env: &Env,
    config: &Config,
    agent: Option<Reader>,
) -> Result<Response> {
    let stub = match &agent {
        Some(_) => log_of(&req, env, config)?,
        None => app_log(&req, env, config).await?,
    };
    let stub = match stub {
        Ok(s) => s,
        Err(refusal) => return Ok(refusal),
    };
    let url = req.inner().url();
    let cursor = match query::param(&url, "cursor") {
        None => None,
        Some(c) => match c.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return reply::local(
                    Local::InvalidField,
                    "cursor: the next_cursor of an earlier answer",
                );
            }
        },
    };
    let mut group = query::param(&url, "group");
    if group.as_ref().is_some_and(|g| {
        g.is_empty() || g.chars().count() > MAX_GROUP_CHARS || g.chars().any(char::is_control)
    }) {
        return reply::local(
            Local::InvalidField,
            "group: a name of 1 to 64 printable characters",
        );
    }
    if let (Some(g), Some(a)) = (&mut group, &agent) {
        *g = format!("agent:{}:{g}", a.key_id);
    }
    let types = agent.map(|a| a.types);
    let wait_secs = match query::param(&url, "wait") {
        None => 0,
        Some(w) => match w.parse::<u64>() {
            Ok(s) if s <= MAX_WAIT_SECS => s,
            _ => return reply::local(Local::InvalidField, "wait: whole seconds from 0 to 30"),
        },
    };
    let streamed = req
        .headers()
        .get("accept")?
        .is_some_and(|a| a.contains("text/event-stream"));
    if streamed {
        let last = req
            .headers()
            .get("last-event-id")?
            .and_then(|v| v.trim().parse().ok());
        return stream(stub, cursor.or(last), group, types);
    }
    let question = Pull {
        cursor,
        types,
        group,
        wait_ms: wait_secs * 1000,
    };
    match ask(&stub, &question).await {
        Ok(body) => reply::json_response(200, body),
        Err(why) => reply::local(Local::UpstreamUnreachable, &why),
    }
}

/// The log's answer to `pull`.
async fn ask(stub: &ObjectStub, pull: &Pull) -> core::result::Result<String, String> {
    let question = serde_json::to_string(pull).unwrap_or_default();
    match post(
        stub,
        &format!("{OBJECT_ORIGIN}{PULL_PATH}"),
        &question,
        Want::Servable,
    )
    .await
    {
        Ok(a) if a.status == 200 => Ok(a.body),
        Ok(a) => Err(format!("the event log answered HTTP {}", a.status)),
        Err(e) => Err(format!("the event log could not be asked: {e}")),
    }
}

/// How long one event stream lasts (the client reconnects with `Last-Event-ID`).
const STREAM_MS: u64 = 5 * 60 * 1000;
/// How long each question to the log waits for an event.
const STREAM_WAIT_MS: u64 = 20_000;

#[derive(Deserialize)]
struct Answer {
    events: Vec<Event>,
    next_cursor: String,
}

#[derive(Deserialize)]
struct Event {
    seq: u64,
    event_type: String,
    event: serde_json::Value,
}

/// The events as Server-Sent Events, asked of the log in turn.
fn stream(
    stub: ObjectStub,
    cursor: Option<u64>,
    group: Option<String>,
    types: Option<Vec<String>>,
) -> Result<Response> {
    let ends = JsClock.now_ms() + STREAM_MS;
    let state = Some((
        stub,
        Pull {
            cursor,
            types,
            group,
            wait_ms: STREAM_WAIT_MS,
        },
    ));
    let frames = futures_util::stream::unfold(state, move |state| async move {
        let (stub, mut pull) = state?;
        if JsClock.now_ms() >= ends {
            return None;
        }
        let answer = ask(&stub, &pull)
            .await
            .ok()
            .and_then(|a| serde_json::from_str::<Answer>(&a).ok());
        let Some(answer) = answer else {
            let end = b"event: error\ndata: the event log could not be asked\n\n".to_vec();
            return Some((Ok::<Vec<u8>, worker::Error>(end), None));
        };
        let mut out = String::new();
        for e in &answer.events {
            out.push_str(&format!(
                "id: {}\nevent: {}\ndata: {}\n\n",
                e.seq, e.event_type, e.event
            ));
        }
        if out.is_empty() {
            out.push_str(": waiting\n\n");
        }
        pull.cursor = answer.next_cursor.parse().ok().or(pull.cursor);
        Some((Ok(out.into_bytes()), Some((stub, pull))))
    });
    let mut resp = Response::from_stream(frames)?;
    let h = resp.headers_mut();
    h.set("content-type", "text/event-stream; charset=utf-8")?;
    h.set("cache-control", "no-store")?;
    Ok(resp)
}
