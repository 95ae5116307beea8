//! Managed (store-app) mode: the Worker holds one app's id and secret,
//! receives its `app_ticket`s at `POST /feishu/events` and serves its
//! tenants' tokens at `GET /v1/tenants/{tenant_key}/tenant_access_token` to
//! services presenting an API key. The chain itself is the core's
//! (`store_app`); this file is the HTTP and KV around it.

use crate::config::{Config, Managed};
use crate::kv_layer::KvTickets;
use crate::log;
use crate::reply::{self, Local};
use crate::request::{read_body, wants_refresh};
use crate::state;
use feishu_tenant_token::Clock;
use feishu_tenant_token::TenantKey;
use feishu_tenant_token::event::{self, Event, SignatureHeaders};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::secret::constant_time_eq;
use feishu_tenant_token::store_app::TicketStore;
use serde::Serialize;
use worker::{Env, Request, Response, Result};

/// Largest event body accepted. Feishu's events are small JSON documents
/// (message events with rich text are the largest); this leaves ample room.
pub const MAX_EVENT_BYTES: usize = 128 * 1024;

fn managed_off() -> Result<Response> {
    reply::local(
        Local::NotFound,
        "managed mode is off (set FEISHU_APP_ID and FEISHU_APP_SECRET)",
    )
}

/// Whether `Authorization: Bearer <key>` holds one of the keys. Every key is
/// compared (in constant time), so timing says nothing about which matched.
fn authorised(req: &Request, managed: &Managed) -> bool {
    // HTTP's optional whitespace is spaces and tabs only: no Unicode trimming.
    const OWS: [char; 2] = [' ', '\t'];
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let Some((scheme, given)) = header.trim_matches(OWS).split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let given = given.trim_matches(OWS).as_bytes();
    managed.api_keys.iter().fold(false, |ok, k| {
        ok | constant_time_eq(k.expose_secret().as_bytes(), given)
    })
}

pub async fn tenant_token(
    req: Request,
    env: &Env,
    config: &Config,
    raw_tenant: &str,
) -> Result<Response> {
    let Some(managed) = &config.managed else {
        return managed_off();
    };
    if managed.api_keys.is_empty() {
        // Fail closed: without keys there is no one this endpoint may serve.
        return reply::local(
            Local::Misconfigured,
            "API_KEYS is not set: this endpoint serves no one",
        );
    }
    if !authorised(&req, managed) {
        let mut resp = reply::local(
            Local::Unauthorized,
            "a valid `Authorization: Bearer <API key>` is required",
        )?;
        resp.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(resp);
    }
    // The path arrives percent-encoded; real tenant keys never need escapes,
    // so one is refused rather than decoded into something the check missed.
    if raw_tenant.contains('%') {
        return reply::local(
            Local::InvalidField,
            "tenant_key must not be percent-encoded",
        );
    }
    let tenant_key = match TenantKey::parse(raw_tenant) {
        Ok(t) => t,
        Err(e) => return reply::local(Local::InvalidField, e.message()),
    };
    let chain = match state::managed(env, config, managed) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let request = chain.request(tenant_key);
    let forced = wants_refresh(&req);
    let answer = if forced {
        chain.tenants().refresh_served(&request).await
    } else {
        chain.tenants().get_served(&request).await
    };
    reply::token_answer(answer, forced)
}

pub async fn events(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let Some(managed) = &config.managed else {
        return managed_off();
    };
    let Some(event_config) = &managed.events else {
        return reply::local(
            Local::Misconfigured,
            "set FEISHU_VERIFICATION_TOKEN or FEISHU_ENCRYPT_KEY: events are not accepted unauthenticated",
        );
    };
    let body = match read_body(&mut req, MAX_EVENT_BYTES).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
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
    let received = match event::receive(&body, &headers, event_config, JsClock.now_ms()) {
        Ok(r) => r,
        Err(e) => {
            log::warn("event_rejected", e.code().as_str());
            return reply::event_rejected(&e);
        }
    };
    match received.event {
        Event::UrlVerification { challenge } => {
            #[derive(Serialize)]
            struct Challenge<'a> {
                challenge: &'a str,
            }
            reply::json_response(
                200,
                log::json(&Challenge {
                    challenge: &challenge,
                }),
            )
        }
        Event::AppTicket {
            app_id, app_ticket, ..
        } if app_id == managed.app.app_id() => {
            let kv = match state::kv(env) {
                Ok(kv) => kv,
                Err(why) => return reply::local(Local::Misconfigured, &why),
            };
            let tickets = KvTickets { kv, app_id };
            if let Err(why) = tickets.put(&app_ticket).await {
                // Not acknowledged: Feishu delivers the event again later.
                log::warn("ticket_store_failed", &why);
                return reply::local(
                    Local::Misconfigured,
                    "the ticket could not be stored; retry",
                );
            }
            #[derive(Serialize)]
            struct Stored {
                event: &'static str,
                signed: &'static str,
            }
            log::info(&Stored {
                event: "app_ticket_stored",
                signed: if received.signed { "yes" } else { "no" },
            });
            ack()
        }
        // Another app's ticket, or any other event: acknowledged, not acted on.
        _ => ack(),
    }
}

fn ack() -> Result<Response> {
    reply::json_response(200, r#"{"code":0,"msg":"ok"}"#.to_owned())
}
