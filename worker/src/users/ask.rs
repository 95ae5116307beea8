//! The front's side of a user's object: the question, and the object's
//! answer or the failure to relay; and the user's token as a front serves
//! it (`token`: this isolate's copy, the directory, then the object).

use crate::cache::ask::Want;
use crate::config::Config;
use crate::coordinator::USER_BINDING;
use crate::coordinator::ask::{post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::http::reply::{self, Local};
use crate::log;
use crate::users::protocol::{Answer, Question, TOKEN, USER_PREFIX, Who};
use crate::users::{directory, held};
use feishu_tenant_token::AccessToken;
use worker::{Env, ObjectNamespace, Response, Result};

/// The coordinator's namespace, or the answer saying user tokens need it.
pub fn namespace(env: &Env) -> Result<core::result::Result<ObjectNamespace, Response>> {
    match env.durable_object(USER_BINDING) {
        Ok(ns) => Ok(Ok(ns)),
        Err(_) => reply::local(
            Local::Misconfigured,
            "user tokens need the USER_OBJECTS Durable Object binding (class UserObject, bound with COORDINATOR and STORE_APP_KEEPER: see wrangler.toml): each user's refreshes go through one object",
        )
        .map(Err),
    }
}

/// Asks the user's object `op`: its answer, or the answer to relay (a
/// failure of Feishu's, in Feishu's shape, or the object's own, 503).
pub async fn ask(
    namespace: &ObjectNamespace,
    op: &str,
    question: &Question,
) -> Result<core::result::Result<Answer, Response>> {
    let failed = |why: &str| {
        log::warn("user_object_failed", why);
        reply::local(
            Local::UpstreamUnreachable,
            "the user's Durable Object could not be reached; try again",
        )
        .map(|r| r.with_status(503))
        .map(Err)
    };
    let Ok(stub) = stub(namespace, &question.who.object_name()) else {
        return failed("could not address the user's object");
    };
    let url = format!("{OBJECT_ORIGIN}{USER_PREFIX}{op}");
    let answer = match post(&stub, &url, &log::json(question), Want::Servable).await {
        Ok(a) => a,
        Err(e) => return failed(&e.to_string()),
    };
    if answer.status == 200 {
        return match serde_json::from_str::<Answer>(&answer.body) {
            Ok(a) => Ok(Ok(a)),
            Err(_) => failed("an answer it could not read"),
        };
    }
    if answer.body.is_empty() {
        return failed(&format!("HTTP {}", answer.status));
    }
    // Feishu's failure, as the object's `reply::upstream_error` wrote it.
    reply::json_response(answer.status, answer.body).map(Err)
}

/// `who`'s token as a front serves it: this isolate's copy while fresh
/// (when no API call `refused` it), else, for a user the directory knows,
/// the user's object (which replaces `refused` if it still holds it); the
/// isolate keeps what the object hands out and forgets a signed-out user.
/// `Answer::Token` or `Answer::SignedOut`, or the answer to relay.
pub async fn token(
    env: &Env,
    namespace: &ObjectNamespace,
    config: &Config,
    who: &Who,
    refused: Option<&AccessToken>,
) -> Result<core::result::Result<Answer, Response>> {
    match refused {
        None => {
            if let Some((token, expires_at_ms)) = held::fresh(who) {
                return Ok(Ok(Answer::Token {
                    access_token: token.expose_secret().to_owned(),
                    expires_at_ms,
                }));
            }
        }
        Some(_) => held::forget(who),
    }
    if !directory::may_be_signed_in(env, who).await {
        return Ok(Ok(Answer::SignedOut { feishu_code: None }));
    }
    let question = Question {
        refused: refused.map(|t| t.expose_secret().to_owned()),
        ..Question::about(who.clone())
    };
    Ok(match ask(namespace, TOKEN, &question).await? {
        Ok(Answer::Token {
            access_token,
            expires_at_ms,
        }) => {
            held::handed(
                config,
                who,
                &AccessToken::new(access_token.clone()),
                expires_at_ms,
            );
            Ok(Answer::Token {
                access_token,
                expires_at_ms,
            })
        }
        Ok(Answer::SignedOut { feishu_code }) => {
            held::forget(who);
            directory::forget(who);
            Ok(Answer::SignedOut { feishu_code })
        }
        Ok(Answer::Done) => Err(reply::json_response(503, String::new())?),
        Err(relayed) => Err(relayed),
    })
}
