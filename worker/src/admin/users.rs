//! Users on the operator page: who signed in or was served this month
//! (UTC+8), with when last seen and their calls, and signing one out (their
//! grant deleted by their object, as `DELETE /v1/users/{open_id}` does).

use crate::admin::audit::{self, Line};
use crate::admin::auth::Admin;
use crate::admin::keys::months;
use crate::admin::usage::apps;
use crate::config::Config;
use crate::http::reply::{self, Local};
use crate::users::ask::namespace;
use crate::users::endpoints::{sign_out_who, who};
use crate::users::protocol::Question;
use serde::Serialize;
use worker::{Env, Response, Result};

#[derive(Serialize)]
struct UserView<'a> {
    app_id: &'a str,
    open_id: &'a str,
    last_seen_ms: u64,
    calls: u64,
}

/// `GET /admin/api/users`.
pub async fn list(env: &Env, config: &Config) -> Result<Response> {
    if config.users.is_none() {
        return reply::json_response(
            200,
            r#"{"users":[],"note":"user tokens are off (USER_TOKEN_KEY)"}"#.to_owned(),
        );
    }
    let months = months(env, apps(config).into_iter()).await;
    let mut users: Vec<UserView<'_>> = months
        .iter()
        .flat_map(|(app, m)| {
            m.users.iter().map(move |(user, c)| UserView {
                app_id: app,
                open_id: user,
                last_seen_ms: c.last_ms,
                calls: c.calls,
            })
        })
        .collect();
    users.sort_unstable_by_key(|u| core::cmp::Reverse(u.last_seen_ms));
    reply::json_response(200, serde_json::json!({ "users": users }).to_string())
}

/// `POST /admin/api/users/{app_id}/{open_id}/sign-out`.
pub async fn sign_out(
    env: &Env,
    config: &Config,
    admin: &Admin,
    app: &str,
    user: &str,
) -> Result<Response> {
    if config.users.is_none() {
        return reply::local(Local::NotFound, "user tokens are off (USER_TOKEN_KEY)");
    }
    let ns = match namespace(env)? {
        Ok(ns) => ns,
        Err(unbound) => return Ok(unbound),
    };
    let who = match who(config, user, app) {
        Ok(w) => w,
        Err(why) => return reply::local(Local::InvalidField, &why),
    };
    let line = Line {
        user: Some(&who.user),
        app: Some(&who.app),
        ..Line::new(admin, "user_signed_out")
    };
    if let Err(relayed) = sign_out_who(env, &ns, Question::about(who.clone())).await? {
        return Ok(relayed);
    }
    if let Err(refusal) = audit::record(env, line, None).await? {
        return Ok(refusal);
    }
    reply::json_response(200, r#"{"code":0,"msg":"signed out"}"#.to_owned())
}
