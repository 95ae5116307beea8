//! The isolate's slots: the settings and the token clients every request it
//! serves shares, so concurrent requests for one key make one KV read and one
//! upstream call. Each is built on first use from the request's settings
//! (`tokens/clients.rs`, `managed/chain.rs` say how).

use crate::config::{Brand, Config, Managed};
use crate::sources::chain::{ManagedAt, ManagedChain, build_managed};
use crate::sources::clients::MAX_CACHED_TOKENS;
use crate::sources::clients::{
    self, Internal, PassThrough, Role, StoreAppTokens, build_internal, build_pass_through,
};
use feishu_tenant_token::AccessToken;
use feishu_tenant_token::secret::constant_time_eq;
use feishu_tenant_token::self_built::Kind;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::Env;

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
    /// One set of slots per brand (`Brand::Feishu`, then `Brand::Lark`):
    /// separate memories, so a token of one brand is never served for the
    /// other.
    static ISOLATE: RefCell<[Isolate; 2]> = RefCell::new(Default::default());
    /// Store apps' tickets Feishu accepted, as digests, by the app's KV key.
    static ACCEPTED_TICKETS: RefCell<HashMap<String, Vec<[u8; 32]>>> = RefCell::default();
}

/// Tickets remembered per app: Feishu rotates an app's ticket about hourly
/// and the previous one stays valid until the next rotation.
const ACCEPTED_TICKETS_PER_APP: usize = 4;

/// Whether Feishu accepted the ticket with this digest for the app whose KV
/// key is `app_key` (in this isolate). Compared in constant time.
pub fn ticket_accepted(app_key: &str, digest: &[u8; 32]) -> bool {
    ACCEPTED_TICKETS.with(|t| {
        t.borrow().get(app_key).is_some_and(|known| {
            known
                .iter()
                .fold(false, |found, d| found | constant_time_eq(d, digest))
        })
    })
}

/// Remembers that Feishu accepted the ticket with this digest for the app.
/// Bounded: a few tickets per app, and as many apps as the token caches
/// keep (past that, every app's memory is dropped and refilled by Feishu).
pub fn accept_ticket(app_key: &str, digest: [u8; 32]) {
    ACCEPTED_TICKETS.with(|t| {
        let mut t = t.borrow_mut();
        if t.len() >= MAX_CACHED_TOKENS && !t.contains_key(app_key) {
            t.clear();
        }
        let known = t.entry(app_key.to_owned()).or_default();
        if !known.contains(&digest) {
            if known.len() == ACCEPTED_TICKETS_PER_APP {
                known.remove(0);
            }
            known.push(digest);
        }
    });
}

/// The settings as they serve `brand` (`Config::for_brand`), read once per
/// isolate: a deployment's vars and secrets do
/// not change under a running isolate (a new version starts new isolates),
/// and reading them is a dozen calls into JS per request (measured: /healthz
/// took 0.35 ms more than an empty Worker with them read each time). A
/// misconfiguration is not kept: each request reports it afresh.
pub fn config_for(env: &Env, brand: Brand) -> Result<Rc<Config>, String> {
    let slot = brand as usize;
    if let Some(c) = ISOLATE.with(|s| s.borrow()[slot].config.clone()) {
        return Ok(c);
    }
    let config = match brand {
        Brand::Feishu => Config::parse(|name| env.var(name).ok().map(|v| v.to_string()))?,
        // The same settings, read once: Lark's copy is derived from them.
        Brand::Lark => config_for(env, Brand::Feishu)?.for_brand(Brand::Lark),
    };
    let config = Rc::new(config);
    ISOLATE.with(|s| s.borrow_mut()[slot].config = Some(Rc::clone(&config)));
    Ok(config)
}

/// The isolate's value in `slot` of `brand`'s slots, built by `build` on
/// first use. `build` runs outside the borrow, so it may take as long as it
/// likes.
fn once<T>(
    brand: Brand,
    slot: fn(&mut Isolate) -> &mut Option<Rc<T>>,
    build: impl FnOnce() -> Result<T, String>,
) -> Result<Rc<T>, String> {
    let at = brand as usize;
    if let Some(v) = ISOLATE.with(|s| slot(&mut s.borrow_mut()[at]).clone()) {
        return Ok(v);
    }
    let v = Rc::new(build()?);
    ISOLATE.with(|s| *slot(&mut s.borrow_mut()[at]) = Some(Rc::clone(&v)));
    Ok(v)
}

pub fn pass_through(env: &Env, config: &Config) -> Result<Rc<PassThrough>, String> {
    once(
        config.brand,
        |s| &mut s.pass_through,
        || build_pass_through(env, config, Role::Front),
    )
}

pub fn store_app_tokens(env: &Env, config: &Config) -> Result<Rc<StoreAppTokens>, String> {
    once(
        config.brand,
        |s| &mut s.store_app_tokens,
        || clients::build_store_app_tokens(env, config),
    )
}

pub fn internal(env: &Env, config: &Config, kind: Kind) -> Result<Rc<Internal>, String> {
    let slot: fn(&mut Isolate) -> &mut Option<Rc<Internal>> = match kind {
        Kind::TenantToken => |s| &mut s.internal_tenant,
        Kind::AppToken => |s| &mut s.internal_app,
    };
    once(config.brand, slot, || {
        build_internal(env, config, kind, Role::Front)
    })
}

pub fn managed(env: &Env, config: &Config, managed: &Managed) -> Result<Rc<ManagedChain>, String> {
    once(
        config.brand,
        |s| &mut s.managed,
        || build_managed(env, config, managed, ManagedAt::Front),
    )
}

/// Forgets `token` wherever this isolate's memory holds it (compare-and-
/// invalidate: an entry holding a newer token stays), after Feishu refused
/// it. Only clients already built are looked at; none is built for this.
pub fn forget_refused(token: &AccessToken) -> usize {
    ISOLATE.with(|brands| {
        let brands = brands.borrow();
        let mut dropped = 0;
        for s in brands.iter() {
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
        }
        dropped
    })
}
