//! Self-built (internal) apps: the app's own tenant, no ticket and no tenant
//! key. `POST {base}/open-apis/auth/v3/tenant_access_token/internal`, body
//! `{"app_id","app_secret"}` -> `{"code","msg","tenant_access_token","expire"}`
//! (Feishu, "Self-built apps get tenant_access_token":
//! <https://open.feishu.cn/document/server-docs/authentication-management/access-token/tenant_access_token_internal>),
//! and `.../app_access_token/internal`, same body, `app_access_token` in the
//! answer. Same lifetime rule as store apps, so the same freshness rule and client.

use crate::app::{AppBody, AppCredentials, KeyedCredentials};
use crate::error::Error;
use crate::freshness::{Clock, TokenGrant};
use crate::source::{Source, Upstream, retrying, token_round_trip};
use crate::transport::{HttpRequest, HttpResponse, Transport};
use crate::validate::BaseUrl;
use crate::wire::{
    APP_TOKEN_MEMBER, TENANT_TOKEN_MEMBER, json_body, parse_tenant_token_reply, read_reply,
};

pub const INTERNAL_TENANT_TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub const INTERNAL_APP_TOKEN_PATH: &str = "/open-apis/auth/v3/app_access_token/internal";

/// Which of a self-built app's two tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    TenantToken,
    AppToken,
}

impl Kind {
    pub const fn path(self) -> &'static str {
        match self {
            Kind::TenantToken => INTERNAL_TENANT_TOKEN_PATH,
            Kind::AppToken => INTERNAL_APP_TOKEN_PATH,
        }
    }
}

pub fn build_internal_tenant_token_request(base: &BaseUrl, app: &AppCredentials) -> HttpRequest {
    build_internal_request(Kind::TenantToken, base, app)
}

pub fn build_internal_request(kind: Kind, base: &BaseUrl, app: &AppCredentials) -> HttpRequest {
    HttpRequest::post_json(
        base.join(kind.path()),
        json_body(&AppBody {
            app_id: app.app_id(),
            app_secret: app.app_secret().expose_secret(),
            app_ticket: None,
        }),
    )
}

/// The answer is the store-app endpoint's shape: the same parser and errors
/// (10014 / 10015, a disabled app or a wrong secret, are FEISHU_API_ERROR).
pub fn parse_internal_tenant_token_response(
    response: &HttpResponse,
    sent_at_ms: u64,
) -> Result<TokenGrant, Error> {
    parse_tenant_token_reply(response, read_reply(&response.body), sent_at_ms)
}

/// One round trip (no cache, no retry); errors never carry the secret.
pub async fn fetch_internal_token<T: Transport, C: Clock>(
    kind: Kind,
    transport: &T,
    clock: &C,
    base_url: &BaseUrl,
    app: &AppCredentials,
) -> Result<TokenGrant, Error> {
    let scrub = |e: Error| e.scrubbed(app.app_secret().expose_secret());
    let http = build_internal_request(kind, base_url, app);
    let member = match kind {
        Kind::TenantToken => &TENANT_TOKEN_MEMBER,
        Kind::AppToken => &APP_TOKEN_MEMBER,
    };
    token_round_trip(transport, clock, http, member, scrub).await
}

/// A self-built app's credentials, keyed by its id and a digest of its
/// secret: a wrong secret is another key, so it never gets the right
/// secret's cached token.
pub type SelfBuiltRequest = KeyedCredentials;

/// Feishu's internal endpoint for one of the two tokens (the `Upstream`'s
/// base URL, transport and retry policy), for any app whose credentials the
/// request carries.
pub struct SelfBuiltSource<T, C> {
    upstream: Upstream<T, C>,
    kind: Kind,
}

impl<T: Transport, C: Clock> SelfBuiltSource<T, C> {
    pub fn new(kind: Kind, upstream: Upstream<T, C>) -> Self {
        Self { upstream, kind }
    }
}

impl<T: Transport, C: Clock> Source for SelfBuiltSource<T, C> {
    type Request = SelfBuiltRequest;
    type Meta = ();

    async fn fetch(&self, request: &SelfBuiltRequest) -> Result<(TokenGrant, ()), Error> {
        let up = &self.upstream;
        let (t, c, b) = (up.transport(), up.clock(), up.base_url());
        retrying(t, c, up.retry_policy(), || {
            fetch_internal_token(self.kind, t, c, b, request.app())
        })
        .await
        .map(|grant| (grant, ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::source::Keyed;

    fn app() -> AppCredentials {
        AppCredentials::parse("cli_internal", "s3cr\"t", ["appId", "appSecret"]).unwrap()
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            ratelimit_reset: None,
            body: body.into(),
        }
    }

    #[test]
    fn builds_the_documented_request() {
        let r = build_internal_tenant_token_request(&BaseUrl::default(), &app());
        assert_eq!(
            r.url,
            "https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal"
        );
        assert_eq!(
            r.body_text(),
            r#"{"app_id":"cli_internal","app_secret":"s3cr\"t"}"#
        );
        assert!(!format!("{r:?}").contains("s3cr"));
    }

    #[test]
    fn parses_the_token_and_feishus_refusals() {
        let g = parse_internal_tenant_token_response(
            &resp(
                200,
                r#"{"code":0,"msg":"ok","tenant_access_token":"t-1","expire":7200}"#,
            ),
            1_000,
        )
        .unwrap();
        assert_eq!(
            (g.token.expose_secret(), g.expires_at_ms),
            ("t-1", 7_201_000)
        );
        for code in [10014, 10015] {
            let e = parse_internal_tenant_token_response(
                &resp(
                    400,
                    &format!(r#"{{"code":{code},"msg":"app secret invalid"}}"#),
                ),
                0,
            )
            .unwrap_err();
            assert_eq!(e.code(), ErrorCode::FeishuApiError);
            assert_eq!(e.feishu_code(), Some(code));
        }
    }

    #[test]
    fn keys_bind_the_secret() {
        let key = |secret: &str| {
            let app = AppCredentials::parse("cli_a", secret, ["a", "b"]).unwrap();
            SelfBuiltRequest::new(app).cache_key()
        };
        assert_eq!(key("s1"), key("s1"));
        assert_ne!(key("s1"), key("s2"));
    }
}
