//! Every request's way through the Worker: settings, the [`Route`], CORS,
//! the endpoint, then one log line. Nothing a caller sends can produce a 500.

use crate::admin;
use crate::config::{Brand, Config};
use crate::gateway::pass_through;
use crate::http::cors::Cors;
use crate::http::reply::{self, Local};
use crate::log;
use crate::managed::{endpoints as managed, events};
use crate::router::route::Route;
use crate::sources::state;
use crate::tokens::endpoints as tokens;
use crate::users::{endpoints as users, sign_in};
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::self_built::Kind;
use serde::Serialize;
use worker::{Env, Method, Request, Response, Result};

pub async fn handle(req: Request, env: &Env) -> Result<Response> {
    let started = JsClock.now_ms();
    let path = req.path();
    let (brand, path) = Brand::of_path(&path);
    let route = Route::parse(path);
    let method = req.method();
    let config = state::config_for(env, brand);
    let resp = match config.as_deref() {
        Ok(config) => endpoint(req, env, config, &route).await?,
        Err(why) => reply::local(
            Local::Misconfigured,
            &format!("worker misconfigured: {why}"),
        )?,
    };
    if config.as_ref().is_ok_and(|c| c.log_requests) {
        let ms = JsClock.now_ms().saturating_sub(started);
        log_request(brand, &route, &method, &resp, ms);
    }
    Ok(resp)
}

/// One JSON line per request. Only what helps operate the Worker: never a
/// token, a request body or a header value a caller controls.
fn log_request(brand: Brand, route: &Route, method: &Method, resp: &Response, ms: u64) {
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        brand: Option<&'a str>,
        route: &'a str,
        method: &'a str,
        status: u16,
        cache: &'a str,
        layer: &'a str,
        timing: &'a str,
        ms: u64,
    }
    let header = |name: &str| resp.headers().get(name).ok().flatten().unwrap_or_default();
    log::info(&Line {
        brand: (brand == Brand::Lark).then_some("lark"),
        route: route.log_name(),
        method: method.as_ref(),
        status: resp.status_code(),
        cache: &header("x-cache"),
        layer: &header("x-cache-layer"),
        timing: &header("server-timing"),
        ms,
    });
}

async fn endpoint(req: Request, env: &Env, config: &Config, route: &Route) -> Result<Response> {
    let origin = req.headers().get("origin")?;
    let cors = Cors::new(&config.allowed_origins, origin.clone());
    let method = req.method();
    let resp = match (&method, route) {
        (Method::Options, r) if r.takes_cors() && origin.is_some() => {
            if !cors.is_allowed() {
                return reply::local(
                    Local::OriginNotAllowed,
                    "this origin is not in ALLOWED_ORIGINS",
                );
            }
            let resp = Response::empty()?.with_status(204);
            reply::with_headers(resp, &cors.preflight_headers()?)
        }
        (Method::Post, Route::TenantToken) => tokens::tenant_token(req, env, config).await,
        (Method::Post, Route::StoreAppToken) => tokens::store_app_token(req, env, config).await,
        (Method::Post, Route::InternalTenantToken) => {
            tokens::internal_token(req, env, config, Kind::TenantToken).await
        }
        (Method::Post, Route::InternalAppToken) => {
            tokens::internal_token(req, env, config, Kind::AppToken).await
        }
        // Server to server (Feishu): no CORS.
        (Method::Post, Route::Events) => return events::events(req, env, config).await,
        // Each app's Request URL (server to server): store-app mode's app
        // as at /feishu/events.
        (Method::Post, Route::AppEvents(app)) => {
            return match config.managed_here() {
                Some(m) if m.app.app_id() == app => events::events(req, env, config).await,
                _ => crate::events::receive::app_events(req, env, config, app).await,
            };
        }
        (Method::Get, Route::ManagedTenant(raw)) => {
            managed::tenant_token(req, env, config, raw).await
        }
        (Method::Post, Route::TicketResend) => pass_through::ticket_resend(req, env, config).await,
        (_, Route::OpenApi) => pass_through::open_api(req, env, config).await,
        // Server to server (an SDK's long-connection client): no CORS.
        (Method::Post, Route::WsEndpoint) => {
            return pass_through::callback(req, env, config).await;
        }
        // A browser's navigation (no CORS).
        (Method::Get, Route::Login) => return sign_in::login(req, env, config).await,
        (Method::Get, Route::Callback) => return sign_in::callback(req, env, config).await,
        (Method::Get, Route::UserToken(u)) => users::user_token(req, env, config, u).await,
        (Method::Delete, Route::User(u)) => users::sign_out(req, env, config, u).await,
        (Method::Get, Route::Usage) => admin::usage::usage(req, env, config).await,
        // Server to server (a bot pulling): no CORS.
        (Method::Get, Route::EventsPull) => {
            return match crate::agents::events::reader(&req, env, config).await? {
                Ok(types) => crate::events::pull::pull(req, env, config, types).await,
                Err(refusal) => Ok(refusal),
            };
        }
        (Method::Get, Route::DeadLetters) => {
            return crate::events::dead::dead(req, env, config, false).await;
        }
        (Method::Post, Route::ReplayDead) => {
            return crate::events::dead::dead(req, env, config, true).await;
        }
        // The operators' page and API: same origin only (no CORS).
        (Method::Get | Method::Head, Route::AdminPage(name)) => {
            return if config.operators.on() {
                admin::page::file(name)
            } else {
                admin::auth::off()
            };
        }
        (_, Route::AdminApi(rest)) => return admin::api(req, env, config, rest).await,
        (Method::Get | Method::Head, Route::Health) => {
            reply::json_response(200, r#"{"code":0,"msg":"ok"}"#.to_owned())
        }
        (_, r) => match r.allowed_methods() {
            Some(allow) if r.takes_cors() => method_not_allowed(allow),
            Some(allow) => return method_not_allowed(allow),
            None => reply::local(Local::NotFound, "no such path"),
        },
    }?;
    cors.apply(resp)
}

fn method_not_allowed(allow: &str) -> Result<Response> {
    let mut resp = reply::local(Local::MethodNotAllowed, &format!("use {allow}"))?;
    resp.headers_mut().set("allow", allow)?;
    Ok(resp)
}
