//! Services' and agents' side of user tokens: `GET
//! /v1/users/{open_id}/user_access_token` (a fresh token, refreshed in the
//! user's object) and `DELETE /v1/users/{open_id}` (signed out), each with
//! one of `API_KEYS`.

use crate::agents::grants::Denied;
use crate::agents::registry;
use crate::agents::registry::{settings, settings_with};
use crate::config::Config;
use crate::config::agent_keys::AGENT_KEY_PREFIX;
use crate::config::users::Users;
use crate::http::query;
use crate::http::reply::{self, Local};
use crate::keys::api_keys::key_holder;
use crate::keys::bearer::bearer;
use crate::users::app_credentials;
use crate::users::ask::{ask, namespace, token};
use crate::users::protocol::{Answer, Question, SIGN_OUT, Who};
use crate::users::{directory, held};
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::user_token::is_open_id;
use serde::Serialize;
use worker::{Env, Request, Response, Result};

/// User tokens' settings, or the answer saying they are off.
pub fn users_on(config: &Config) -> Result<core::result::Result<&Users, Response>> {
    match config.users.as_ref() {
        Some(u) => Ok(Ok(u)),
        None => reply::local(
            Local::Misconfigured,
            "user tokens are off: set the secret USER_TOKEN_KEY (`openssl rand -hex 32`) and bind the Durable Objects (USER_OBJECTS, with COORDINATOR and STORE_APP_KEEPER: see wrangler.toml)",
        )
        .map(Err),
    }
}

/// The user `raw_user` names, for the app `app` names (or the only one).
pub fn who(config: &Config, raw_user: &str, app: &str) -> core::result::Result<Who, String> {
    if !is_open_id(raw_user) {
        return Err("no user named: an open_id (ou_...) is expected".into());
    }
    let app = app_credentials(config, app)?;
    Ok(Who {
        brand: config.brand,
        app: app.app_id().to_owned(),
        user: raw_user.to_owned(),
    })
}

/// Where the user signs in again (on this Worker).
pub fn sign_in_url(req: &Request, who: &Who) -> String {
    let url = req.inner().url();
    let origin = query::origin(&url).unwrap_or_default();
    format!("{origin}{}/oauth/login?app={}", who.brand.prefix(), who.app)
}

#[derive(Serialize)]
struct SignedOut<'a> {
    code: i64,
    msg: &'a str,
    error: &'static str,
    sign_in_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    feishu_code: Option<i64>,
}

/// 401: the user must sign in again, and where.
pub fn signed_out(sign_in_url: &str, feishu_code: Option<i64>) -> Result<Response> {
    let (code, status, error) = Local::SignedOut.parts();
    let mut resp = reply::json_response(
        status,
        crate::log::json(&SignedOut {
            code,
            msg: "the user is not signed in (never, signed out, or Feishu ended the grant): send them to sign_in_url",
            error,
            sign_in_url,
            feishu_code,
        }),
    )?;
    resp.headers_mut().set("www-authenticate", "Bearer")?;
    Ok(resp)
}

/// Who may ask for a user: a service with one of `API_KEYS`, or an agent
/// key (`AGENT_KEYS`) listing the user.
pub struct Prepared {
    pub ns: worker::ObjectNamespace,
    pub who: Who,
    /// The agent key's id and digest when an agent asked.
    pub agent: Option<(String, [u8; 32])>,
}

