//! In-flight replacement of a token the Worker handed out and Feishu then
//! refused (99991663/99991665) while clients still hold it: the official
//! SDKs keep a token for up to its whole life and never drop it on a
//! refusal, so without this every running agent fails until restarted.
//!
//! Each token a token endpoint hands out is remembered in this isolate, by
//! digest, with its [`Origin`]: the request that got it, credentials
//! included (memory only, never KV or a log line). When a passed-through
//! call bearing such a token T is refused, [`replacement`] finds the token
//! that replaces it, for T's key only (never another app or tenant):
//!
//! 1. KV: the refusal's eviction read T's reverse-index entry; when one of
//!    T's keys holds another token, another isolate replaced T already;
//! 2. this isolate's memory: T's origin, through its token client
//!    (single-flight; through the coordinator when bound, so one Feishu call
//!    for every isolate);
//! 3. the coordinator, when bound: the object owning T's key still has the
//!    question it served (the credentials in its memory).
//!
//! T is then "moved": until T's own expiry a call bearing it has its
//! `Authorization` rewritten to the key's current token before it leaves,
//! which costs every passed-through call one in-memory lookup ([`seen`]);
//! a small body is kept for a replay only for a token the isolate knows.

use crate::cache::evict::Eviction;
use crate::config::{Brand, Config};
use crate::sources::clients::MAX_CACHED_TOKENS;
use crate::sources::state;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::self_built::{Kind, SelfBuiltRequest};
use feishu_tenant_token::store_app::CallerAppTokenRequest;
use feishu_tenant_token::{
    AccessToken, Clock, Error, Source, TenantKey, TokenClient, TokenGrant, TokenRequest, kv,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::Env;

/// Where a token the Worker handed out came from: enough for its key's
/// client to serve the key's current token.
pub enum Origin {
    /// `tenant_access_token` for a caller's app token and tenant.
    Tenant(TokenRequest),
    /// A self-built app's token of one kind, for its id and secret.
    Internal(Kind, SelfBuiltRequest),
    /// A store app's app token, for its id, secret and a ticket.
    StoreApp(CallerAppTokenRequest),
    /// Store-app mode: one tenant's token of the managed app.
    ManagedTenant(TenantKey),
    /// Store-app mode: the managed app's own app token.
    ManagedApp,
}

impl Origin {
    /// The key's current token, or (`bad` given) the one replacing `bad`.
    pub async fn token(
        &self,
        env: &Env,
        config: &Config,
        bad: Option<&AccessToken>,
    ) -> Result<TokenGrant, Error> {
        let unbuilt = |why: String| Error::invalid_input(&why);
        match self {
            Origin::Tenant(r) => {
                let client = state::pass_through(env, config).map_err(unbuilt)?;
                via(&client, r, bad).await
            }
            Origin::Internal(kind, r) => {
                let client = state::internal(env, config, *kind).map_err(unbuilt)?;
                via(&client, r, bad).await
            }
            Origin::StoreApp(r) => {
                let client = state::store_app_tokens(env, config).map_err(unbuilt)?;
                via(&client, r, bad).await
            }
            Origin::ManagedTenant(_) | Origin::ManagedApp => {
                let Some(managed) = config.managed_here() else {
                    return Err(Error::invalid_input("store-app mode is off"));
                };
                let chain = state::managed(env, config, managed).map_err(unbuilt)?;
                match self {
                    Origin::ManagedTenant(t) => {
                        via(chain.tenants(), &chain.request(t.clone()), bad).await
                    }
                    _ => via(chain.apps().client(), chain.apps().request(), bad).await,
                }
            }
        }
    }
}

async fn via<S: Source>(
    client: &TokenClient<S, JsClock>,
    request: &S::Request,
    bad: Option<&AccessToken>,
) -> Result<TokenGrant, Error> {
    match bad {
        Some(bad) => client.replace(request, bad).await,
        None => client.get(request).await,
    }
}

/// What a moved token's calls are rewritten to.
#[derive(Clone)]
pub enum Current {
    /// Its key's current token, as the origin's client serves it.
    Origin(Rc<Origin>),
    /// The replacement found in KV or from the coordinator.
    Token(TokenGrant),
}

impl Current {
    /// The token a call bearing the moved token goes out with; `None` when
    /// there is none now (the caller's own token then goes, as it came).
    pub async fn token(&self, env: &Env, config: &Config) -> Option<AccessToken> {
        match self {
            Current::Origin(origin) => origin.token(env, config, None).await.ok().map(|g| g.token),
            Current::Token(g) => (g.expires_at_ms > JsClock.now_ms()).then(|| g.token.clone()),
        }
    }
}

/// A token this isolate knows: one it handed out (with its origin), or one
/// Feishu refused and that moved (with what replaces it), or both. Each
/// entry names its brand: a token handed out under `/lark` is never
/// replaced or rewritten at the top level, nor the other way round.
struct Known {
    brand: Brand,
    origin: Option<Rc<Origin>>,
    moved_to: Option<Current>,
    /// Until the token expires: no client holds it longer.
    until_ms: u64,
}

impl Known {
    fn new(brand: Brand, until_ms: u64) -> Self {
        Self {
            brand,
            origin: None,
            moved_to: None,
            until_ms,
        }
    }
}

thread_local! {
    /// The tokens this isolate knows, by digest.
    static KNOWN: RefCell<HashMap<[u8; 32], Known>> = RefCell::default();
}

/// The entry for `digest`, made by `new` when absent. Bounded like the token
/// caches: when full, the expired entries go, and if none had expired, all
/// (refilled as tokens are handed out; a token forgotten so is still
/// recovered through KV or the coordinator).
fn with_entry(digest: [u8; 32], new: impl FnOnce() -> Known, f: impl FnOnce(&mut Known)) {
    KNOWN.with(|k| {
        let mut table = k.borrow_mut();
        if table.len() >= MAX_CACHED_TOKENS && !table.contains_key(&digest) {
            let now = JsClock.now_ms();
            table.retain(|_, e| e.until_ms > now);
            if table.len() >= MAX_CACHED_TOKENS {
                table.clear();
            }
        }
        f(table.entry(digest).or_insert_with(new));
    });
}

/// Remembers that a token endpoint handed out `grant`, got by `origin`
/// (called only when the token is new here: a hit costs one digest and one
/// lookup).
pub fn handed_out(config: &Config, grant: &TokenGrant, origin: impl FnOnce() -> Origin) {
    if !config.replace_refused {
        return;
    }
    let digest = kv::token_digest(&grant.token);
    let known = KNOWN.with(|k| k.borrow().get(&digest).is_some_and(|e| e.origin.is_some()));
    if !known {
        remember(config.brand, digest, grant, Rc::new(origin()));
    }
}

fn remember(brand: Brand, digest: [u8; 32], grant: &TokenGrant, origin: Rc<Origin>) {
    let new = || Known::new(brand, grant.expires_at_ms);
    with_entry(digest, new, |e| e.origin = Some(origin));
}

/// What this isolate knows of the bearer token with this digest: the one
/// lookup every passed-through call pays.
pub enum Seen {
    /// Nothing: the call goes as it came, its body streamed.
    Unknown,
    /// A token it handed out or saw replaced: a small body is kept for a
    /// replay; `Some` when calls bearing it are rewritten.
    Known(Option<Current>),
}

pub fn seen(brand: Brand, digest: &[u8; 32]) -> Seen {
    KNOWN.with(|k| {
        let k = k.borrow();
        match k.get(digest) {
            Some(e) if e.brand == brand && e.until_ms > JsClock.now_ms() => {
                Seen::Known(e.moved_to.clone())
            }
            _ => Seen::Unknown,
        }
    })
}

/// Records that the token with digest `refused` (as clients hold it) moved
/// to `to`, until the refused token's own expiry `until_ms`: a token is
/// rewritten while it would have been valid, never after.
pub fn record_moved(brand: Brand, refused: [u8; 32], to: Current, until_ms: u64) {
    let new = || Known::new(brand, until_ms);
    with_entry(refused, new, |e| {
        e.moved_to = Some(to);
        e.until_ms = e.until_ms.min(until_ms);
    });
}

/// How a replacement was found (logged).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    Kv,
    Memory,
    Coordinator,
}

