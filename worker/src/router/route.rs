//! Which endpoint a request is for, decided once from its path and used by
//! dispatch and by the log line. Pure, so it is tested natively.

use feishu_tenant_token::self_built::{INTERNAL_APP_TOKEN_PATH, INTERNAL_TENANT_TOKEN_PATH};
use feishu_tenant_token::store_app::{APP_TOKEN_PATH, TICKET_RESEND_PATH};
use feishu_tenant_token::wire::TENANT_TOKEN_PATH;

const HEALTH_PATH: &str = "/healthz";
/// Feishu's server APIs all live under this prefix.
const OPEN_APIS_PREFIX: &str = "/open-apis/";
const EVENTS_PATH: &str = "/feishu/events";
/// Each app's Request URL for its events.
const APP_EVENTS_PREFIX: &str = "/events/";
const TENANTS_PREFIX: &str = "/v1/tenants/";
const TENANTS_SUFFIX: &str = "/tenant_access_token";
/// Where the SDKs' long-connection clients (`WSClient`) ask which WebSocket
/// URL to connect to (outside `/open-apis`; the body carries the app's id
/// and secret; the WebSocket itself goes from the client straight to Feishu).
const WS_ENDPOINT_PATH: &str = "/callback/ws/endpoint";
/// User tokens: the sign-in and its return.
const LOGIN_PATH: &str = "/oauth/login";
const CALLBACK_PATH: &str = "/oauth/callback";
const USERS_PREFIX: &str = "/v1/users/";
const USER_TOKEN_SUFFIX: &str = "/user_access_token";
/// Usage this month (`GET`, API key or agent key).
const USAGE_PATH: &str = "/v1/usage";
/// Events pulled (`GET`, API key), dead letters listed and replayed.
const EVENTS_PULL_PATH: &str = "/v1/events";
const DEAD_LETTERS_PATH: &str = "/v1/events/dead";
const REPLAY_PATH: &str = "/v1/events/dead/replay";
/// The operator page and its files, and the admin API under it.
const ADMIN_PATH: &str = "/admin";
const ADMIN_API_PREFIX: &str = "/admin/api/";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /open-apis/auth/v3/tenant_access_token`: Feishu's own endpoint.
    TenantToken,
    /// `POST /open-apis/auth/v3/app_access_token`: a store app's app token,
    /// with the caller's id, secret and ticket.
    StoreAppToken,
    /// `POST /open-apis/auth/v3/tenant_access_token/internal`: a self-built
    /// app's tenant token.
    InternalTenantToken,
    /// `POST /open-apis/auth/v3/app_access_token/internal`: a self-built app's
    /// app token.
    InternalAppToken,
    /// `GET|HEAD /healthz`.
    Health,
    /// `POST /feishu/events`: managed mode's event callback.
    Events,
    /// `GET /v1/tenants/{tenant_key}/tenant_access_token`: managed mode; the
    /// raw (still percent-encoded) `{tenant_key}`.
    ManagedTenant(String),
    /// `POST /open-apis/auth/v3/app_ticket/resend`: the managed app's goes
    /// through its once-a-minute limit, any other app's on to Feishu.
    TicketResend,
    /// Any other `/open-apis/*` path: the gateway passes it on to Feishu.
    OpenApi,
    /// `POST /callback/ws/endpoint`: passed on to Feishu like `/open-apis/*`.
    WsEndpoint,
    /// `GET /oauth/login`: a browser starts signing in.
    Login,
    /// `GET /oauth/callback`: Feishu sends the browser back.
    Callback,
    /// `GET /v1/users/{open_id}/user_access_token` (the raw `{open_id}`).
    UserToken(String),
    /// `DELETE /v1/users/{open_id}`: signed out.
    User(String),
    /// `POST /events/{app_id}`: an app's event callback (its raw id).
    AppEvents(String),
    /// `GET /v1/usage`.
    Usage,
    /// `GET /v1/events`: an app's events pulled.
    EventsPull,
    /// `GET /v1/events/dead`: an app's dead letters.
    DeadLetters,
    /// `POST /v1/events/dead/replay`: dead letters pushed again.
    ReplayDead,
    /// `GET /admin`, `/admin/app.js`, `/admin/app.css`: the operator page
    /// (the file's name; empty for the page).
    AdminPage(String),
    /// `/admin/api/{rest}`: the admin API (`admin/`), the raw rest.
    AdminApi(String),
    /// Anything else: 404.
    Unknown,
}

impl Route {
    pub fn parse(path: &str) -> Self {
        match path {
            TENANT_TOKEN_PATH => Route::TenantToken,
            APP_TOKEN_PATH => Route::StoreAppToken,
            INTERNAL_TENANT_TOKEN_PATH => Route::InternalTenantToken,
            INTERNAL_APP_TOKEN_PATH => Route::InternalAppToken,
            HEALTH_PATH => Route::Health,
            EVENTS_PATH => Route::Events,
            TICKET_RESEND_PATH => Route::TicketResend,
            WS_ENDPOINT_PATH => Route::WsEndpoint,
            LOGIN_PATH => Route::Login,
            CALLBACK_PATH => Route::Callback,
            USAGE_PATH => Route::Usage,
            EVENTS_PULL_PATH => Route::EventsPull,
            DEAD_LETTERS_PATH => Route::DeadLetters,
            REPLAY_PATH => Route::ReplayDead,
            p if p.starts_with(APP_EVENTS_PREFIX)
                && p.len() > APP_EVENTS_PREFIX.len()
                && !p[APP_EVENTS_PREFIX.len()..].contains('/') =>
            {
                Route::AppEvents(p[APP_EVENTS_PREFIX.len()..].to_owned())
            }
            ADMIN_PATH | "/admin/" => Route::AdminPage(String::new()),
            p if p.starts_with(ADMIN_API_PREFIX) => {
                Route::AdminApi(p[ADMIN_API_PREFIX.len()..].to_owned())
            }
            p if p.starts_with("/admin/") && !p[7..].contains('/') => {
                Route::AdminPage(p[7..].to_owned())
            }
            p if p.starts_with(OPEN_APIS_PREFIX) => Route::OpenApi,
            p if p.starts_with(USERS_PREFIX) => {
                let rest = &p[USERS_PREFIX.len()..];
                match rest.strip_suffix(USER_TOKEN_SUFFIX) {
                    Some(u) if !u.is_empty() && !u.contains('/') => Route::UserToken(u.to_owned()),
                    None if !rest.is_empty() && !rest.contains('/') => Route::User(rest.to_owned()),
                    _ => Route::Unknown,
                }
            }
            p => match p
                .strip_prefix(TENANTS_PREFIX)
                .and_then(|rest| rest.strip_suffix(TENANTS_SUFFIX))
                .filter(|t| !t.contains('/'))
            {
                Some(t) => Route::ManagedTenant(t.to_owned()),
                None => Route::Unknown,
            },
        }
    }

    /// How the route appears in logs: never a tenant's own key.
    pub fn log_name(&self) -> &'static str {
        match self {
            Route::TenantToken => TENANT_TOKEN_PATH,
            Route::StoreAppToken => APP_TOKEN_PATH,
            Route::InternalTenantToken => INTERNAL_TENANT_TOKEN_PATH,
            Route::InternalAppToken => INTERNAL_APP_TOKEN_PATH,
            Route::Health => HEALTH_PATH,
            Route::Events => EVENTS_PATH,
            Route::ManagedTenant(_) => "/v1/tenants/{tenant_key}/tenant_access_token",
            Route::TicketResend => TICKET_RESEND_PATH,
            // The path may name chats, users or files: not logged.
            Route::OpenApi => "/open-apis/*",
            Route::WsEndpoint => WS_ENDPOINT_PATH,
            Route::Login => LOGIN_PATH,
            Route::Callback => CALLBACK_PATH,
            // Never a user's own id.
            Route::UserToken(_) => "/v1/users/{open_id}/user_access_token",
            Route::User(_) => "/v1/users/{open_id}",
            Route::Usage => USAGE_PATH,
            Route::EventsPull => EVENTS_PULL_PATH,
            Route::DeadLetters => DEAD_LETTERS_PATH,
            Route::ReplayDead => REPLAY_PATH,
            Route::AppEvents(_) => "/events/{app_id}",
            Route::AdminPage(_) => ADMIN_PATH,
            // Key ids and users are not logged; the admin's own line says.
            Route::AdminApi(_) => "/admin/api/*",
            Route::Unknown => "(other)",
        }
    }

    /// The `Allow` header of a 405 (`None`: no such path).
    pub fn allowed_methods(&self) -> Option<&'static str> {
        match self {
            Route::TenantToken
            | Route::StoreAppToken
            | Route::InternalTenantToken
            | Route::InternalAppToken => Some("POST, OPTIONS"),
            Route::Health => Some("GET, HEAD, OPTIONS"),
            Route::Events => Some("POST"),
            Route::ManagedTenant(_) => Some("GET, OPTIONS"),
            Route::TicketResend => Some("POST, OPTIONS"),
            Route::WsEndpoint => Some("POST"),
            Route::Login | Route::Callback => Some("GET"),
            Route::UserToken(_) => Some("GET, OPTIONS"),
            Route::User(_) => Some("DELETE, OPTIONS"),
            Route::Usage => Some("GET, OPTIONS"),
            Route::EventsPull | Route::DeadLetters => Some("GET"),
            Route::ReplayDead => Some("POST"),
            Route::AppEvents(_) => Some("POST"),
            Route::AdminPage(_) => Some("GET, HEAD"),
            // Each admin call says its own.
            Route::AdminApi(_) => None,
            // Every method is Feishu's to judge.
            Route::OpenApi => None,
            Route::Unknown => None,
        }
    }

    /// Browsers may call it (CORS preflights are answered). Feishu's event
    /// callback is server to server.
    pub fn takes_cors(&self) -> bool {
        matches!(
            self,
            Route::TenantToken
                | Route::StoreAppToken
                | Route::InternalTenantToken
                | Route::InternalAppToken
                | Route::Health
                | Route::ManagedTenant(_)
                | Route::UserToken(_)
                | Route::User(_)
                | Route::Usage
                | Route::TicketResend
                | Route::OpenApi
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_paths_name_one_user_and_never_log_it() {
        assert_eq!(Route::parse("/oauth/login"), Route::Login);
        assert_eq!(Route::parse("/oauth/callback"), Route::Callback);
        let token = Route::parse("/v1/users/ou_a/user_access_token");
        assert_eq!(token, Route::UserToken("ou_a".into()));
        assert!(!token.log_name().contains("ou_a"));
        assert_eq!(Route::parse("/v1/users/ou_a"), Route::User("ou_a".into()));
        for other in [
            "/v1/users/",
            "/v1/users/a/b",
            "/v1/users//user_access_token",
            "/v1/users/a/b/user_access_token",
        ] {
            assert_eq!(Route::parse(other), Route::Unknown, "{other}");
        }
    }

    #[test]
    fn each_path_has_one_route() {
        assert_eq!(Route::parse(TENANT_TOKEN_PATH), Route::TenantToken);
        assert_eq!(Route::parse("/healthz"), Route::Health);
        assert_eq!(Route::parse("/feishu/events"), Route::Events);
        assert_eq!(
            Route::parse("/open-apis/auth/v3/app_access_token"),
            Route::StoreAppToken
        );
        assert_eq!(
            Route::parse("/open-apis/auth/v3/tenant_access_token/internal"),
            Route::InternalTenantToken
        );
        assert_eq!(
            Route::parse("/open-apis/auth/v3/app_access_token/internal"),
            Route::InternalAppToken
        );
        assert_eq!(
            Route::parse("/v1/tenants/73658811060f175d/tenant_access_token"),
            Route::ManagedTenant("73658811060f175d".into())
        );
        assert_eq!(
            Route::parse("/open-apis/auth/v3/app_ticket/resend"),
            Route::TicketResend
        );
        assert_eq!(Route::parse("/callback/ws/endpoint"), Route::WsEndpoint);
        assert_eq!(Route::parse("/callback/ws/other"), Route::Unknown);
        for api in [
            "/open-apis/im/v1/messages",
            "/open-apis/auth/v3/tenant_access_token/",
            "/open-apis/",
            "/open-apis/drive/v1/files/x/download",
        ] {
            assert_eq!(Route::parse(api), Route::OpenApi, "{api}");
        }
        for other in [
            "/",
            "/healthz/",
            "/HEALTHZ",
            "/open-apis",
            "/OPEN-APIS/im/v1/messages",
            "/v1/tenants/a/b/tenant_access_token",
            "/v1/tenants/tenant_access_token",
            "/feishu/events/x",
        ] {
            assert_eq!(Route::parse(other), Route::Unknown, "{other}");
        }
        assert_eq!(
            Route::parse("/v1/tenants//tenant_access_token"),
            Route::ManagedTenant(String::new()),
            "an empty key is the handler's to refuse, with a field-named message"
        );
    }

    #[test]
    fn the_operators_paths() {
        assert_eq!(Route::parse("/v1/usage"), Route::Usage);
        assert_eq!(
            Route::parse("/events/cli_a"),
            Route::AppEvents("cli_a".into())
        );
        assert_eq!(Route::parse("/events/"), Route::Unknown);
        assert_eq!(Route::parse("/events/a/b"), Route::Unknown);
        assert!(!Route::AppEvents("cli_a".into()).takes_cors());
        assert_eq!(Route::parse("/admin"), Route::AdminPage(String::new()));
        assert_eq!(
            Route::parse("/admin/app.js"),
            Route::AdminPage("app.js".into())
        );
        assert_eq!(Route::parse("/admin/a/b"), Route::Unknown);
        let api = Route::parse("/admin/api/keys/bot/rotate");
        assert_eq!(api, Route::AdminApi("keys/bot/rotate".into()));
        assert!(!api.log_name().contains("bot"));
        assert!(
            !Route::AdminApi(String::new()).takes_cors(),
            "same origin only"
        );
        assert!(!Route::AdminPage(String::new()).takes_cors());
    }

    #[test]
    fn logs_never_carry_the_tenant_key() {
        let r = Route::parse("/v1/tenants/secret-tenant/tenant_access_token");
        assert!(!r.log_name().contains("secret-tenant"));
        let api = Route::parse("/open-apis/contact/v3/users/ou_secret");
        assert!(!api.log_name().contains("ou_secret"));
        assert_eq!(Route::parse("/etc/passwd").log_name(), "(other)");
    }

    #[test]
    fn methods_and_cors_per_route() {
        assert_eq!(Route::TenantToken.allowed_methods(), Some("POST, OPTIONS"));
        assert_eq!(Route::Unknown.allowed_methods(), None);
        assert!(!Route::Events.takes_cors());
        assert!(Route::Health.takes_cors());
    }
}
