//! Receiving an app's callback: the body within 128 KiB, then the core's
//! checks (signature before decryption, replay window, Verification Token).
//! Anything that fails a check gets the status Feishu documents and nothing
//! is stored or delivered.

use crate::config::Config;
use crate::events::card::{CARD_ACTION, card_action};
use crate::events::record::record;
use crate::http::reply::{self, Local};
use crate::http::request::read_body;
use crate::log;
use feishu_tenant_token::Clock;
use feishu_tenant_token::event::{self, Event, EventConfig, Received, SignatureHeaders};
use feishu_tenant_token::host::JsClock;
use serde::Serialize;
use worker::{Env, Request, Response, Result};

/// Largest event body accepted. Feishu's events are small JSON documents
/// (message events with rich text are the largest); this leaves ample room.
pub const MAX_EVENT_BYTES: usize = 128 * 1024;

/// The checked callback, or the answer refusing it.
pub async fn checked(
    req: &mut Request,
    check: &EventConfig,
) -> Result<core::result::Result<Received, Response>> {
    let body = match read_body(req, MAX_EVENT_BYTES).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let h = req.headers();
    let (ts, nonce, sig) = (
        h.get("x-lark-request-timestamp")?,
        h.get("x-lark-request-nonce")?,
        h.get("x-lark-signature")?,
    );
    let headers = SignatureHeaders {
        timestamp: ts.as_deref(),
        nonce: nonce.as_deref(),
        signature: sig.as_deref(),
    };
    match event::receive(&body, &headers, check, JsClock.now_ms()) {
        Ok(r) => Ok(Ok(r)),
        Err(e) => {
            log::warn("event_rejected", e.code().as_str());
            reply::event_rejected(&e).map(Err)
        }
    }
}

/// `{"challenge": ...}`: the console's URL verification answered.
pub fn challenge(challenge: &str) -> Result<Response> {
    #[derive(Serialize)]
    struct Challenge<'a> {
        challenge: &'a str,
    }
    reply::json_response(200, log::json(&Challenge { challenge }))
}

/// `POST /events/{app_id}` for an app other than store-app mode's.
pub async fn app_events(
    mut req: Request,
    env: &Env,
    config: &Config,
    app_id: &str,
) -> Result<Response> {
    let Some(app) = config.events.app(app_id, config.brand) else {
        return reply::local(
            Local::NotFound,
            "no events for this app here: give its SELF_BUILT_APPS entry an encrypt_key or verification_token",
        );
    };
    let received = match checked(&mut req, &app.check).await? {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    match &received.event {
        Event::UrlVerification { challenge: c } => challenge(c),
        Event::Other { event_type, .. } if event_type == CARD_ACTION => {
            card_action(config, &app.check, app_id, &received.plaintext).await
        }
        _ => record(env, config, app_id, &received).await,
    }
}
