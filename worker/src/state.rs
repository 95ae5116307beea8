//! The one holder of the isolate's state: the memory layers every request it
//! serves shares, so concurrent requests for one key make one KV read and one
//! upstream call. Built on first use from the request's settings.

use crate::config::{Config, Managed};
use crate::kv_layer::{KvThenUpstream, KvTickets, longest_fetch_ms};
use crate::kv_store::{BINDING, WorkerKv};
use feishu_tenant_token::host::{FetchTransport, JsClock};
use feishu_tenant_token::self_built::{Kind, SelfBuiltRequest, SelfBuiltSource};
use feishu_tenant_token::store_app::{
    AppSource, StoreAppBuilder, StoreAppChain, StoreAppRequest, TenantSource,
    TicketedAppTokenRequest, TicketedAppTokenSource,
};
use feishu_tenant_token::{Keyed, SerdeJson, TokenClient, TokenRequest, Upstream, kv};
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

/// The fetch transport reading answers with serde_json, which the Worker
/// links anyway (smaller than also linking serde-wasm-bindgen's reader).
type Net = FetchTransport<SerdeJson>;

fn transport(config: &Config) -> Result<Net, String> {
    Ok(FetchTransport::new(None, config.timeout_ms)?.reading_with(SerdeJson))
}

/// Pass-through mode: tokens for any caller's `app_access_token`.
pub type PassThrough =
    TokenClient<KvThenUpstream<Upstream<Net, JsClock>, WorkerKv, JsClock>, JsClock>;

type KvApps = KvThenUpstream<AppSource<Net, JsClock, KvTickets<WorkerKv>>, WorkerKv, JsClock>;
/// Managed mode: the chain of the one app whose secrets the Worker holds.
pub type ManagedChain =
    StoreAppChain<KvThenUpstream<TenantSource<KvApps, Net, JsClock>, WorkerKv, JsClock>, JsClock>;

/// Self-built apps' tokens for any caller presenting an app's id and secret.
pub type Internal =
    TokenClient<KvThenUpstream<SelfBuiltSource<Net, JsClock>, WorkerKv, JsClock>, JsClock>;

/// Store apps' app tokens for any caller presenting id, secret and a ticket.
pub type StoreAppTokens =
    TokenClient<KvThenUpstream<TicketedAppTokenSource<Net, JsClock>, WorkerKv, JsClock>, JsClock>;

#[derive(Default)]
struct Isolate {
    store_app_tokens: Option<Rc<StoreAppTokens>>,
    pass_through: Option<Rc<PassThrough>>,
    managed: Option<Rc<ManagedChain>>,
    internal_tenant: Option<Rc<Internal>>,
    internal_app: Option<Rc<Internal>>,
}

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::new(Isolate::default());
}

const NO_KV: &str = "worker misconfigured: no KV namespace bound as TOKENS";

pub fn kv(env: &Env) -> Result<WorkerKv, String> {
    env.kv(BINDING).map(WorkerKv).map_err(|_| NO_KV.to_owned())
}

pub fn pass_through(env: &Env, config: &Config) -> Result<Rc<PassThrough>, String> {
    if let Some(c) = ISOLATE.with(|s| s.borrow().pass_through.clone()) {
        return Ok(c);
    }
    let transport = transport(config)?;
    let upstream =
        Upstream::new(transport, JsClock, config.base_url.clone()).with_retry(config.retry);
    let client = Rc::new(TokenClient::new(
        KvThenUpstream::new(
            kv(env)?,
            upstream,
            Box::new(|r: &TokenRequest| kv::kv_key(&r.cache_key())),
            config.freshness,
            JsClock,
            longest_fetch_ms(config.retry, config.timeout_ms),
        ),
        JsClock,
        config.freshness,
    ));
    ISOLATE.with(|s| s.borrow_mut().pass_through = Some(Rc::clone(&client)));
    Ok(client)
}

