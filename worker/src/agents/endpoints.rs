//! The token endpoints' side of agent keys: an agent key where an app
//! secret goes gets a gateway token in Feishu's shape; anything shaped as a
//! key but not one (unknown, expired) gets Feishu's answer to a wrong
//! secret, and never reaches Feishu.

use crate::agents::grants::{Denied, Minted};
use crate::agents::registry::{self, settings, settings_with};
use crate::config::Config;
use crate::http::reply::{self, Local, Member};
use crate::keys::gateway_token::Kind;
use crate::keys::ours::{carries_ours, shaped_as_ours};
use crate::log;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::{AccessToken, AppCredentials, Clock, Served, TokenGrant, TokenRequest};
use serde::Serialize;
use worker::{Env, Response, Result};

/// `Some(answer)` when `app`'s secret is an agent key (or shaped as one):
/// the `.../internal` endpoints (`store` false) and a store app's
/// `app_access_token` (`store` true). `None`: the usual way on.
pub async fn key_token(
    env: &Env,
    config: &Config,
    app: &AppCredentials,
    member: Member,
    store: bool,
) -> Option<Result<Response>> {
    let kind = match member {
        Member::TenantAccessToken => Kind::Tenant,
        Member::AppAccessToken => Kind::App,
    };
    let now = JsClock.now_ms();
    let secret = app.app_secret().expose_secret();
    if config.agents.keys.is_empty() && !shaped_as_ours(secret) {
        // No keys, nothing shaped as one: the usual way on, at no cost.
        return None;
    }
    let keys = registry::keys(env, config, |agents| {
        settings_with(config, agents).key_made_by_us(secret, app.app_id())
    })
    .await;
    match settings(config, &keys).token_for_key(app.app_id(), secret, kind, store, now) {
        Ok(None) if !carries_ours(secret, &config.api_keys) => None,
        Ok(Some(minted)) => Some(answer(minted, now, member)),
        // Feishu's own answer to a wrong secret: for a key unknown or
        // expired, and for an API key where a secret goes (never sent on).
        Ok(None) | Err(_) => Some(reply::wrong_secret()),
    }
}

/// `Some(answer)` when `tenant_access_token` was asked with a gateway app
/// token; `None`: the usual way on.
pub async fn tenant_token(
    env: &Env,
    config: &Config,
    request: &TokenRequest,
) -> Option<Result<Response>> {
    let now = JsClock.now_ms();
    let app_token = request.app_access_token.expose_secret();
    let tenant = request.tenant_key.as_str();
    let keys = registry::keys(env, config, |agents| {
        settings_with(config, agents).signed_by_us(app_token)
    })
    .await;
    match settings(config, &keys).tenant_token_for(app_token, tenant, now) {
        Ok(None) if !carries_ours(app_token, &config.api_keys) => None,
        Ok(Some(minted)) => Some(answer(minted, now, Member::TenantAccessToken)),
        Err(Denied::TenantNotAllowed { key_id }) => Some(reply::local(
            Local::KeyNotAllowed,
            &format!("agent key {key_id:?} does not allow this tenant"),
        )),
        // Feishu's own answer to an app token it does not accept: also for
        // an agent key or API key where an app token goes (never sent on).
        Ok(None) | Err(_) => Some(reply::json_response(
            400,
            r#"{"code":99991664,"msg":"invalid app_access_token"}"#.to_owned(),
        )),
    }
}

fn answer(minted: Minted, now_ms: u64, member: Member) -> Result<Response> {
    #[derive(Serialize)]
    struct Line<'a> {
        event: &'static str,
        key: &'a str,
        token: &'static str,
    }
    log::info(&Line {
        event: "agent_token",
        key: &minted.key_id,
        token: match member {
            Member::TenantAccessToken => "tenant",
            Member::AppAccessToken => "app",
        },
    });
    let secs = minted.expires_at_ms.saturating_sub(now_ms) / 1000;
    let grant = TokenGrant::new(AccessToken::new(minted.token), now_ms, secs);
    reply::token(&grant, now_ms, &Served::Memory, member)
}
