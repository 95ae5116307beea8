//! A managed call for a user: `X-User-Id: <open_id>` (and `X-App-Id` among
//! several apps) with an API key on any `/open-apis/*` call puts the
//! user's token in `Authorization`; a token Feishu refuses (99991668
//! invalid, 99991677 expired) is replaced by the user's object, once, and
//! the call replayed (the body kept as for any managed call).

use crate::agents::calls::{audit, quota_reserved};
use crate::calls::forward::{APP_HEADER, USER_HEADER};
use crate::calls::managed_call::{TokenFor, call_with};
use crate::calls::upstream::Verdict;
use crate::config::{Brand, Config};
use crate::http::reply;
use crate::usage::tally::{self, Caller};
use crate::users::ask::token;
use crate::users::endpoints::{prepared, sign_in_url, signed_out};
use crate::users::held;
use crate::users::protocol::{Answer, Who};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::user_token::user_token_refused;
use feishu_tenant_token::{AccessToken, Clock};
use worker::{Env, ObjectNamespace, Request, Response, Result};

struct UserToken<'a> {
    env: &'a Env,
    ns: ObjectNamespace,
    config: &'a Config,
    who: Who,
    sign_in_url: String,
}

impl TokenFor for UserToken<'_> {
    async fn token(
        &self,
        bad: Option<&AccessToken>,
    ) -> Result<core::result::Result<AccessToken, Response>> {
        Ok(
            match token(self.env, &self.ns, self.config, &self.who, bad).await? {
                Ok(Answer::Token { access_token, .. }) => Ok(AccessToken::new(access_token)),
                Ok(Answer::SignedOut { feishu_code }) => {
                    Err(signed_out(&self.sign_in_url, feishu_code)?)
                }
                Ok(Answer::Done) => Err(reply::json_response(503, String::new())?),
                Err(relayed) => Err(relayed),
            },
        )
    }

    fn refused(&self, verdict: &Verdict) -> bool {
        verdict.code.is_some_and(user_token_refused)
    }

    /// This isolate's copy goes; the object is told in the replacement's
    /// question, and refreshes only while it still holds that token.
    async fn forget(&self, _token: &AccessToken) {
        held::forget(&self.who);
    }
}

pub async fn user_call(req: Request, env: &Env, config: &Config) -> Result<Response> {
    let user = req.headers().get(USER_HEADER)?.unwrap_or_default();
    let app = req.headers().get(APP_HEADER)?.unwrap_or_default();
    let started = JsClock.now_ms();
    let method = req.inner().method();
    let full = req.path();
    let path = Brand::of_path(&full).1.to_owned();
    let call = Some((method.as_str(), path.as_str()));
    let p = match prepared(&req, env, config, user.trim(), app.trim(), call).await? {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal),
    };
    let source = UserToken {
        env,
        config,
        sign_in_url: sign_in_url(&req, &p.who),
        ns: p.ns,
        who: p.who,
    };
    let agent = p.agent;
    let reserved = agent
        .as_ref()
        .and_then(|_| tally::reserved(config, &source.who.app));
    // Past the quota's agent share an agent key's call is refused here;
    // anything else goes to Feishu and is counted.
    let (resp, code) = match reserved {
        Some((calls, quota)) => (
            quota_reserved(&source.who.app, calls, quota, started)?,
            None,
        ),
        None => {
            let (resp, verdict) = call_with(req, env, config, &source).await?;
            let caller = Caller {
                tenant: None,
                key: agent.as_ref().map(|(k, _)| k.as_str()),
                user: Some(&source.who.user),
            };
            tally::count(config, &source.who.app, caller, &method, &path, &resp);
            (resp, verdict.code)
        }
    };
    if let Some((key, digest)) = &agent {
        let status = resp.status_code();
        audit(
            Some(key),
            Some(digest),
            &method,
            &path,
            status,
            code,
            started,
        );
    }
    Ok(resp)
}