pub fn store_app_tokens(env: &Env, config: &Config) -> Result<Rc<StoreAppTokens>, String> {
    if let Some(c) = ISOLATE.with(|s| s.borrow().store_app_tokens.clone()) {
        return Ok(c);
    }
    let source = TicketedAppTokenSource::new(transport(config)?, JsClock, config.base_url.clone())
        .with_retry(config.retry);
    let client = Rc::new(TokenClient::new(
        KvThenUpstream::new(
            kv(env)?,
            source,
            Box::new(|r: &TicketedAppTokenRequest| {
                let c = r.credentials();
                kv::store_app_token_key(c.app().app_id(), &c.binding_hex())
            }),
            config.freshness,
            JsClock,
            longest_fetch_ms(config.retry, config.timeout_ms),
        ),
        JsClock,
        config.freshness,
    ));
    ISOLATE.with(|s| s.borrow_mut().store_app_tokens = Some(Rc::clone(&client)));
    Ok(client)
}

pub fn internal(env: &Env, config: &Config, kind: Kind) -> Result<Rc<Internal>, String> {
    let slot = |s: &mut Isolate| match kind {
        Kind::TenantToken => s.internal_tenant.clone(),
        Kind::AppToken => s.internal_app.clone(),
    };
    if let Some(c) = ISOLATE.with(|s| slot(&mut s.borrow_mut())) {
        return Ok(c);
    }
    let source = SelfBuiltSource::new(kind, transport(config)?, JsClock, config.base_url.clone())
        .with_retry(config.retry);
    let app_token = kind == Kind::AppToken;
    let client = Rc::new(TokenClient::new(
        KvThenUpstream::new(
            kv(env)?,
            source,
            Box::new(move |r: &SelfBuiltRequest| {
                kv::internal_token_key(app_token, r.app().app_id(), &r.binding_hex())
            }),
            config.freshness,
            JsClock,
            longest_fetch_ms(config.retry, config.timeout_ms),
        ),
        JsClock,
        config.freshness,
    ));
    ISOLATE.with(|s| {
        let mut s = s.borrow_mut();
        match kind {
            Kind::TenantToken => s.internal_tenant = Some(Rc::clone(&client)),
            Kind::AppToken => s.internal_app = Some(Rc::clone(&client)),
        }
    });
    Ok(client)
}

pub fn managed(env: &Env, config: &Config, managed: &Managed) -> Result<Rc<ManagedChain>, String> {
    if let Some(c) = ISOLATE.with(|s| s.borrow().managed.clone()) {
        return Ok(c);
    }
    let store = kv(env)?;
    let app_id = managed.app.app_id().to_owned();
    let longest = longest_fetch_ms(config.retry, config.timeout_ms);
    let tickets = KvTickets {
        kv: store.clone(),
        app_id: app_id.clone(),
    };
    let transport = transport(config)?;
    let (apps_kv, id) = (store.clone(), app_id.clone());
    let chain = StoreAppBuilder::new(
        transport,
        JsClock,
        config.base_url.clone(),
        managed.app.clone(),
        tickets,
    )
    .retry(config.retry)
    .freshness(config.freshness)
    .build_layered(
        |apps| {
            KvThenUpstream::new(
                apps_kv,
                apps,
                Box::new(move |_| kv::app_token_key(&id)),
                config.freshness,
                JsClock,
                // A resend may come on top of the app token fetch.
                longest.saturating_mul(2),
            )
        },
        |tenants| {
            KvThenUpstream::new(
                store,
                tenants,
                Box::new(move |r: &StoreAppRequest| {
                    kv::managed_tenant_key(&app_id, r.tenant_key.as_str())
                }),
                config.freshness,
                JsClock,
                // The app token (and a resend), then the tenant token, twice on 99991664.
                longest.saturating_mul(5),
            )
        },
    );
    let chain = Rc::new(chain);
    ISOLATE.with(|s| s.borrow_mut().managed = Some(Rc::clone(&chain)));
    Ok(chain)
}
