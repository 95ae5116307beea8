//! The store-app endpoints on the wire (no I/O): `app_access_token` (step 2
//! of the chain) and `app_ticket/resend`.

use crate::app::AppBody;
pub use crate::app::{AppCredentials, MAX_APP_ID_BYTES};
use crate::error::Error;
use crate::freshness::TokenGrant;
use crate::secret::AppTicket;
use crate::transport::{HttpRequest, HttpResponse};
use crate::validate::BaseUrl;
use crate::wire::{
    APP_TOKEN_MEMBER, TokenReply, json_body, parse_ok_reply, parse_token_reply, read_reply,
};

pub const APP_TOKEN_PATH: &str = "/open-apis/auth/v3/app_access_token";
pub const TICKET_RESEND_PATH: &str = "/open-apis/auth/v3/app_ticket/resend";

/// Feishu: "app_ticket invalid" (drop the ticket, ask for a resend).
pub const APP_TICKET_INVALID_CODE: i64 = 10_012;
/// Feishu: "app_access_token invalid" (evict it, fetch again once).
pub const APP_TOKEN_INVALID_CODE: i64 = 99_991_664;

pub fn build_app_token_request(
    base: &BaseUrl,
    app: &AppCredentials,
    ticket: &AppTicket,
) -> HttpRequest {
    HttpRequest::post_json(
        base.join(APP_TOKEN_PATH),
        json_body(&AppBody {
            app_id: app.app_id(),
            app_secret: app.app_secret().expose_secret(),
            app_ticket: Some(ticket.expose_secret()),
        }),
    )
}

/// `{"code":0,"app_access_token","expire"}` -> a grant (the token type is
/// shared with tenant tokens: the freshness rule is the same).
pub fn parse_app_token_response(
    response: &HttpResponse,
    sent_at_ms: u64,
) -> Result<TokenGrant, Error> {
    parse_app_token_reply(response, read_reply(&response.body), sent_at_ms)
}

/// As [`parse_app_token_response`], with the body already read.
pub(crate) fn parse_app_token_reply(
    response: &HttpResponse,
    reply: Option<TokenReply>,
    sent_at_ms: u64,
) -> Result<TokenGrant, Error> {
    parse_token_reply(response, reply, sent_at_ms, &APP_TOKEN_MEMBER)
}

pub fn build_ticket_resend_request(base: &BaseUrl, app: &AppCredentials) -> HttpRequest {
    HttpRequest::post_json(
        base.join(TICKET_RESEND_PATH),
        json_body(&AppBody {
            app_id: app.app_id(),
            app_secret: app.app_secret().expose_secret(),
            app_ticket: None,
        }),
    )
}

pub fn parse_ticket_resend_response(response: &HttpResponse) -> Result<(), Error> {
    parse_ok_reply(response, read_reply(&response.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn app() -> AppCredentials {
        AppCredentials::parse("cli_a", "s3cr\"t", ["app_id", "app_secret"]).unwrap()
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            ratelimit_reset: Some("5".into()),
            body: body.into(),
        }
    }

    #[test]
    fn builds_the_documented_requests() {
        let base = BaseUrl::default();
        let r = build_app_token_request(&base, &app(), &AppTicket::new("tkt-1"));
        assert_eq!(
            r.url,
            "https://open.feishu.cn/open-apis/auth/v3/app_access_token"
        );
        assert_eq!(
            r.body_text(),
            r#"{"app_id":"cli_a","app_secret":"s3cr\"t","app_ticket":"tkt-1"}"#
        );
        let r = build_ticket_resend_request(&base, &app());
        assert_eq!(
            r.url,
            "https://open.feishu.cn/open-apis/auth/v3/app_ticket/resend"
        );
        assert_eq!(
            r.body_text(),
            r#"{"app_id":"cli_a","app_secret":"s3cr\"t"}"#
        );
        assert!(!format!("{r:?} {:?}", app()).contains("s3cr"));
    }

    #[test]
    fn app_token_replies() {
        let g = parse_app_token_response(
            &resp(
                200,
                r#"{"code":0,"msg":"ok","app_access_token":"a-1","expire":7000}"#,
            ),
            1_000,
        )
        .unwrap();
        assert_eq!(
            (g.token.expose_secret(), g.expires_at_ms),
            ("a-1", 7_001_000)
        );
        let e = parse_app_token_response(
            &resp(400, r#"{"code":10012,"msg":"app_ticket is invalid"}"#),
            0,
        )
        .unwrap_err();
        assert!(e.is_feishu(APP_TICKET_INVALID_CODE));
        let e = parse_app_token_response(
            &resp(
                200,
                r#"{"code":0,"tenant_access_token":"t-1","expire":7000}"#,
            ),
            0,
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidResponse);
        assert!(
            e.message().contains("`app_access_token` is missing"),
            "{}",
            e.message()
        );
        let e = parse_app_token_response(&resp(429, "slow down"), 0).unwrap_err();
        assert_eq!(
            (e.code(), e.retry_after_secs()),
            (ErrorCode::RateLimited, Some(5))
        );
    }

    #[test]
    fn resend_replies() {
        parse_ticket_resend_response(&resp(200, r#"{"code":0,"msg":"ok"}"#)).unwrap();
        let e = parse_ticket_resend_response(&resp(400, r#"{"code":10003,"msg":"invalid param"}"#))
            .unwrap_err();
        assert_eq!(
            (e.code(), e.feishu_code()),
            (ErrorCode::FeishuApiError, Some(10003))
        );
        let e = parse_ticket_resend_response(&resp(502, "<html>")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::HttpError);
        let e = parse_ticket_resend_response(&resp(200, r#"{"msg":"ok"}"#)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidResponse);
    }

    #[test]
    fn credentials_are_checked() {
        let names = ["appId", "appSecret"];
        assert!(
            AppCredentials::parse("", "s", names)
                .unwrap_err()
                .message()
                .contains("appId is empty")
        );
        assert!(AppCredentials::parse("a b", "s", names).is_err());
        assert!(
            AppCredentials::parse("a", " ", names)
                .unwrap_err()
                .message()
                .contains("appSecret")
        );
        let long = "x".repeat(MAX_APP_ID_BYTES + 1);
        assert!(AppCredentials::parse(&long, "s", names).is_err());
    }
}
