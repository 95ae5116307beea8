//! `GET /oauth/login` and `GET /oauth/callback` (under `/lark` for Lark):
//! the browser goes to Feishu's sign-in page with a signed `state` bound to
//! a cookie of its own and a PKCE challenge (the rules: the core's
//! `user_token::sign_in`), comes back with a code, which is exchanged for
//! the user's grant; the grant goes, sealed, to the user's object.

use crate::config::users::Users;
use crate::config::{Brand, Config, Origins};
use crate::http::query;
use crate::http::reply::{self, Local};
use crate::keys::admin_session;
use crate::keys::random::random_bytes;
use crate::log;
use crate::sources::clients::transport;
use crate::users::ask::{ask, namespace};
use crate::users::directory;
use crate::users::endpoints::users_on;
use crate::users::protocol::{Question, SIGNED_IN, Who};
use crate::users::{app_credentials, sealed};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::user_token::sign_in::{self, Refused};
use feishu_tenant_token::user_token::{UserGrant, authorize_url, exchange_code};
use feishu_tenant_token::{Clock, Error};
use worker::{Env, Request, Response, Result};

/// The cookie holding the sign-in's nonce and PKCE verifier.
const COOKIE: &str = "ftt_sign_in";
const CALLBACK: &str = "/oauth/callback";

fn callback_url(req: &Request, brand: Brand) -> String {
    let url = req.inner().url();
    let origin = query::origin(&url).unwrap_or_default();
    format!("{origin}{}{CALLBACK}", brand.prefix())
}

/// The cookie's attributes: only the callback reads it, for the sign-in's
/// minutes, never scripts; `Secure` on https.
fn cookie(req: &Request, brand: Brand, value: &str, max_age: u64) -> String {
    let secure = if req.inner().url().starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE}={value}; Path={}{CALLBACK}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        brand.prefix()
    )
}

fn redirect(to: &str, set_cookie: &str) -> Result<Response> {
    let mut resp = Response::empty()?.with_status(302);
    let h = resp.headers_mut();
    h.set("location", to)?;
    h.set("set-cookie", set_cookie)?;
    h.set("cache-control", "no-store")?;
    Ok(resp)
}

/// `GET /oauth/login?app=<app_id>&return=<path>`.
pub async fn login(req: Request, env: &Env, config: &Config) -> Result<Response> {
    let users = match users_on(config)? {
        Ok(u) => u,
        Err(off) => return Ok(off),
    };
    if let Err(unbound) = namespace(env)? {
        return Ok(unbound);
    }
    let url = req.inner().url();
    let app = query::param(&url, "app").unwrap_or_default();
    let app = match app_credentials(config, &app) {
        Ok(a) => a,
        Err(why) => return reply::local(Local::InvalidField, &why),
    };
    let listed = |o: &str| match &config.allowed_origins {
        Origins::Listed(list) => list.iter().any(|l| l == o),
        Origins::Any => false,
    };
    let back = query::return_to(query::param(&url, "return").as_deref(), listed);
    let started = sign_in::start(
        users.state_key.bytes(),
        app.app_id(),
        &back,
        JsClock.now_ms(),
        &random_bytes(),
        &random_bytes(),
    );
    let accounts = match config.brand {
        Brand::Feishu => &users.feishu_accounts,
        Brand::Lark => &users.lark_accounts,
    };
    let scopes: Vec<&str> = users.scopes.iter().map(String::as_str).collect();
    let to = authorize_url(
        accounts,
        app.app_id(),
        &callback_url(&req, config.brand),
        &scopes,
        &started.state,
        &started.challenge,
    );
    let max_age = sign_in::SIGN_IN_WINDOW_MS / 1000;
    redirect(&to, &cookie(&req, config.brand, &started.cookie, max_age))
}

fn cookie_value(req: &Request) -> Option<String> {
    let header = req.headers().get("cookie").ok()??;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then(|| value.to_owned())
    })
}

/// 400 for a sign-in that cannot finish, with the cookie cleared.
fn refused(req: &Request, brand: Brand, why: &str) -> Result<Response> {
    let mut resp = reply::local(Local::SignInRefused, why)?;
    resp.headers_mut()
        .set("set-cookie", &cookie(req, brand, "", 0))?;
    Ok(resp)
}

