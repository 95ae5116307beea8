//! Managed (store-app) mode: the Worker holds one app's id and secret,
//! receives its `app_ticket`s at `POST /feishu/events` and serves its
//! tenants' tokens at `GET /v1/tenants/{tenant_key}/tenant_access_token` to
//! services presenting an API key. The chain itself is the core's
//! (`store_app`); this file is the HTTP and KV around it.

use crate::config::{Config, Managed};
use crate::coordinated;
use crate::forward;
use crate::log;
use crate::reply::{self, Local, Member};
use crate::request::{read_body, wants_refresh};
use crate::state;
use feishu_tenant_token::Clock;
use feishu_tenant_token::event::{self, Event, SignatureHeaders};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::secret::constant_time_eq;
use feishu_tenant_token::store_app::TicketStore;
use feishu_tenant_token::{AppCredentials, TenantKey};
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
pub fn authorised(req: &Request, managed: &Managed) -> bool {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let Some(given) = forward::bearer(&header) else {
        return false;
    };
    managed.api_keys.iter().fold(false, |ok, k| {
        ok | constant_time_eq(k.expose_secret().as_bytes(), given.as_bytes())
    })
}

/// Managed mode's settings when the caller holds one of `API_KEYS`;
/// otherwise the answer refusing it (404 mode off, 500 no keys, 401).
pub fn api_caller<'c>(
    req: &Request,
    config: &'c Config,
) -> Result<core::result::Result<&'c Managed, Response>> {
    let Some(managed) = &config.managed else {
        return managed_off().map(Err);
    };
    if managed.api_keys.is_empty() {
        // Fail closed: without keys there is no one this endpoint may serve.
        return reply::local(
            Local::Misconfigured,
            "API_KEYS is not set: this endpoint serves no one",
        )
        .map(Err);
    }
    if !authorised(req, managed) {
        let mut resp = reply::local(
            Local::Unauthorized,
            "a valid `Authorization: Bearer <API key>` is required",
        )?;
        resp.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(Err(resp));
    }
    Ok(Ok(managed))
}

pub async fn tenant_token(
    req: Request,
    env: &Env,
    config: &Config,
    raw_tenant: &str,
) -> Result<Response> {
    let managed = match api_caller(&req, config)? {
        Ok(m) => m,
        Err(refusal) => return Ok(refusal),
    };
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
    reply::served_token(chain.tenants(), &request, forced, Member::TenantAccessToken).await
}

/// Whether `app` is the managed app itself: the same id, and the same secret
/// (compared in constant time). Only then does a caller get the Worker's own
/// app token or trigger its ticket resend.
pub fn is_managed_app<'c>(config: &'c Config, app: &AppCredentials) -> Option<&'c Managed> {
    let managed = config.managed.as_ref()?;
    let ours = &managed.app;
    let same_secret = constant_time_eq(
        ours.app_secret().expose_secret().as_bytes(),
        app.app_secret().expose_secret().as_bytes(),
    );
    (ours.app_id() == app.app_id() && same_secret).then_some(managed)
}

/// `POST /open-apis/auth/v3/app_access_token` for the managed app: its own
/// app token from the chain (memory, KV, then Feishu with the ticket the
/// callback stored), whatever ticket the caller sent: only the callback
/// receives fresh tickets, and some SDKs send none.
pub async fn own_app_token(
    req: &Request,
    env: &Env,
    config: &Config,
    managed: &Managed,
) -> Result<Response> {
    let chain = match state::managed(env, config, managed) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let apps = chain.apps();
    let forced = wants_refresh(req);
    reply::served_token(
        apps.client(),
        apps.request(),
        forced,
        Member::AppAccessToken,
    )
    .await
}

/// `POST /open-apis/auth/v3/app_ticket/resend` for the managed app: at most
/// once a minute across isolates (the same KV marker the chain uses), then
/// Feishu's answer; within the minute `{"code":0,"msg":"ok"}` with
/// `x-resend: throttled`, since a push is already on its way.
pub async fn resend(env: &Env, config: &Config, managed: &Managed) -> Result<Response> {
    let kv = match state::kv(env) {
        Ok(kv) => kv,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let tickets = coordinated::Tickets::new(env, kv, managed.app.app_id().to_owned());
    let how = if !tickets.claim_resend(JsClock.now_ms()).await {
        "throttled"
    } else if let Err(e) = state::resend_ticket(config, &managed.app).await {
        tickets.release_resend().await;
        return reply::upstream_error(&e);
    } else {
        "sent"
    };
    let mut resp = ack()?;
    resp.headers_mut().set("x-resend", how)?;
    Ok(resp)
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
            let tickets = coordinated::Tickets::new(env, kv, app_id);
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