/// A refused token's replacement, and until when the refused one may still
/// be rewritten to it (the refused token's own expiry).
pub struct Replacement {
    pub grant: TokenGrant,
    pub until_refused_ms: u64,
}

/// The token replacing `refused` (already evicted; `evicted` is what KV
/// held), and what later calls bearing it go out with; `None` when the
/// Worker cannot tell (not a token it handed out, or one this isolate never
/// saw, with no replacement in KV and no coordinator that still knows it),
/// and always once `refused` has passed its own expiry (as this isolate or
/// its reverse-index entry knows it; unknown: never replaced): an expired
/// token is Feishu's to refuse, so a leaked one dies on time.
pub async fn replacement(
    env: &Env,
    config: &Config,
    refused: &AccessToken,
    evicted: Eviction,
) -> Option<(Replacement, Current, Found)> {
    let now = JsClock.now_ms();
    let digest = kv::token_digest(refused);
    let known = KNOWN.with(|k| {
        k.borrow()
            .get(&digest)
            .filter(|e| e.brand == config.brand)
            .map(|e| (e.until_ms, e.origin.clone()))
    });
    let until = known.as_ref().map(|(u, _)| *u).or(evicted.until_ms);
    let until_refused_ms = until.filter(|u| *u > now)?;
    let found = |grant: TokenGrant| Replacement {
        grant,
        until_refused_ms,
    };
    if let Some(g) = evicted.newer.filter(|g| g.expires_at_ms > now) {
        return Some((found(g.clone()), Current::Token(g), Found::Kv));
    }
    if let Some(origin) = known.and_then(|(_, o)| o) {
        let g = origin.token(env, config, Some(refused)).await.ok()?;
        let fresh = kv::token_digest(&g.token);
        remember(config.brand, fresh, &g, Rc::clone(&origin));
        return Some((found(g), Current::Origin(origin), Found::Memory));
    }
    // (`evicted.keys` are this brand's only.)
    let key = evicted.keys.first()?;
    let g = crate::coordinator::ask::replace(env, key, digest).await?;
    Some((found(g.clone()), Current::Token(g), Found::Coordinator))
}
