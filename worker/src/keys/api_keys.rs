//! Who may use managed mode: API keys, and the managed app's own id and
//! secret, each compared in constant time.

use crate::config::{Config, Managed};
use crate::http::reply::{self, Local};
use crate::keys::bearer::bearer;
use feishu_tenant_token::AppCredentials;
use feishu_tenant_token::secret::{ApiKey, constant_time_eq};
use worker::{Request, Response, Result};

/// Whether `Authorization: Bearer <key>` holds one of `keys`. Every key is
/// compared (in constant time), so timing says nothing about which matched.
pub fn holds_key(req: &Request, keys: &[ApiKey]) -> bool {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let Some(given) = bearer(&header) else {
        return false;
    };
    keys.iter().fold(false, |ok, k| {
        ok | constant_time_eq(k.expose_secret().as_bytes(), given.as_bytes())
    })
}

/// Managed mode's settings when the caller holds one of `API_KEYS`;
/// otherwise the answer refusing it (404 mode off, 500 no keys, 401).
pub fn api_caller<'c>(
    req: &Request,
    config: &'c Config,
) -> Result<core::result::Result<&'c Managed, Response>> {
    let Some(managed) = config.managed_here() else {
        return managed_off().map(Err);
    };
    Ok(key_holder(req, &config.api_keys)?.map(|()| managed))
}

/// `Ok` when the caller holds one of `keys`; otherwise the answer refusing
/// it (500 when there are no keys: fail closed; 401).
pub fn key_holder(req: &Request, keys: &[ApiKey]) -> Result<core::result::Result<(), Response>> {
    if keys.is_empty() {
        // Fail closed: without keys there is no one this endpoint may serve.
        return reply::local(
            Local::Misconfigured,
            "API_KEYS is not set: this endpoint serves no one",
        )
        .map(Err);
    }
    if !holds_key(req, keys) {
        let mut resp = reply::local(
            Local::Unauthorized,
            "a valid `Authorization: Bearer <API key>` is required",
        )?;
        resp.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(Err(resp));
    }
    Ok(Ok(()))
}

/// Whether `app` is the managed app itself: the same id, and the same secret
/// (compared in constant time). Only then does a caller get the Worker's own
/// app token or trigger its ticket resend.
pub fn is_managed_app<'c>(config: &'c Config, app: &AppCredentials) -> Option<&'c Managed> {
    let managed = config.managed_here()?;
    let ours = &managed.app;
    let same_secret = constant_time_eq(
        ours.app_secret().expose_secret().as_bytes(),
        app.app_secret().expose_secret().as_bytes(),
    );
    (ours.app_id() == app.app_id() && same_secret).then_some(managed)
}

/// The answer to a store-app mode request while it is off.
pub fn managed_off() -> Result<Response> {
    reply::local(
        Local::NotFound,
        "managed mode is off (set FEISHU_APP_ID and FEISHU_APP_SECRET)",
    )
}
