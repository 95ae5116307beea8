//! The one holder of the isolate's state: the memory layers every request it
//! serves shares, so concurrent requests for one key make one KV read and one
//! upstream call. Built on first use from the request's settings.

use crate::config::{Config, Managed};
use crate::coordinated;
use crate::kv_layer::{Ask, KeyOf, KvThenUpstream, longest_fetch_ms};
use crate::kv_store::WorkerKv;
use crate::object_store::ObjectStore;
use core::future::Future;
use feishu_tenant_token::host::{FetchTransport, JsClock};
use feishu_tenant_token::self_built::{Kind, SelfBuiltRequest, SelfBuiltSource};
use feishu_tenant_token::store_app::{
    self, AppCredentials, AppSource, StoreAppBuilder, StoreAppChain, StoreAppRequest, TenantSource,
    TicketedAppTokenRequest, TicketedAppTokenSource,
};
use feishu_tenant_token::{
    Error, HttpRequest, HttpResponse, Keyed, SerdeJson, Source, TenantAccessToken, TokenClient,
    TokenRequest, Transport, TransportError, Upstream, kv,
};
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

/// The fetch transport reading answers with serde_json, which the Worker
/// links anyway (smaller than also linking serde-wasm-bindgen's reader).
/// A struct of its own, not an alias, for its name: every generic type and
/// function over the transport is named after it in the .wasm's name
/// section, which the size gate counts.
pub struct Net(FetchTransport<SerdeJson>);

impl Transport for Net {
    fn post_json(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        self.0.post_json(request)
    }
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        self.0.sleep(ms)
    }
    fn random(&self) -> f64 {
        self.0.random()
    }
    fn read_json<T: serde::de::DeserializeOwned>(&self, body: &str) -> Option<T> {
        self.0.read_json(body)
    }
}

fn transport(config: &Config) -> Result<Net, String> {
    Ok(Net(
        FetchTransport::new(None, config.timeout_ms)?.reading_with(SerdeJson)
    ))
}

/// A token client over KV in front of the source `S`.
pub type KvClient<S> = TokenClient<KvThenUpstream<S, WorkerKv, JsClock>, JsClock>;

/// Pass-through mode: tokens for any caller's `app_access_token`.
pub type PassThrough = KvClient<Upstream<Net, JsClock>>;

type KvApps = KvThenUpstream<AppSource<Net, JsClock, coordinated::Tickets>, WorkerKv, JsClock>;
/// Managed mode: the chain of the one app whose secrets the Worker holds.
pub type ManagedChain = StoreAppChain<
    KvApps,
    KvThenUpstream<TenantSource<KvApps, Net, JsClock>, WorkerKv, JsClock>,
    JsClock,
>;

/// Self-built apps' tokens for any caller presenting an app's id and secret.
pub type Internal = KvClient<SelfBuiltSource<Net, JsClock>>;

/// Store apps' app tokens for any caller presenting id, secret and a ticket.
pub type StoreAppTokens = KvClient<TicketedAppTokenSource<Net, JsClock>>;

#[derive(Default)]
struct Isolate {
    config: Option<Rc<Config>>,
    store_app_tokens: Option<Rc<StoreAppTokens>>,
    pass_through: Option<Rc<PassThrough>>,
    managed: Option<Rc<ManagedChain>>,
    internal_tenant: Option<Rc<Internal>>,
    internal_app: Option<Rc<Internal>>,
}

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::new(Isolate::default());
}

/// The settings, read once per isolate: a deployment's vars and secrets do
/// not change under a running isolate (a new version starts new isolates),
/// and reading them is a dozen calls into JS per request (measured: /healthz
/// took 0.35 ms more than an empty Worker with them read each time). A
/// misconfiguration is not kept: each request reports it afresh.
pub fn config(env: &Env) -> Result<Rc<Config>, String> {
    if let Some(c) = ISOLATE.with(|s| s.borrow().config.clone()) {
        return Ok(c);
    }
    let config = Rc::new(Config::parse(|name| {
        env.var(name).ok().map(|v| v.to_string())
    })?);
    ISOLATE.with(|s| s.borrow_mut().config = Some(Rc::clone(&config)));
    Ok(config)
}

