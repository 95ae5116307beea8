//! Pass-through: the request goes on to Feishu as it came; a refusal of its
//! bearer token evicts that token and, for a token the Worker handed out,
//! replaces it in flight (`replacement.rs`). `app_ticket/resend` for the
//! managed app stays here (its once-a-minute limit).

use crate::agents;
use crate::calls::evict::evict;
use crate::calls::forward::{self, BodyPlan, MAX_REPLAY_BODY_BYTES, TENANT_HEADER, USER_HEADER};
use crate::calls::limited::{answer, send_within_limits};
use crate::calls::managed_call::managed_call;
use crate::calls::replacement::{self, Seen};
use crate::calls::upstream::{Outgoing, passed_on};
use crate::config::{Brand, Config};
use crate::http::reply::{self, Local};
use crate::http::request::{MAX_BODY_BYTES, json_body, read_body};
use crate::keys::api_keys::{holds_key, is_managed_app};
use crate::keys::bearer::bearer;
use crate::keys::gateway_token::is_gateway_token;
use crate::keys::ours::carries_ours;
use crate::log;
use crate::managed;
use crate::sources::body::{self, refused};
use feishu_tenant_token::{AccessToken, api_path, kv};
use serde::Serialize;
use worker::{Env, Request, Response, Result};

pub fn pass_through_off() -> Result<Response> {
    reply::local(Local::NotFound, "no such path (PASS_THROUGH is off)")
}

/// Any other `/open-apis/*` path: pass-through, or a managed call when the
/// request names a tenant with `X-Tenant-Key`.
pub async fn open_api(req: Request, env: &Env, config: &Config) -> Result<Response> {
    if !config.pass_through {
        return pass_through_off();
    }
    let header = req.headers().get("authorization")?.unwrap_or_default();
    let bearer = bearer(&header);
    if let Some(token) = bearer.filter(|t| is_gateway_token(t)) {
        // (Its allow-list check reads the path as below: 403 naming the key.)
        return agents::calls::call(req, env, config, token).await;
    }
    // Every other call, whatever token it goes with: a path that could be
    // read two ways (an escaped separator, `..;`) is refused before any
    // check matches it or anything is sent.
    let full = req.path();
    if let Err(why) = api_path::normalised(Brand::of_path(&full).1) {
        return reply::local(Local::InvalidField, why.message());
    }
    if req.headers().get(TENANT_HEADER)?.is_some() {
        return managed_call(req, env, config).await;
    }
    if req.headers().get(USER_HEADER)?.is_some() {
        return crate::users::calls::user_call(req, env, config).await;
    }
    let bearer = bearer.map(AccessToken::new);
    pass_on(req, env, config, bearer).await
}

/// `POST /callback/ws/endpoint`: passed on as it is (its body, the app's id
/// and secret, is never logged). An agent key in place of the secret is
/// answered here, as Feishu answers a wrong secret: keys never reach Feishu,
/// and a long connection's events are not within any key's allow-list.
pub async fn callback(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    if !config.pass_through {
        return pass_through_off();
    }
    let bytes = match read_body(&mut req, MAX_BODY_BYTES).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    if body::ws_secret_is_ours(&bytes, &config.api_keys) {
        return reply::json_response(
            200,
            r#"{"code":514,"msg":"auth failed: an agent key, gateway token or API key cannot open a long connection (it needs the app's own secret), and none is sent to Feishu","data":{}}"#.to_owned(),
        );
    }
    forward_and_heal(&req, env, config, Outgoing::Bytes(bytes), Bearer::none()).await
}

/// `POST /open-apis/auth/v3/app_ticket/resend`: for the managed app (same id
/// and secret), through its once-a-minute limit; for any other app, on to
/// Feishu with the body as sent.
pub async fn ticket_resend(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let bytes = match json_body(&mut req).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    let app = match body::internal_request(&bytes) {
        Ok(a) => a,
        Err(r) => return refused(r),
    };
    if let Some(managed) = is_managed_app(config, &app) {
        return managed::endpoints::resend(env, config, managed).await;
    }
    if carries_ours(app.app_secret().expose_secret(), &config.api_keys) {
        // One of the Worker's own credentials as a secret: Feishu's answer
        // to a wrong secret, and nothing sent.
        return reply::wrong_secret();
    }
    if !config.pass_through {
        return pass_through_off();
    }
    forward_and_heal(&req, env, config, Outgoing::Bytes(bytes), Bearer::none()).await
}

