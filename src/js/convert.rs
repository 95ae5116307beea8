//! Reading the caller's JS objects and building the ones we hand back. All
//! shape checks happen here, so a wrong type is an INVALID_INPUT error and
//! never a panic or a bare `TypeError`.

use super::record::Record;
use crate::error::Error;
use crate::freshness::{DEFAULT_MIN_VALIDITY_SECS, MAX_MIN_VALIDITY_SECS, TokenGrant};
use crate::retry::{MAX_MAX_RETRIES, RetryPolicy};
use crate::transport::DEFAULT_TIMEOUT_MS;
use crate::validate::{BaseUrl, TokenRequest};
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

/// Longest accepted `timeoutMs`: ten minutes.
const MAX_TIMEOUT_MS: u32 = 600_000;

const OPTION_NAMES: [&str; 6] = [
    "baseUrl",
    "timeoutMs",
    "minValiditySecs",
    "retries",
    "deadlineMs",
    "fetch",
];
const OPTION_LIST: &str = "baseUrl, timeoutMs, minValiditySecs, retries, deadlineMs, fetch";

/// Longest accepted `deadlineMs`: ten minutes.
const MAX_DEADLINE_MS: u64 = 600_000;

pub(crate) struct Options {
    pub base_url: BaseUrl,
    pub timeout_ms: u32,
    pub min_validity_secs: u64,
    pub retry: RetryPolicy,
    pub fetch: Option<Function>,
}

pub(crate) fn options(value: &JsValue) -> Result<Options, Error> {
    let mut out = Options {
        base_url: BaseUrl::default(),
        timeout_ms: DEFAULT_TIMEOUT_MS,
        min_validity_secs: DEFAULT_MIN_VALIDITY_SECS,
        retry: RetryPolicy::default(),
        fetch: None,
    };
    if value.is_undefined() || value.is_null() {
        return Ok(out);
    }
    let obj = as_object(value, "options")?;
    for key in Object::keys(obj).iter().filter_map(|k| k.as_string()) {
        if !OPTION_NAMES.contains(&key.as_str()) {
            return Err(Error::invalid_input(&format!(
                "unknown option `{}` (known: {OPTION_LIST})",
                printable(&key)
            )));
        }
    }
    if let Some(v) = present(obj, &JsValue::from_str("baseUrl")) {
        let s = v
            .as_string()
            .ok_or_else(|| Error::invalid_input("options.baseUrl must be a string"))?;
        out.base_url = BaseUrl::parse(&s)?;
    }
    if let Some(v) = present(obj, &JsValue::from_str("timeoutMs")) {
        out.timeout_ms = whole_number(&v, "options.timeoutMs", 1, u64::from(MAX_TIMEOUT_MS))?
            .try_into()
            .unwrap_or(MAX_TIMEOUT_MS);
    }
    if let Some(v) = present(obj, &JsValue::from_str("minValiditySecs")) {
        out.min_validity_secs =
            whole_number(&v, "options.minValiditySecs", 0, MAX_MIN_VALIDITY_SECS)?;
    }
    if let Some(v) = present(obj, &JsValue::from_str("retries")) {
        let n = whole_number(&v, "options.retries", 0, u64::from(MAX_MAX_RETRIES))?;
        out.retry.max_retries = u32::try_from(n).unwrap_or(MAX_MAX_RETRIES);
    }
    if let Some(v) = present(obj, &JsValue::from_str("deadlineMs")) {
        out.retry.deadline_ms = whole_number(&v, "options.deadlineMs", 0, MAX_DEADLINE_MS)?;
    }
    if let Some(v) = present(obj, &JsValue::from_str("fetch")) {
        out.fetch = Some(
            v.dyn_into::<Function>()
                .map_err(|_| Error::invalid_input("options.fetch must be a function"))?,
        );
    }
    Ok(out)
}

/// `{ appAccessToken, tenantKey }` -> a validated request.
pub(crate) fn token_request(value: &JsValue) -> Result<TokenRequest, Error> {
    let obj = as_object(value, "the request")?;
    let (app, tenant) = NAMES.with(|n| {
        Ok::<_, Error>((
            string_field(obj, &n.app_access_token, "appAccessToken")?,
            string_field(obj, &n.tenant_key, "tenantKey")?,
        ))
    })?;
    TokenRequest::parse_as(app, tenant, ["appAccessToken", "tenantKey"])
}

/// Property names used on every call, turned into JS strings once (decoding a
/// string out of wasm memory costs more than the rest of a cache hit).
pub(crate) struct Names {
    pub app_access_token: JsValue,
    pub tenant_key: JsValue,
    pub tenant_access_token: JsValue,
    pub expire: JsValue,
    pub expires_at: JsValue,
}

thread_local! {
    pub(crate) static NAMES: Names = Names {
        app_access_token: JsValue::from_str("appAccessToken"),
        tenant_key: JsValue::from_str("tenantKey"),
        tenant_access_token: JsValue::from_str("tenantAccessToken"),
        expire: JsValue::from_str("expire"),
        expires_at: JsValue::from_str("expiresAt"),
    };
}

/// `{ tenantAccessToken, expire, expiresAt }`, `expire` counted from `now_ms`.
pub(crate) fn token_result(grant: &TokenGrant, now_ms: u64) -> JsValue {
    let obj = Record::new();
    NAMES.with(|n| {
        obj.set(
            &n.tenant_access_token,
            &JsValue::from_str(grant.token.expose_secret()),
        );
        obj.set_number(&n.expire, grant.remaining_secs(now_ms));
        obj.set_number(&n.expires_at, grant.expires_at_ms);
    });
    obj.into()
}

pub(crate) fn as_object<'a>(value: &'a JsValue, what: &str) -> Result<&'a Object, Error> {
    if !value.is_object() || value.is_function() {
        return Err(Error::invalid_input(&format!("{what} must be an object")));
    }
    Ok(value.unchecked_ref())
}

/// The member's value, or `None` when it is absent or `undefined` (or its
/// getter throws).
pub(crate) fn present(obj: &Object, key: &JsValue) -> Option<JsValue> {
    Reflect::get(obj, key).ok().filter(|v| !v.is_undefined())
}

pub(crate) fn string_field(
    obj: &Object,
    key: &JsValue,
    name: &str,
) -> Result<Option<String>, Error> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| Error::invalid_input(&format!("{name} must be a string"))),
    }
}

pub(crate) fn whole_number(v: &JsValue, what: &str, min: u64, max: u64) -> Result<u64, Error> {
    let n = v
        .as_f64()
        .filter(|n| n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64);
    n.map(|n| n as u64).ok_or_else(|| {
        Error::invalid_input(&format!(
            "{what} must be a whole number from {min} to {max}"
        ))
    })
}

/// An unknown option's name, shortened and stripped of control characters so a
/// hostile key cannot forge log lines.
fn printable(key: &str) -> String {
    key.chars().filter(|c| !c.is_control()).take(40).collect()
}
