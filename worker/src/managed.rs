//! Managed (store-app) mode: the Worker holds one app's id and secret,
//! receives its `app_ticket`s at `POST /feishu/events` and serves its
//! tenants' tokens at `GET /v1/tenants/{tenant_key}/tenant_access_token` to
//! services presenting an API key. The chain itself is the core's
//! (`store_app`); this file is the HTTP and KV around it.

use crate::config::{Config, Managed};
use crate::kv_source::{KvThenUpstream, longest_fetch_ms};
use crate::reply::{self, Local};
use feishu_tenant_token::event::{self, Event, SignatureHeaders};
use feishu_tenant_token::js::{FetchTransport, JsClock};
use feishu_tenant_token::json::{self, Member};
use feishu_tenant_token::kv::{self, KV_MIN_EXPIRATION_TTL_SECS};
use feishu_tenant_token::secret::{AppTicket, constant_time_eq};
use feishu_tenant_token::store_app::{
    AppTokenCache, AppTokenSource, StoreAppRequest, StoreAppSource, TicketStore,
};
use feishu_tenant_token::{AppBinding, Clock, TenantKey, TokenClient, Upstream};
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Env, KvStore, Request, Response, Result, console_log, console_warn};

pub const EVENTS_PATH: &str = "/feishu/events";
const TENANTS_PREFIX: &str = "/v1/tenants/";
const TENANTS_SUFFIX: &str = "/tenant_access_token";
/// How the tenant route appears in logs (never the tenant's own key).
pub const TENANTS_ROUTE: &str = "/v1/tenants/{tenant_key}/tenant_access_token";

/// Largest event body accepted. Feishu's events are small JSON documents
/// (message events with rich text are the largest); this leaves ample room.
pub const MAX_EVENT_BYTES: usize = 128 * 1024;

/// `/v1/tenants/{tenant_key}/tenant_access_token` -> the raw `{tenant_key}`.
pub fn tenant_in_path(path: &str) -> Option<&str> {
    path.strip_prefix(TENANTS_PREFIX)?
        .strip_suffix(TENANTS_SUFFIX)
        .filter(|t| !t.contains('/'))
}

/// The app's ticket in KV. A failed read counts as "no ticket" (the chain then
/// asks Feishu for a resend); the resend marker spans every isolate.
struct KvTickets {
    kv: KvStore,
    app_id: String,
}

impl TicketStore for KvTickets {
    async fn get(&self) -> core::result::Result<Option<AppTicket>, String> {
        let text = self.kv.get(&kv::ticket_key(&self.app_id)).text().await;
        let text = text.map_err(|e| e.to_string())?;
        Ok(text.filter(|t| !t.is_empty()).map(AppTicket::new))
    }

    async fn put(&self, ticket: &AppTicket) -> core::result::Result<(), String> {
        let key = kv::ticket_key(&self.app_id);
        let put = self
            .kv
            .put(&key, ticket.expose_secret())
            .map_err(|e| e.to_string())?;
        put.execute().await.map_err(|e| e.to_string())
    }

    async fn delete(&self) -> core::result::Result<(), String> {
        let key = kv::ticket_key(&self.app_id);
        self.kv.delete(&key).await.map_err(|e| e.to_string())
    }

    async fn claim_resend(&self, _now_ms: u64) -> bool {
        let key = kv::resend_marker_key(&self.app_id);
        if let Ok(Some(_)) = self.kv.get(&key).text().await {
            return false;
        }
        // KV's shortest TTL (60 s) is also the once-a-minute resend limit.
        if let Ok(put) = self.kv.put(&key, "1") {
            let _ = put
                .expiration_ttl(KV_MIN_EXPIRATION_TTL_SECS)
                .execute()
                .await;
        }
        true
    }
}

type Net = Rc<FetchTransport>;
type Apps = Rc<AppTokenCache<KvThenUpstream<AppTokenSource<Net, JsClock, KvTickets>>, JsClock>>;
type Tenants = TokenClient<KvThenUpstream<StoreAppSource<Apps, Net, JsClock>>, JsClock>;

struct Chain {
    app: AppBinding,
    tenants: Tenants,
}

const NO_KV: &str = "worker misconfigured: no KV namespace bound as TOKENS";

