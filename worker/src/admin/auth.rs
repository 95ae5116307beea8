//! Who may use the admin API and page: the holder of `ADMIN_KEY` (as a
//! bearer, or signed in on the page with it) or an `ADMINS` open_id signed
//! in with Feishu (a session cookie: `keys::admin_session`). Anything from
//! another origin is refused; a state-changing call carried by the cookie
//! must also come from the page itself (its `Origin` and the
//! `X-Admin-Request` header, which no other site can send without a CORS
//! preflight this Worker never grants), so the cookie is no use to CSRF.

use crate::config::Config;
use crate::http::query;
use crate::http::reply::{self, Local};
use crate::keys::admin_session::{self, KEY_HOLDER};
use crate::keys::bearer::bearer;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::secret::constant_time_eq;
use worker::{Request, Response, Result};

/// The header the page sends with every call (a custom header: another
/// site's request carrying it needs a preflight).
pub const PAGE_HEADER: &str = "x-admin-request";

/// An admin, as the audit lines name them: `key` (the `ADMIN_KEY` holder)
/// or an open_id.
pub struct Admin {
    pub who: String,
}

/// The admin surface is off when no one may administer.
pub fn off() -> Result<Response> {
    reply::local(
        Local::NotFound,
        "the admin surface is off: set ADMIN_KEY (or ADMINS, with user tokens on) to use /admin",
    )
}

fn refused(kind: Local, msg: &str) -> Result<core::result::Result<Admin, Response>> {
    reply::local(kind, msg).map(Err)
}

/// The request's `Origin` is this Worker's own, or absent (a script, not a
/// browser). `Err`: the other origin.
pub fn same_origin(req: &Request) -> Result<core::result::Result<(), String>> {
    let Some(origin) = req.headers().get("origin")? else {
        return Ok(Ok(()));
    };
    let url = req.inner().url();
    let own = query::origin(&url).unwrap_or_default();
    Ok(if origin == own { Ok(()) } else { Err(origin) })
}

/// The admin behind `req`, or the answer refusing it. `changes`: the call
/// changes something (any method but GET and HEAD).
pub fn admin(req: &Request, config: &Config) -> Result<core::result::Result<Admin, Response>> {
    let ops = &config.operators;
    if !ops.on() {
        return off().map(Err);
    }
    if same_origin(req)?.is_err() {
        return refused(
            Local::AdminForbidden,
            "the admin API answers only its own page (this request came from another origin)",
        );
    }
    let header = req.headers().get("authorization")?.unwrap_or_default();
    if let Some(given) = bearer(&header) {
        let ok = ops
            .admin_key
            .as_ref()
            .is_some_and(|k| constant_time_eq(k.expose_secret().as_bytes(), given.as_bytes()));
        if !ok {
            return unauthorized();
        }
        return Ok(Ok(Admin {
            who: KEY_HOLDER.to_owned(),
        }));
    }
    let cookies = req.headers().get("cookie")?.unwrap_or_default();
    let Some(who) = admin_session::from_cookie_header(&cookies).and_then(|s| session(config, s))
    else {
        return unauthorized();
    };
    let method = req.inner().method();
    let changes = !matches!(method.as_str(), "GET" | "HEAD");
    if changes {
        let from_page = req.headers().get(PAGE_HEADER)?.is_some_and(|v| v == "1")
            && req.headers().get("origin")?.is_some();
        if !from_page {
            return refused(
                Local::AdminForbidden,
                "a change through the page's session must come from the page (Origin and X-Admin-Request: 1)",
            );
        }
    }
    Ok(Ok(Admin { who }))
}

/// Who a session cookie names, when it checks and its admin still is one.
fn session(config: &Config, value: &str) -> Option<String> {
    let now = JsClock.now_ms();
    let ops = &config.operators;
    let named = admin_session::named(value)?;
    if named == KEY_HOLDER {
        let key = admin_session::key_of_admin_key(ops.admin_key.as_ref()?.expose_secret());
        return admin_session::verify(&key, value, now);
    }
    // An open_id: still in ADMINS (taking one out ends their session).
    if !ops.admins.contains(&named) {
        return None;
    }
    let key = config.users.as_ref()?.admin_session_key.bytes();
    admin_session::verify(key, value, now)
}

fn unauthorized() -> Result<core::result::Result<Admin, Response>> {
    let mut resp = reply::local(
        Local::AdminUnauthorized,
        "an admin is required: `Authorization: Bearer <ADMIN_KEY>`, or sign in at /admin",
    )?;
    resp.headers_mut().set("www-authenticate", "Bearer")?;
    Ok(Err(resp))
}
