//! How each token client is built: the isolate's (`state.rs` keeps them) and
//! the coordinator object's own (`coordinator/object.rs`), memory over KV
//! over Feishu. A front's KV miss asks the coordinator when it is bound; the
//! object's own clients never do.

use crate::cache::ask::Ask;
use crate::cache::layer::{KeyOf, KvThenUpstream, longest_fetch_ms};
use crate::cache::workers_kv::WorkerKv;
use crate::config::{Brand, Config};
use feishu_tenant_token::host::{FetchTransport, JsClock};
use feishu_tenant_token::self_built::{Kind, SelfBuiltRequest, SelfBuiltSource};
use feishu_tenant_token::store_app::{CallerAppTokenRequest, CallerAppTokenSource};
use feishu_tenant_token::{
    BaseUrl, HttpRequest, Keyed, SerdeJson, Source, TokenClient, TokenRequest, Upstream, kv,
};
use worker::Env;

/// The fetch transport reading answers with serde_json, which the Worker
/// links anyway (smaller than also linking serde-wasm-bindgen's reader).
pub type Net = FetchTransport<SerdeJson>;

pub fn transport(config: &Config) -> Result<Net, String> {
    Ok(FetchTransport::new(None, config.timeout_ms)?.reading_with(SerdeJson))
}

/// Feishu at the configured base URL, with the configured retries.
pub fn upstream(config: &Config) -> Result<Upstream<Net, JsClock>, String> {
    Ok(
        Upstream::new(transport(config)?, JsClock, config.base_url.clone())
            .with_retry(config.retry),
    )
}

/// Most tokens one of the isolate's clients keeps in memory (the entries
/// fetched or confirmed longest ago go first): 10,000 entries of a few
/// hundred bytes each are a few MB of the isolate's 128 MB (Workers'
/// memory limit per isolate, <https://developers.cloudflare.com/workers/platform/limits/#memory>),
/// whatever the traffic.
pub const MAX_CACHED_TOKENS: usize = 10_000;

/// A token client over KV in front of the source `S`.
pub type KvClient<S> = TokenClient<KvThenUpstream<S, WorkerKv, JsClock>, JsClock>;

/// Pass-through mode: tenant tokens for any caller's `app_access_token`.
pub type PassThrough = KvClient<Upstream<Net, JsClock>>;

/// Self-built apps' tokens for any caller presenting an app's id and secret.
pub type Internal = KvClient<SelfBuiltSource<Net, JsClock>>;

/// Store apps' app tokens for any caller presenting id, secret and a ticket.
pub type StoreAppTokens = KvClient<CallerAppTokenSource<Net, JsClock>>;

/// Whether a client asks the coordinator on a KV miss: the isolate's clients
/// do (when `COORDINATOR` is bound); the coordinator's own never do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Front,
    Coordinator,
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
    let layer = KvThenUpstream::new(
        WorkerKv::from_env(env)?,
        source,
        key,
        config.freshness,
        JsClock,
        longest,
    )
    .coordinated_by(coordinator);
    Ok(TokenClient::new(layer, JsClock, config.freshness)
        .revalidating_after(config.memory_revalidate_ms)
        .capped_at(MAX_CACHED_TOKENS))
}

/// The coordinator's `Ask` for a front, `None` for the object's own clients.
fn ask_if_front<R: 'static>(
    env: &Env,
    config: &Config,
    role: Role,
    build: fn(&BaseUrl, &R) -> HttpRequest,
) -> Option<Ask<R>> {
    match role {
        Role::Front => {
            crate::coordinator::ask::ask(env, crate::coordinator::BINDING, config.brand, build)
        }
        Role::Coordinator => None,
    }
}

pub fn build_pass_through(env: &Env, config: &Config, role: Role) -> Result<PassThrough, String> {
    use crate::coordinator::protocol::tenant;
    let brand = config.brand;
    let key = move |r: &TokenRequest| brand.kv_key(kv::kv_key(&r.cache_key()));
    let ask = ask_if_front(env, config, role, tenant);
    kv_client(env, config, upstream(config)?, Box::new(key), ask)
}

pub fn build_internal(
    env: &Env,
    config: &Config,
    kind: Kind,
    role: Role,
) -> Result<Internal, String> {
    use crate::coordinator::protocol::{internal_app, internal_tenant};
    let app_token = kind == Kind::AppToken;
    let brand = config.brand;
    let key = move |r: &SelfBuiltRequest| {
        brand.kv_key(kv::internal_token_key(
            app_token,
            r.app().app_id(),
            &r.binding_hex(),
        ))
    };
    let source = SelfBuiltSource::new(kind, upstream(config)?);
    let question = match kind {
        Kind::TenantToken => internal_tenant,
        Kind::AppToken => internal_app,
    };
    let ask = ask_if_front(env, config, role, question);
    kv_client(env, config, source, Box::new(key), ask)
}

/// Store apps' app tokens: never through the coordinator (each request
/// carries its own ticket).
pub fn build_store_app_tokens(env: &Env, config: &Config) -> Result<StoreAppTokens, String> {
    let source = CallerAppTokenSource::new(upstream(config)?);
    let brand = config.brand;
    let key = move |r: &CallerAppTokenRequest| store_app_token_key(brand, r);
    kv_client(env, config, source, Box::new(key), None)
}

/// The KV key of a store app's app token (its id and a digest of its
/// secret), for `brand`.
pub fn store_app_token_key(brand: Brand, r: &CallerAppTokenRequest) -> String {
    let c = r.credentials();
    brand.kv_key(kv::store_app_token_key(c.app().app_id(), &c.binding_hex()))
}