/// The checks every user endpoint makes: on, bound, a user of an app (`app`
/// empty: the only one), then the caller: an API key, or an agent key
/// listing the user (and, for an API call, `call`'s method and path within
/// its allow-list).
pub async fn prepared(
    req: &Request,
    env: &Env,
    config: &Config,
    raw_user: &str,
    app: &str,
    call: Option<(&str, &str)>,
) -> Result<core::result::Result<Prepared, Response>> {
    if let Err(off) = users_on(config)? {
        return Ok(Err(off));
    }
    let ns = match namespace(env)? {
        Ok(ns) => ns,
        Err(unbound) => return Ok(Err(unbound)),
    };
    let header = req.headers().get("authorization")?.unwrap_or_default();
    let agent_key = bearer(&header).filter(|b| b.starts_with(AGENT_KEY_PREFIX));
    if agent_key.is_none()
        && let Err(refusal) = key_holder(req, &config.api_keys)?
    {
        return Ok(Err(refusal));
    }
    let who = match who(config, raw_user, app) {
        Ok(w) => w,
        Err(why) => return reply::local(Local::InvalidField, &why).map(Err),
    };
    let Some(key) = agent_key else {
        return Ok(Ok(Prepared {
            ns,
            who,
            agent: None,
        }));
    };
    let now = JsClock.now_ms();
    let keys = registry::keys(env, config, |agents| {
        settings_with(config, agents).key_made_by_us(key, &who.app)
    })
    .await;
    match settings(config, &keys).for_user(key, &who.app, &who.user, call, now) {
        Ok(k) => {
            // A key with its own limits: each call counted at its object.
            if let Some(refusal) = crate::agents::ledger::admit(env, k, now).await? {
                return Ok(Err(refusal));
            }
            Ok(Ok(Prepared {
                agent: Some((k.id.clone(), k.digest)),
                ns,
                who,
            }))
        }
        Err(Denied::NotAllowed { key_id }) => {
            let what = call.map_or(String::new(), |(m, p)| format!(" with {m} {p}"));
            let why = format!("agent key {key_id:?} may not act for {}{what}", who.user);
            reply::local(Local::KeyNotAllowed, &why).map(Err)
        }
        Err(_) => reply::local(
            Local::Unauthorized,
            "not an agent key of this Worker for this app (unknown or expired)",
        )
        .map(Err),
    }
}

#[derive(Serialize)]
struct TokenAnswer<'a> {
    code: i64,
    msg: &'a str,
    user_access_token: &'a str,
    expire: u64,
}

/// The question about the user the path names (`?app=` among several
/// apps), once every check passed.
async fn question(
    req: &Request,
    env: &Env,
    config: &Config,
    raw_user: &str,
) -> Result<core::result::Result<(worker::ObjectNamespace, Question), Response>> {
    let app = query::param(&req.inner().url(), "app").unwrap_or_default();
    Ok(prepared(req, env, config, raw_user, &app, None)
        .await?
        .map(|p| (p.ns, Question::about(p.who))))
}

/// `GET /v1/users/{open_id}/user_access_token`.
pub async fn user_token(
    req: Request,
    env: &Env,
    config: &Config,
    raw_user: &str,
) -> Result<Response> {
    let (ns, question) = match question(&req, env, config, raw_user).await? {
        Ok(q) => q,
        Err(refusal) => return Ok(refusal),
    };
    match token(env, &ns, config, &question.who, None).await? {
        Ok(Answer::Token {
            access_token,
            expires_at_ms,
        }) => {
            let expire = expires_at_ms.saturating_sub(JsClock.now_ms()) / 1000;
            reply::json_response(
                200,
                crate::log::json(&TokenAnswer {
                    code: 0,
                    msg: "ok",
                    user_access_token: &access_token,
                    expire,
                }),
            )
        }
        Ok(Answer::SignedOut { feishu_code }) => {
            signed_out(&sign_in_url(&req, &question.who), feishu_code)
        }
        Ok(Answer::Done) => reply::json_response(503, String::new()),
        Err(relayed) => Ok(relayed),
    }
}

/// `DELETE /v1/users/{open_id}`: the stored grant deleted. A service's
/// API key only: an agent acting for the user cannot sign them out.
pub async fn sign_out(
    req: Request,
    env: &Env,
    config: &Config,
    raw_user: &str,
) -> Result<Response> {
    let (ns, question) = match question(&req, env, config, raw_user).await? {
        Ok(q) => q,
        Err(refusal) => return Ok(refusal),
    };
    if let Err(refusal) = key_holder(&req, &config.api_keys)? {
        return Ok(refusal);
    }
    match sign_out_who(env, &ns, question).await? {
        Ok(()) => reply::json_response(200, r#"{"code":0,"msg":"signed out"}"#.to_owned()),
        Err(relayed) => Ok(relayed),
    }
}

/// Signs `question.who` out: this isolate's copy forgotten, the grant
/// deleted by the user's object, the directory's entry removed (also the
/// operator page's "sign out").
pub async fn sign_out_who(
    env: &Env,
    ns: &worker::ObjectNamespace,
    question: Question,
) -> Result<core::result::Result<(), Response>> {
    held::forget(&question.who);
    if !directory::may_be_signed_in(env, &question.who).await {
        // Never signed in here: nothing to delete, no object to make.
        return Ok(Ok(()));
    }
    match ask(ns, SIGN_OUT, &question).await? {
        Ok(_) => {
            directory::signed_out(env, &question.who).await;
            Ok(Ok(()))
        }
        Err(relayed) => Ok(Err(relayed)),
    }
}