/// Passes the request on as it is. A bearer token the Worker replaced after
/// Feishu refused it goes out as its key's current token; a refusal evicts
/// the token, and when the Worker handed it out, its replacement is found
/// and the call replayed once with it (when its body was kept).
async fn pass_on(
    mut req: Request,
    env: &Env,
    config: &Config,
    bearer: Option<AccessToken>,
) -> Result<Response> {
    // The one in-memory lookup every passed-through call pays.
    let digest = bearer
        .as_ref()
        .filter(|_| config.replace_refused)
        .map(kv::token_digest);
    let seen = match &digest {
        Some(d) => replacement::seen(config.brand, d),
        None => Seen::Unknown,
    };
    // GET and HEAD carry no body upstream (fetch refuses one), whatever
    // came. A body declared small enough is kept for a replay, only for a
    // token this isolate knows (anyone else's body is streamed, so that a
    // caller with a made-up token cannot make the isolate hold it).
    let length = req.headers().get("content-length")?;
    let stream = req.inner().body();
    let plan = forward::body_plan(&req.inner().method(), length.as_deref(), stream.is_some());
    let body = match (plan, &seen) {
        (BodyPlan::None, _) => Outgoing::None,
        (BodyPlan::Keep, Seen::Known(_)) => {
            match read_body(&mut req, MAX_REPLAY_BODY_BYTES as usize).await? {
                Ok(b) => Outgoing::Bytes(b),
                Err(refusal) => return Ok(refusal),
            }
        }
        _ => Outgoing::Stream(stream),
    };
    // A token this isolate handed out or saw replaced is the app's: its
    // limits may ask the limits' object (a made-up one never does).
    let vouched = matches!(seen, Seen::Known(_));
    let rewrite = match seen {
        Seen::Known(Some(current)) => current.token(env, config).await,
        _ => None,
    };
    let bearer = Bearer {
        token: bearer,
        digest,
        rewrite,
        vouched,
    };
    forward_and_heal(&req, env, config, body, bearer).await
}

/// The caller's bearer token as this isolate knows it.
struct Bearer {
    token: Option<AccessToken>,
    /// Its digest, when calls bearing it may be replaced (`REPLACE_REFUSED`).
    digest: Option<[u8; 32]>,
    /// The token sent in its place (Feishu refused it and the Worker knows
    /// its replacement).
    rewrite: Option<AccessToken>,
    /// The app's own: handed out or replaced by this isolate
    /// (`calls::limited::send_within_limits`).
    vouched: bool,
}

impl Bearer {
    fn none() -> Self {
        Self {
            token: None,
            digest: None,
            rewrite: None,
            vouched: false,
        }
    }
}

/// Sends the request (with `rewrite` in place of the bearer token when
/// given); on a refusal of the token sent, evicts it and, for a token the
/// Worker can replace, replays once with the replacement.
async fn forward_and_heal(
    req: &Request,
    env: &Env,
    config: &Config,
    body: Outgoing,
    bearer: Bearer,
) -> Result<Response> {
    let Bearer {
        token: bearer,
        digest,
        rewrite,
        vouched,
    } = bearer;
    // An API key is the Worker's secret: it is never sent on to Feishu.
    if holds_key(req, &config.api_keys) {
        return reply::local(
            Local::InvalidField,
            "an API key call needs `X-Tenant-Key: <tenant_key>`; the key is never sent to Feishu",
        );
    }
    let sent = rewrite.clone().or(bearer);
    let first = match send_within_limits(
        req,
        env,
        config,
        sent.as_ref(),
        rewrite.as_ref(),
        &body,
        vouched,
    )
    .await?
    {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let Some(sent) = sent else {
        return answer(first);
    };
    if !first.verdict.refused {
        return answer(first);
    }
    let resp = first.resp;
    let evicted = evict(env, config.brand, &sent, "pass_through").await;
    let Some(digest) = digest else {
        return Ok(passed_on(resp));
    };
    let Some((fresh, current, found)) = replacement::replacement(env, config, &sent, evicted).await
    else {
        return Ok(passed_on(resp));
    };
    replacement::record_moved(config.brand, digest, current, fresh.until_refused_ms);
    let fresh = fresh.grant;
    // A body that went with the first send cannot go again: the refusal goes
    // back as it came (the client's next call is rewritten).
    let replayed = !matches!(body, Outgoing::Stream(_));
    #[derive(Serialize)]
    struct Line {
        event: &'static str,
        found: replacement::Found,
        replayed: bool,
    }
    log::info(&Line {
        event: "token_replaced",
        found,
        replayed,
    });
    if !replayed {
        return Ok(passed_on(resp));
    }
    match send_within_limits(
        req,
        env,
        config,
        Some(&fresh.token),
        Some(&fresh.token),
        &body,
        true,
    )
    .await?
    {
        Ok(s) => answer(s),
        Err(refusal) => Ok(refusal),
    }
}