const NO_KV: &str = "worker misconfigured: no KV namespace bound as TOKENS";

pub fn kv(env: &Env) -> Result<WorkerKv, String> {
    WorkerKv::from_env(env).ok_or_else(|| NO_KV.to_owned())
}

/// The isolate's value in `slot`, built by `build` on first use. `build`
/// runs outside the borrow, so it may take as long as it likes.
fn once<T>(
    slot: fn(&mut Isolate) -> &mut Option<Rc<T>>,
    build: impl FnOnce() -> Result<T, String>,
) -> Result<Rc<T>, String> {
    if let Some(v) = ISOLATE.with(|s| slot(&mut s.borrow_mut()).clone()) {
        return Ok(v);
    }
    let v = Rc::new(build()?);
    ISOLATE.with(|s| *slot(&mut s.borrow_mut()) = Some(Rc::clone(&v)));
    Ok(v)
}

/// Feishu at the configured base URL, with the configured retries.
fn upstream(config: &Config) -> Result<Upstream<Net, JsClock>, String> {
    Ok(
        Upstream::new(transport(config)?, JsClock, config.base_url.clone())
            .with_retry(config.retry),
    )
}

/// A token client over KV in front of `source`, KV entries named by `key`;
/// a KV miss asks `coordinator` (the Durable Object) first, when given.
fn kv_client<S: Source<Meta = ()>>(
    env: &Env,
    config: &Config,
    source: S,
    key: KeyOf<S::Request>,
    coordinator: Option<Ask<S::Request>>,
) -> Result<KvClient<S>, String> {
    let longest = longest_fetch_ms(config.retry, config.timeout_ms);
    let layer = KvThenUpstream::new(kv(env)?, source, key, config.freshness, JsClock, longest)
        .coordinated_by(coordinator);
    Ok(TokenClient::new(layer, JsClock, config.freshness)
        .revalidating_after(config.memory_revalidate_ms))
}

/// Whether a client asks the coordinator on a KV miss: the isolate's clients
/// do (when `COORDINATOR` is bound); the coordinator's own never do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Front,
    Coordinator,
}

pub fn pass_through(env: &Env, config: &Config) -> Result<Rc<PassThrough>, String> {
    once(
        |s| &mut s.pass_through,
        || build_pass_through(env, config, Role::Front),
    )
}

pub fn build_pass_through(env: &Env, config: &Config, role: Role) -> Result<PassThrough, String> {
    let key = |r: &TokenRequest| kv::kv_key(&r.cache_key());
    let ask = (role == Role::Front)
        .then(|| coordinated::ask(env, coordinated::tenant))
        .flatten();
    kv_client(env, config, upstream(config)?, Box::new(key), ask)
}

pub fn store_app_tokens(env: &Env, config: &Config) -> Result<Rc<StoreAppTokens>, String> {
    once(
        |s| &mut s.store_app_tokens,
        || {
            let key = |r: &TicketedAppTokenRequest| {
                let c = r.credentials();
                kv::store_app_token_key(c.app().app_id(), &c.binding_hex())
            };
            let source = TicketedAppTokenSource::new(upstream(config)?);
            kv_client(env, config, source, Box::new(key), None)
        },
    )
}

pub fn internal(env: &Env, config: &Config, kind: Kind) -> Result<Rc<Internal>, String> {
    let slot: fn(&mut Isolate) -> &mut Option<Rc<Internal>> = match kind {
        Kind::TenantToken => |s| &mut s.internal_tenant,
        Kind::AppToken => |s| &mut s.internal_app,
    };
    once(slot, || build_internal(env, config, kind, Role::Front))
}

pub fn build_internal(
    env: &Env,
    config: &Config,
    kind: Kind,
    role: Role,
) -> Result<Internal, String> {
    let app_token = kind == Kind::AppToken;
    let key = move |r: &SelfBuiltRequest| {
        kv::internal_token_key(app_token, r.app().app_id(), &r.binding_hex())
    };
    let source = SelfBuiltSource::new(kind, upstream(config)?);
    let encode = match kind {
        Kind::TenantToken => coordinated::internal_tenant,
        Kind::AppToken => coordinated::internal_app,
    };
    let ask = (role == Role::Front)
        .then(|| coordinated::ask(env, encode))
        .flatten();
    kv_client(env, config, source, Box::new(key), ask)
}

