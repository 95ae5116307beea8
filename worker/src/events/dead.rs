//! Dead letters: events a handler never took within its retries
//! (`EVENT_RETRY_SECS`, 72 hours by default), kept a week for an API key to
//! list (`GET /v1/events/dead?app_id=`) and replay (`POST
//! /v1/events/dead/replay?app_id=[&seq=]`: pushed again to their handler
//! now; those taken leave the list).

use crate::cache::ask::Want;
use crate::config::Config;
use crate::coordinator::ask::post;
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::events::pull::app_log;
use crate::events::{DEAD_PATH, REPLAY_PATH};
use crate::http::query;
use crate::http::reply::{self, Local};
use worker::{Env, Request, Response, Result};

/// `GET /v1/events/dead` (`replay` false) or `POST /v1/events/dead/replay`.
pub async fn dead(req: Request, env: &Env, config: &Config, replay: bool) -> Result<Response> {
    let stub = match app_log(&req, env, config).await? {
        Ok(s) => s,
        Err(refusal) => return Ok(refusal),
    };
    let seq = query::param(&req.inner().url(), "seq").unwrap_or_default();
    if !seq.is_empty() && seq.parse::<u64>().is_err() {
        return reply::local(Local::InvalidField, "seq: a dead letter's seq");
    }
    let path = if replay { REPLAY_PATH } else { DEAD_PATH };
    match post(
        &stub,
        &format!("{OBJECT_ORIGIN}{path}"),
        &seq,
        Want::Servable,
    )
    .await
    {
        Ok(a) if a.status == 200 => reply::json_response(200, a.body),
        Ok(a) => reply::local(
            Local::UpstreamUnreachable,
            &format!("the event log answered HTTP {}", a.status),
        ),
        Err(e) => reply::local(
            Local::UpstreamUnreachable,
            &format!("the event log could not be asked: {e}"),
        ),
    }
}
