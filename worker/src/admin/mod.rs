//! The operators' surface: the admin API (`/admin/api/...`: keys at run
//! time, usage, users, the last audit lines), the page that uses it
//! (`/admin`), and `GET /v1/usage`. Who may: `auth`. Every action: one
//! audit line (`audit`).
//!
//! - `auth`: the admin behind a request (ADMIN_KEY, or a session), and the
//!   origin and CSRF checks;
//! - `keys`: list, create, rotate, revoke; `users`: list, sign out;
//! - `usage`: `/v1/usage` and the page's; `page`: the page's files.

#[cfg(target_arch = "wasm32")]
pub mod audit;
#[cfg(target_arch = "wasm32")]
pub mod auth;
#[cfg(target_arch = "wasm32")]
pub mod keys;
#[cfg(target_arch = "wasm32")]
pub mod page;
#[cfg(target_arch = "wasm32")]
pub mod usage;
#[cfg(target_arch = "wasm32")]
pub mod users;

#[cfg(target_arch = "wasm32")]
pub use api::api;

#[cfg(target_arch = "wasm32")]
mod api {
    use super::auth::{self, Admin};
    use super::{keys, usage, users};
    use crate::agents::registry::{self, AUDIT_PATH};
    use crate::config::Config;
    use crate::http::reply::{self, Local};
    use crate::http::request::read_body;
    use crate::keys::admin_session::{self, KEY_HOLDER, SESSION_MS};
    use crate::log;
    use feishu_tenant_token::Clock;
    use feishu_tenant_token::host::JsClock;
    use feishu_tenant_token::secret::constant_time_eq;
    use serde::Deserialize;
    use worker::{Env, Request, Response, Result};

    /// A sign-in's body: the key, nothing else.
    const MAX_SIGN_IN_BYTES: usize = 1024;

    /// `/admin/api/{rest}`.
    pub async fn api(req: Request, env: &Env, config: &Config, rest: &str) -> Result<Response> {
        let method = req.inner().method();
        if rest == "session" {
            return match method.as_str() {
                "POST" => sign_in(req, config).await,
                "DELETE" => sign_out(&req, config),
                _ => reply::local(Local::MethodNotAllowed, "use POST or DELETE"),
            };
        }
        let admin = match auth::admin(&req, config)? {
            Ok(a) => a,
            Err(refusal) => return Ok(refusal),
        };
        let parts: Vec<String> = rest.split('/').map(decoded).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["me"]) => me(config, &admin),
            ("GET", ["keys"]) => keys::list(env, config).await,
            ("POST", ["keys"]) => keys::create(req, env, config, &admin).await,
            ("POST", ["keys", id, "rotate"]) => keys::rotate(req, env, config, &admin, id).await,
            ("POST", ["keys", id, "revoke"]) | ("DELETE", ["keys", id]) => {
                keys::revoke(env, config, &admin, id).await
            }
            ("GET", ["usage"]) => usage::for_admin(&req, env, config).await,
            ("GET", ["users"]) => users::list(env, config).await,
            ("POST", ["users", app, user, "sign-out"]) => {
                users::sign_out(env, config, &admin, app, user).await
            }
            ("GET", ["audit"]) => audit_lines(env).await,
            _ => reply::local(Local::NotFound, "no such admin call"),
        }
    }

    /// A path segment, percent-decoded (a key's id may hold any printable
    /// character); left as it came when it does not decode.
    fn decoded(segment: &str) -> String {
        js_sys::decode_uri_component(segment)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| segment.to_owned())
    }

    fn me(config: &Config, admin: &Admin) -> Result<Response> {
        let body = serde_json::json!({
            "who": admin.who,
            "apps": usage::apps(config),
            "users_on": config.users.is_some(),
        });
        reply::json_response(200, body.to_string())
    }

    async fn audit_lines(env: &Env) -> Result<Response> {
        let Some(ns) = registry::namespace(env) else {
            return reply::json_response(200, "[]".to_owned());
        };
        match registry::ask(&ns, AUDIT_PATH, "").await {
            Ok(lines) => reply::json_response(200, lines),
            Err(why) => reply::local(Local::RegistryUnavailable, &why),
        }
    }

    #[derive(Deserialize)]
    struct SignIn {
        admin_key: String,
    }

    /// `POST /admin/api/session` `{"admin_key": ...}`: the page's session
    /// (a cookie; the key itself is never kept by the page).
    async fn sign_in(mut req: Request, config: &Config) -> Result<Response> {
        let Some(admin_key) = config.operators.admin_key.as_ref() else {
            return auth::off();
        };
        if auth::same_origin(&req)?.is_err() {
            return reply::local(
                Local::AdminForbidden,
                "sign in from the operator page itself",
            );
        }
        let body = match read_body(&mut req, MAX_SIGN_IN_BYTES).await? {
            Ok(b) => b,
            Err(refusal) => return Ok(refusal),
        };
        let given = serde_json::from_slice::<SignIn>(&body)
            .map(|s| s.admin_key)
            .unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), admin_key.expose_secret().as_bytes()) {
            // Logged, not recorded at the registry: an anonymous caller never
            // makes the Worker write.
            log::warn(
                "admin_sign_in_refused",
                "a wrong admin key was given at /admin",
            );
            return reply::local(Local::AdminUnauthorized, "that is not the admin key");
        }
        let key = admin_session::key_of_admin_key(admin_key.expose_secret());
        let session = admin_session::mint(&key, KEY_HOLDER, JsClock.now_ms() + SESSION_MS);
        let secure = req.inner().url().starts_with("https:");
        let mut resp = reply::json_response(200, format!(r#"{{"who":"{KEY_HOLDER}"}}"#))?;
        resp.headers_mut().set(
            "set-cookie",
            &admin_session::set_cookie(&session, SESSION_MS / 1000, secure),
        )?;
        #[derive(serde::Serialize)]
        struct Line {
            event: &'static str,
            admin: &'static str,
        }
        log::info(&Line {
            event: "admin_signed_in",
            admin: KEY_HOLDER,
        });
        Ok(resp)
    }

    fn sign_out(req: &Request, config: &Config) -> Result<Response> {
        if !config.operators.on() {
            return auth::off();
        }
        let secure = req.inner().url().starts_with("https:");
        let mut resp = reply::json_response(200, r#"{"code":0,"msg":"signed out"}"#.to_owned())?;
        resp.headers_mut()
            .set("set-cookie", &admin_session::set_cookie("", 0, secure))?;
        Ok(resp)
    }
}