/// `GET /oauth/callback?code=...&state=...`.
pub async fn callback(req: Request, env: &Env, config: &Config) -> Result<Response> {
    let users = match users_on(config)? {
        Ok(u) => u,
        Err(off) => return Ok(off),
    };
    let ns = match namespace(env)? {
        Ok(ns) => ns,
        Err(unbound) => return Ok(unbound),
    };
    let (code, returned) = match returned(&req, config.brand, users) {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let (who, grant) = match signed_in_user(&req, config, &code, &returned).await {
        Ok(g) => g,
        Err(refusal) => return refusal,
    };
    let question = Question {
        sealed: Some(sealed::seal(
            &users.seal_key,
            &who.binding(),
            &grant,
            random_bytes(),
        )),
        refused: None,
        who,
    };
    if let Err(failed) = ask(&ns, SIGNED_IN, &question).await? {
        return Ok(failed);
    }
    directory::signed_in(env, &question.who).await;
    crate::usage::tally::seen(config, &question.who.app, &question.who.user);
    log::info(&SignedIn {
        event: "user_signed_in",
        app: &question.who.app,
        user: &question.who.user,
    });
    let to = query::with_param(&returned.redirect, "signed_in", &question.who.user);
    let mut resp = redirect(&to, &cookie(&req, config.brand, "", 0))?;
    // An `ADMINS` open_id signing in for the operator page: its session too.
    let user = &question.who.user;
    if returned.redirect.starts_with("/admin") && config.operators.admins.iter().any(|a| a == user)
    {
        let expires = JsClock.now_ms() + admin_session::SESSION_MS;
        let session = admin_session::mint(users.admin_session_key.bytes(), user, expires);
        let secure = req.inner().url().starts_with("https:");
        let max_age = admin_session::SESSION_MS / 1000;
        resp.headers_mut().append(
            "set-cookie",
            &admin_session::set_cookie(&session, max_age, secure),
        )?;
        log::info(&SignedIn {
            event: "admin_signed_in",
            app: &question.who.app,
            user,
        });
    }
    Ok(resp)
}

/// The callback's code and the sign-in it finishes (app, return address,
/// PKCE verifier), once its state checks out against this browser's
/// cookie; `Err`: the refusal (Feishu said no, the state is not ours, not
/// this browser's, or too old), nothing exchanged.
fn returned(
    req: &Request,
    brand: Brand,
    users: &Users,
) -> core::result::Result<(String, sign_in::Returned), Result<Response>> {
    let url = req.inner().url();
    if let Some(error) = query::param(&url, "error") {
        let error: String = error
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect();
        return Err(refused(
            req,
            brand,
            &format!(
                "Feishu's sign-in ended without a code ({error}): start again at /oauth/login"
            ),
        ));
    }
    let (Some(code), Some(state)) = (query::param(&url, "code"), query::param(&url, "state"))
    else {
        return Err(refused(
            req,
            brand,
            "the callback needs `code` and `state`: start at /oauth/login",
        ));
    };
    let now = JsClock.now_ms();
    let why = match sign_in::finish(
        users.state_key.bytes(),
        &state,
        cookie_value(req).as_deref(),
        now,
    ) {
        Ok(r) => return Ok((code, r)),
        Err(Refused::Malformed) => {
            "this sign-in's state is not one of this Worker's: start again at /oauth/login"
        }
        Err(Refused::NotThisBrowser) => {
            "this sign-in was not started in this browser (or its state was altered): start again at /oauth/login"
        }
        Err(Refused::Expired) => {
            "this sign-in took longer than 10 minutes: start again at /oauth/login"
        }
    };
    Err(refused(req, brand, why))
}

/// The code exchanged (with the PKCE verifier) for the user's grant at the
/// app's brand, and who signed in (`user_info`'s `open_id`).
async fn signed_in_user(
    req: &Request,
    config: &Config,
    code: &str,
    returned: &sign_in::Returned,
) -> core::result::Result<(Who, UserGrant), Result<Response>> {
    let brand = config.brand;
    let app = app_credentials(config, &returned.app_id).map_err(|why| refused(req, brand, &why))?;
    let net = transport(config).map_err(|why| reply::local(Local::Misconfigured, &why))?;
    let (open_id, grant) = exchange_code(
        &net,
        JsClock.now_ms(),
        &config.base_url,
        &app,
        code,
        &callback_url(req, brand),
        &returned.code_verifier,
    )
    .await
    .map_err(|e| feishu_refused(req, brand, &e))?;
    if !feishu_tenant_token::user_token::is_open_id(&open_id) {
        return Err(refused(
            req,
            brand,
            "Feishu named the user with an open_id this Worker does not accept",
        ));
    }
    let who = Who {
        brand,
        app: app.app_id().to_owned(),
        user: open_id,
    };
    Ok((who, grant))
}

#[derive(serde::Serialize)]
struct SignedIn<'a> {
    event: &'static str,
    app: &'a str,
    user: &'a str,
}

fn feishu_refused(req: &Request, brand: Brand, e: &Error) -> Result<Response> {
    // The error's message names Feishu's code and message, never a token
    // (kept bodies are redacted).
    let why = match e.feishu_code() {
        Some(code) => format!(
            "Feishu refused the sign-in ({code}: {}): start again at /oauth/login",
            e.feishu_msg().unwrap_or_default()
        ),
        None => format!("the sign-in could not be finished: {}", e.message()),
    };
    refused(req, brand, &why)
}