/// Forgets `token` wherever this isolate's memory holds it (compare-and-
/// invalidate: an entry holding a newer token stays), after Feishu refused
/// it. Only clients already built are looked at; none is built for this.
pub fn forget_refused(token: &TenantAccessToken) -> usize {
    ISOLATE.with(|s| {
        let s = s.borrow();
        let mut dropped = 0;
        if let Some(c) = &s.pass_through {
            dropped += c.invalidate_token(token, None);
        }
        if let Some(c) = &s.store_app_tokens {
            dropped += c.invalidate_token(token, None);
        }
        for c in [&s.internal_tenant, &s.internal_app].into_iter().flatten() {
            dropped += c.invalidate_token(token, None);
        }
        if let Some(chain) = &s.managed {
            dropped += chain.tenants().invalidate_token(token, None);
            dropped += chain.apps().client().invalidate_token(token, None);
        }
        dropped
    })
}

/// One `app_ticket/resend` round trip for `app` (the caller holds the
/// once-a-minute claim).
pub async fn resend_ticket(config: &Config, app: &AppCredentials) -> Result<(), Error> {
    let net = transport(config).map_err(|e| Error::invalid_input(&e))?;
    store_app::resend_ticket(&net, &config.base_url, app).await
}

pub fn managed(env: &Env, config: &Config, managed: &Managed) -> Result<Rc<ManagedChain>, String> {
    once(
        |s| &mut s.managed,
        || build_managed(env, config, managed, ManagedAt::Front),
    )
}

/// Where a managed chain runs, which decides whom its KV misses ask (with
/// `COORDINATOR` bound): each key's token is fetched by that key's object,
/// never by an object asking itself.
pub enum ManagedAt {
    /// An isolate: a tenant token's miss asks the tenant's object, the app
    /// token's asks the app's object.
    Front,
    /// A managed tenant's object: its app token's miss asks the app's object.
    TenantObject,
    /// The app's object: the ticket, resend limit and app token are in its
    /// own storage (the app token's copy of record, KV's copy for isolates).
    AppObject(ObjectStore),
}

pub fn build_managed(
    env: &Env,
    config: &Config,
    managed: &Managed,
    at: ManagedAt,
) -> Result<ManagedChain, String> {
    let store = kv(env)?;
    let app_id = managed.app.app_id().to_owned();
    let longest = longest_fetch_ms(config.retry, config.timeout_ms);
    let app_key = kv::app_token_key(&app_id);
    let (tickets, apps_kv) = match &at {
        ManagedAt::AppObject(own) => (
            coordinated::Tickets::in_object(own.clone(), store.clone(), app_id.clone()),
            store.clone().mirroring(app_key.clone(), own.clone()),
        ),
        _ => (
            coordinated::Tickets::new(env, store.clone(), app_id.clone()),
            store.clone(),
        ),
    };
    let ask_app = match at {
        ManagedAt::AppObject(_) => None,
        _ => coordinated::ask(env, coordinated::managed_app),
    };
    let ask_tenant = match at {
        ManagedAt::Front => coordinated::ask(env, coordinated::managed_tenant),
        _ => None,
    };
    let transport = transport(config)?;
    let chain = StoreAppBuilder::new(
        transport,
        JsClock,
        config.base_url.clone(),
        managed.app.clone(),
        tickets,
    )
    .retry(config.retry)
    .freshness(config.freshness)
    .revalidate_after(config.memory_revalidate_ms)
    .build_layered(
        |apps| {
            KvThenUpstream::new(
                apps_kv,
                apps,
                Box::new(move |_| app_key.clone()),
                config.freshness,
                JsClock,
                // A resend may come on top of the app token fetch.
                longest.saturating_mul(2),
            )
            .coordinated_by(ask_app)
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
            .coordinated_by(ask_tenant)
        },
    );
    Ok(chain)
}
