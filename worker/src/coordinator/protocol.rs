//! What fronts and the object say to each other. The object speaks Feishu's
//! token API: a front sends it the very request it would send Feishu (path
//! and JSON body, the caller's credential in it), and the object answers in
//! Feishu's token shape, or with Feishu's refusal (4xx, Feishu's code and
//! msg), or a relayed failure (below), or 503 for a failure of its own. The
//! Worker's request and answer code serves both sides: nothing new to parse.

use feishu_tenant_token::self_built::{self, Kind, SelfBuiltRequest};
use feishu_tenant_token::store_app::{AppTokenRequest, StoreAppRequest};
use feishu_tenant_token::wire;
use feishu_tenant_token::{BaseUrl, Error, ErrorCode, HttpRequest, TokenRequest};

/// Where a front addresses the object: the host is never resolved (a
/// stub's fetch goes to the object), the path is Feishu's.
pub const OBJECT_ORIGIN: &str = "https://coordinator";

pub fn tenant(base: &BaseUrl, r: &TokenRequest) -> HttpRequest {
    wire::build_tenant_token_request(base, r)
}

pub fn internal_tenant(base: &BaseUrl, r: &SelfBuiltRequest) -> HttpRequest {
    self_built::build_internal_request(Kind::TenantToken, base, r.app())
}

pub fn internal_app(base: &BaseUrl, r: &SelfBuiltRequest) -> HttpRequest {
    self_built::build_internal_request(Kind::AppToken, base, r.app())
}

/// Managed mode's questions name no credential: the object holds the
/// managed app's id and secret itself (the same settings as the fronts).
pub const MANAGED_APP_PATH: &str = "/managed/app_access_token";
/// The body is the tenant key.
pub const MANAGED_TENANT_PATH: &str = "/managed/tenant_access_token";

pub fn managed_app(base: &BaseUrl, _: &AppTokenRequest) -> HttpRequest {
    HttpRequest::post_json(base.join(MANAGED_APP_PATH), String::new())
}

pub fn managed_tenant(base: &BaseUrl, r: &StoreAppRequest) -> HttpRequest {
    HttpRequest::post_json(
        base.join(MANAGED_TENANT_PATH),
        r.tenant_key.as_str().to_owned(),
    )
}

/// Where ticket operations go: a path of the object's own, never Feishu's.
/// The operation's name follows it.
pub const TICKET_PREFIX: &str = "/coordinator/";
pub const TICKET_GET: &str = "ticket-get";
pub const TICKET_PUT: &str = "ticket-put";
pub const TICKET_DELETE: &str = "ticket-delete";
pub const RESEND_CLAIM: &str = "resend-claim";
pub const RESEND_RELEASE: &str = "resend-release";
/// A front saw Feishu refuse the object's key's token, handed out by an
/// isolate that is not the front: the object replaces it with the question
/// it served (its credentials in the object's memory only), or answers 404
/// when it has none.
pub const REPLACE: &str = "replace";
/// On a forced refresh: the hex SHA-256 (`kv::token_digest`) of the token
/// the front was told is refused (`Want::Replacing`).
pub const REPLACING_HEADER: &str = "x-replacing";

/// A refusal or a rate limit: answers the object relays in Feishu's shape.
pub fn is_feishus_word(e: &Error) -> bool {
    matches!(e.code(), ErrorCode::FeishuApiError | ErrorCode::RateLimited)
}

/// Feishu unreachable, slow, answering a 5xx or something unreadable, after
/// the object's retries: relayed too, so that an outage costs one round of
/// attempts, not the object's and then the front's. Each class has a status
/// of its own, outside the registered range so that nothing else (workerd,
/// a proxy) answers with one, and the message is the body. A failure of the
/// object's own is its 503: the front then fetches by itself.
const RELAYED: [(u16, ErrorCode); 4] = [
    (590, ErrorCode::NetworkError),
    (591, ErrorCode::Timeout),
    (592, ErrorCode::HttpError),
    (593, ErrorCode::InvalidResponse),
];

/// The status relaying `e`, when it is a relayed class.
pub fn relay_status(e: &Error) -> Option<u16> {
    RELAYED
        .iter()
        .find(|(_, c)| *c == e.code())
        .map(|(s, _)| *s)
}

/// The error a relayed status stands for.
pub fn relayed(status: u16, message: &str) -> Option<Error> {
    let (_, code) = RELAYED.iter().find(|(s, _)| *s == status)?;
    Some(Error::relayed(*code, message))
}
