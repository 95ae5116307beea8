//! The managed app's store-app chain (ticket → `app_access_token` → tenant
//! tokens), each token layer behind KV, as it runs in each of three places.

use crate::cache::layer::{KvThenUpstream, longest_fetch_ms};
use crate::cache::object_store::ObjectStore;
use crate::cache::workers_kv::WorkerKv;
use crate::config::{Brand, Config, Managed};
use crate::coordinator::ask::ask;
use crate::coordinator::protocol::{managed_app, managed_tenant};
use crate::coordinator::tickets::Tickets;
use crate::coordinator::{BINDING, STORE_APP_BINDING};
use crate::sources::clients::{MAX_CACHED_TOKENS, Net, transport};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::kv;
use feishu_tenant_token::store_app::{
    AppTokenSource, StoreAppBuilder, StoreAppChain, StoreAppRequest, TenantTokenSource,
};
use worker::Env;

type KvApps = KvThenUpstream<AppTokenSource<Net, JsClock, Tickets>, WorkerKv, JsClock>;

/// Managed mode: the chain of the one app whose secrets the Worker holds.
pub type ManagedChain = StoreAppChain<
    KvApps,
    KvThenUpstream<TenantTokenSource<KvApps, Net, JsClock>, WorkerKv, JsClock>,
    JsClock,
>;

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
    let store = WorkerKv::from_env(env)?;
    let app_id = managed.app.app_id().to_owned();
    let longest = longest_fetch_ms(config.retry, config.timeout_ms);
    let app_key = kv::app_token_key(&app_id);
    let (tickets, apps_kv) = match &at {
        ManagedAt::AppObject(own) => (
            Tickets::in_object(own.clone(), store.clone(), app_id.clone()),
            store.clone().mirroring(app_key.clone(), own.clone()),
        ),
        _ => (
            Tickets::new(env, store.clone(), app_id.clone()),
            store.clone(),
        ),
    };
    // Store-app mode serves `FEISHU_BASE_URL`'s brand only (`managed_here`).
    let ask_app = match at {
        ManagedAt::AppObject(_) => None,
        _ => ask(env, STORE_APP_BINDING, Brand::Feishu, managed_app),
    };
    let ask_tenant = match at {
        ManagedAt::Front => ask(env, BINDING, Brand::Feishu, managed_tenant),
        _ => None,
    };
    let chain = StoreAppBuilder::new(
        transport(config)?,
        JsClock,
        config.base_url.clone(),
        managed.app.clone(),
        tickets,
    )
    .retry(config.retry)
    .freshness(config.freshness)
    .revalidate_after(config.memory_revalidate_ms)
    .max_tenants(MAX_CACHED_TOKENS)
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
