//! What a user's object (`objects::user_object`, one per brand, app and
//! user, named by `Who::object_name`) does: the user's grant in the object's
//! storage (sealed, `store.rs`), served by the core's `UserTokens`, so every
//! refresh of the user, from any isolate or location, is this object's one
//! flight; and the keep-alive alarm.

use crate::cache::object_store::ObjectStore;
use crate::http::reply;
use crate::log;
use crate::sources::clients::{Net, transport};
use crate::sources::state;
use crate::users::protocol::{Answer, Question, SIGN_OUT, SIGNED_IN, TOKEN, Who};
use crate::users::store::{GrantStore, Presence};
use crate::users::{app_credentials, schedule_alarm};
use core::cell::RefCell;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::user_token::{UserStore, UserTokenFailure, UserTokens, keep_alive_at};
use feishu_tenant_token::{AccessToken, Clock};
use std::rc::Rc;
use worker::{Env, Response, State};

/// After a keep-alive refresh failed (Feishu unreachable), the next try.
const KEEPALIVE_RETRY_MS: u64 = 5 * 60 * 1000;

pub struct User {
    who: Who,
    tokens: UserTokens<Net, JsClock, GrantStore>,
    presence: Presence,
    keepalive_days: u32,
}

/// The object's user, built on its first question (or alarm).
pub type Slot = RefCell<Option<Rc<User>>>;

fn build(state: &State, env: &Env, who: &Who) -> Result<User, String> {
    let config = state::config_for(env, who.brand)?;
    let Some(users) = config.users.as_ref() else {
        return Err("user tokens are off".into());
    };
    let app = app_credentials(&config, &who.app)?;
    let store = ObjectStore::of(state);
    let grants = GrantStore::new(store.clone(), users.seal_key.clone(), who.binding());
    let tokens = UserTokens::new(
        transport(&config)?,
        JsClock,
        config.base_url.clone(),
        app,
        grants,
        config.freshness.min_validity_secs(),
    )
    // This object is its user's only refresher: its single flight is the
    // one, so nothing is claimed in its storage.
    .without_claims();
    Ok(User {
        who: who.clone(),
        tokens,
        presence: Presence::new(store),
        keepalive_days: users.keepalive_days,
    })
}

fn object(slot: &Slot, state: &State, env: &Env, who: &Who) -> Result<Rc<User>, String> {
    if let Some(o) = slot.borrow().as_ref() {
        // One object per user: a question naming another is not for it.
        return if o.who == *who {
            Ok(Rc::clone(o))
        } else {
            Err("a question for another user".into())
        };
    }
    let o = Rc::new(build(state, env, who)?);
    *slot.borrow_mut() = Some(Rc::clone(&o));
    Ok(o)
}

fn answer(a: &Answer) -> worker::Result<Response> {
    reply::json_response(200, log::json(a))
}

/// A front's question `op` with its JSON `body`.
pub async fn fetch(
    slot: &Slot,
    state: &State,
    env: &Env,
    op: &str,
    body: &[u8],
) -> worker::Result<Response> {
    let Ok(q) = serde_json::from_slice::<Question>(body) else {
        return reply::json_response(400, String::new());
    };
    let o = match object(slot, state, env, &q.who) {
        Ok(o) => o,
        Err(why) => {
            log::warn("user_object_failed", &why);
            return reply::json_response(503, String::new());
        }
    };
    let user = o.who.user.as_str();
    let now = JsClock.now_ms();
    match op {
        TOKEN => {
            let served = match q.refused.map(AccessToken::new) {
                Some(refused) => o.tokens.replacing(user, &refused).await,
                None => o.tokens.access_token(user).await,
            };
            if served.is_ok() {
                o.presence.used(&o.who, now).await;
            }
            o.keep_alive_after_store(state, now).await;
            match served {
                Ok(t) => answer(&Answer::Token {
                    access_token: t.token.expose_secret().to_owned(),
                    expires_at_ms: t.expires_at_ms,
                }),
                Err(UserTokenFailure::SignedOut { feishu_code }) => {
                    // Feishu ended a grant that was here: nothing left to
                    // keep alive. A user never signed in here (or signed
                    // out already) costs one storage read, nothing written
                    // or deleted: a made-up open_id leaves no storage.
                    if feishu_code.is_some() {
                        o.presence.gone().await;
                    }
                    answer(&Answer::SignedOut { feishu_code })
                }
                Err(UserTokenFailure::Failed(e)) => reply::upstream_error(&e),
            }
        }
        SIGNED_IN => {
            let grant = q.sealed.as_deref().and_then(|t| o.tokens.store().open(t));
            let Some(grant) = grant else {
                return reply::json_response(400, String::new());
            };
            if o.tokens.signed_in(user, &grant).await.is_err() {
                return reply::json_response(503, String::new());
            }
            o.presence.arrived(&o.who, now).await;
            o.keep_alive_after_store(state, now).await;
            answer(&Answer::Done)
        }
        SIGN_OUT => {
            let deleted = o.tokens.store().delete(user).await;
            o.presence.gone().await;
            match deleted {
                Ok(()) => answer(&Answer::Done),
                Err(_) => reply::json_response(503, String::new()),
            }
        }
        _ => reply::json_response(404, String::new()),
    }
}

impl User {
    /// After a grant was stored (a sign-in, a refresh): the keep-alive's
    /// alarm for it, when the operator turned the keep-alive on.
    async fn keep_alive_after_store(&self, state: &State, now: u64) {
        let lapses_at = self.tokens.store().take_stored();
        if let Some(at) = lapses_at.filter(|_| self.keepalive_days > 0) {
            schedule_alarm(state, keep_alive_at(now, at)).await;
        }
    }
}

/// The keep-alive: refreshes the grant before its refresh token lapses
/// while the user was served within `USER_KEEPALIVE_DAYS`.
pub async fn alarm(slot: &Slot, state: &State, env: &Env) -> worker::Result<Response> {
    let presence = Presence::new(ObjectStore::of(state));
    let Some((who, used_ms)) = presence.read().await else {
        return Response::empty();
    };
    let o = match object(slot, state, env, &who) {
        Ok(o) => o,
        Err(why) => {
            log::warn("user_keepalive_failed", &why);
            return Response::empty();
        }
    };
    let now = JsClock.now_ms();
    let days = u64::from(o.keepalive_days);
    if days == 0 || now.saturating_sub(used_ms) > days * 86_400_000 {
        // Off, or idle for longer than the operator keeps users: the grant
        // lapses by itself.
        return Response::empty();
    }
    match o.tokens.rotate(&who.user).await {
        Ok(_) => o.keep_alive_after_store(state, now).await,
        Err(UserTokenFailure::SignedOut { .. }) => o.presence.gone().await,
        Err(UserTokenFailure::Failed(e)) => {
            log::warn("user_keepalive_failed", e.message());
            schedule_alarm(state, now.saturating_add(KEEPALIVE_RETRY_MS)).await;
        }
    }
    Response::empty()
}
