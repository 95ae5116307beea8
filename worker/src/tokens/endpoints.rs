//! The four token endpoints: each reads its body, picks the isolate's
//! client and answers in Feishu's shape, remembering where the token came
//! from (`gateway/replacement.rs`: replaced in flight if Feishu refuses it).

use crate::agents::endpoints as agents;
use crate::calls::replacement::{Origin, handed_out};
use crate::config::Config;
use crate::http::reply::{self, Local, Member};
use crate::http::request::{json_body, wants_refresh};
use crate::keys::api_keys::is_managed_app;
use crate::keys::ours::carries_ours;
use crate::managed;
use crate::sources::body::{self, Refusal, refused};
use crate::sources::clients::store_app_token_key;
use crate::sources::state;
use feishu_tenant_token::self_built::{Kind, SelfBuiltRequest};
use feishu_tenant_token::store_app::CallerAppTokenRequest;
use feishu_tenant_token::{Served, Source, TokenGrant};
use worker::{Env, Request, Response, Result};

/// The JSON body (within its limit) read by `parse`, or the answer refusing it.
async fn parsed_body<T>(
    req: &mut Request,
    parse: impl FnOnce(&[u8]) -> core::result::Result<T, Refusal>,
) -> Result<core::result::Result<T, Response>> {
    let bytes = match json_body(req).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(Err(refusal)),
    };
    match parse(&bytes) {
        Ok(v) => Ok(Ok(v)),
        Err(r) => refused(r).map(Err),
    }
}

/// `POST /open-apis/auth/v3/{tenant,app}_access_token/internal`: a self-built
/// app's token, cached under its id and a digest of its secret, so a wrong
/// secret goes to Feishu and gets Feishu's refusal.
pub async fn internal_token(
    mut req: Request,
    env: &Env,
    config: &Config,
    kind: Kind,
) -> Result<Response> {
    let app = match parsed_body(&mut req, body::internal_request).await? {
        Ok(v) => v,
        Err(refusal) => return Ok(refusal),
    };
    let member = match kind {
        Kind::TenantToken => Member::TenantAccessToken,
        Kind::AppToken => Member::AppAccessToken,
    };
    if let Some(answer) = agents::key_token(env, config, &app, member, false).await {
        return answer;
    }
    let client = match state::internal(env, config, kind) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let request = SelfBuiltRequest::new(app);
    let hand = |g: &TokenGrant| handed_out(config, g, || Origin::Internal(kind, request.clone()));
    reply::served_token(&client, &request, wants_refresh(&req), member, hand).await
}

/// `POST /open-apis/auth/v3/app_access_token`: a store app's app token for
/// the caller's id, secret and ticket, cached under the id and a digest of
/// the secret (not the ticket, which rotates hourly while the token stays)
/// and served from the cache only with a ticket Feishu accepted; for the
/// managed app itself (same id and secret), the Worker's own chain.
pub async fn store_app_token(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let (app, ticket) = match parsed_body(&mut req, body::app_token_request).await? {
        Ok(v) => v,
        Err(refusal) => return Ok(refusal),
    };
    if let Some(answer) = agents::key_token(env, config, &app, Member::AppAccessToken, true).await {
        return answer;
    }
    if let Some(managed) = is_managed_app(config, &app) {
        return managed::endpoints::own_app_token(&req, env, config, managed).await;
    }
    if ticket
        .as_deref()
        .is_some_and(|t| carries_ours(t, &config.api_keys))
    {
        // One of the Worker's own credentials as a ticket: never sent on.
        return reply::json_response(
            400,
            r#"{"code":10012,"msg":"app_ticket is invalid"}"#.to_owned(),
        );
    }
    let ticket = match body::ticket(ticket) {
        Ok(t) => t,
        Err(r) => return refused(r),
    };
    let client = match state::store_app_tokens(env, config) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let request = CallerAppTokenRequest::new(app, ticket);
    let app_key = store_app_token_key(config.brand, &request);
    let digest = request.ticket_digest();
    if !state::ticket_accepted(&app_key, &digest) {
        // A ticket Feishu has not accepted for this app here: Feishu decides,
        // past memory, KV and the forced-refresh throttle (Feishu itself wants
        // both the secret and a valid ticket: a leaked secret alone must not
        // get the cached app token).
        let answer = client.source().fetch_fresh(&request).await;
        if let Ok((grant, _)) = &answer {
            state::accept_ticket(&app_key, digest);
            handed_out(config, grant, || Origin::StoreApp(request.clone()));
        }
        let answer = answer.map(|(grant, trace)| (grant, Served::Fetched(trace)));
        return reply::token_answer(answer, wants_refresh(&req), Member::AppAccessToken);
    }
    let hand = |g: &TokenGrant| handed_out(config, g, || Origin::StoreApp(request.clone()));
    reply::served_token(
        &client,
        &request,
        wants_refresh(&req),
        Member::AppAccessToken,
        hand,
    )
    .await
}

pub async fn tenant_token(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let request = match parsed_body(&mut req, body::tenant_token_request).await? {
        Ok(v) => v,
        Err(refusal) => return Ok(refusal),
    };
    if let Some(answer) = agents::tenant_token(env, config, &request).await {
        return answer;
    }
    let client = match state::pass_through(env, config) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    let hand = |g: &TokenGrant| handed_out(config, g, || Origin::Tenant(request.clone()));
    reply::served_token(
        &client,
        &request,
        wants_refresh(&req),
        Member::TenantAccessToken,
        hand,
    )
    .await
}