thread_local! {
    /// The isolate's memory layer for managed mode (both tokens).
    static CHAIN: RefCell<Option<Rc<Chain>>> = const { RefCell::new(None) };
}

fn chain(env: &Env, config: &Config, managed: &Managed) -> core::result::Result<Rc<Chain>, String> {
    if let Some(c) = CHAIN.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let store = env.kv("TOKENS").map_err(|_| NO_KV.to_owned())?;
    let app_id = managed.app.app_id().to_owned();
    let net: Net = Rc::new(FetchTransport::new(None, config.timeout_ms)?);
    let longest = longest_fetch_ms(config.retry, config.timeout_ms);
    let tickets = KvTickets {
        kv: store.clone(),
        app_id: app_id.clone(),
    };
    let source = AppTokenSource::new(
        Rc::clone(&net),
        JsClock,
        config.base_url.clone(),
        managed.app.clone(),
        tickets,
    )
    .with_retry(config.retry);
    let request = source.request();
    let app = request.app;
    let id = app_id.clone();
    let apps: Apps = Rc::new(AppTokenCache {
        client: TokenClient::new(
            KvThenUpstream::new(
                store.clone(),
                source,
                Box::new(move |_| kv::app_token_key(&id)),
                config.freshness,
                // A resend may come on top of the app token fetch.
                longest.saturating_mul(2),
            ),
            JsClock,
            config.freshness,
        ),
        request,
    });
    let upstream = Upstream::new(net, JsClock, config.base_url.clone()).with_retry(config.retry);
    let tenants = TokenClient::new(
        KvThenUpstream::new(
            store,
            StoreAppSource::new(apps, upstream),
            Box::new(move |r: &StoreAppRequest| {
                kv::managed_tenant_key(&app_id, r.tenant_key.as_str())
            }),
            config.freshness,
            // The app token (and a resend), then the tenant token, twice on 99991664.
            longest.saturating_mul(5),
        ),
        JsClock,
        config.freshness,
    );
    let chain = Rc::new(Chain { app, tenants });
    CHAIN.with(|c| *c.borrow_mut() = Some(Rc::clone(&chain)));
    Ok(chain)
}

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
    let chain = match chain(env, config, managed) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let request = StoreAppRequest {
        app: chain.app,
        tenant_key,
    };
    let forced = crate::routes::wants_refresh(&req);
    let answer = if forced {
        chain.tenants.refresh_served(&request).await
    } else {
        chain.tenants.get_served(&request).await
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
    let body = match crate::routes::read_body(&mut req, MAX_EVENT_BYTES).await? {
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
            console_warn!(
                "{}",
                json::object(&[
                    ("event", Member::Str("event_rejected")),
                    ("error", Member::Str(e.code().as_str()))
                ])
            );
            return reply::event_rejected(&e);
        }
    };
    match received.event {
        Event::UrlVerification { challenge } => {
            reply::json_response(200, json::object(&[("challenge", Member::Str(&challenge))]))
        }
        Event::AppTicket {
            app_id, app_ticket, ..
        } if app_id == managed.app.app_id() => {
            let Ok(kv) = env.kv("TOKENS") else {
                return reply::local(Local::Misconfigured, NO_KV);
            };
            let tickets = KvTickets { kv, app_id };
            if let Err(why) = tickets.put(&app_ticket).await {
                // Not acknowledged: Feishu delivers the event again later.
                console_warn!(
                    "{}",
                    json::object(&[
                        ("event", Member::Str("ticket_store_failed")),
                        ("error", Member::Str(&why))
                    ])
                );
                return reply::local(
                    Local::Misconfigured,
                    "the ticket could not be stored; retry",
                );
            }
            console_log!(
                "{}",
                json::object(&[
                    ("event", Member::Str("app_ticket_stored")),
                    (
                        "signed",
                        Member::Str(if received.signed { "yes" } else { "no" })
                    )
                ])
            );
            ack()
        }
        // Another app's ticket, or any other event: acknowledged, not acted on.
        _ => ack(),
    }
}

fn ack() -> Result<Response> {
    reply::json_response(200, r#"{"code":0,"msg":"ok"}"#.to_owned())
}
