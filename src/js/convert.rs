//! Reading the caller's JS objects and building the ones we hand back. All
//! shape checks happen here, so a wrong type is an INVALID_INPUT error and
//! never a panic or a bare `TypeError`.

use super::fetch::DEFAULT_TIMEOUT_MS;
use crate::error::Error;
use crate::freshness::{DEFAULT_MIN_VALIDITY_SECS, MAX_MIN_VALIDITY_SECS, TokenGrant};
use crate::validate::{BaseUrl, TokenRequest};
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

/// Longest accepted `timeoutMs`: ten minutes.
const MAX_TIMEOUT_MS: u32 = 600_000;

const OPTION_NAMES: [&str; 4] = ["baseUrl", "timeoutMs", "minValiditySecs", "fetch"];
const OPTION_LIST: &str = "baseUrl, timeoutMs, minValiditySecs, fetch";

pub(crate) struct Options {
    pub base_url: BaseUrl,
    pub timeout_ms: u32,
    pub min_validity_secs: u64,
    pub fetch: Option<Function>,
}

pub(crate) fn options(value: &JsValue) -> Result<Options, Error> {
    let mut out = Options {
        base_url: BaseUrl::default(),
        timeout_ms: DEFAULT_TIMEOUT_MS,
        min_validity_secs: DEFAULT_MIN_VALIDITY_SECS,
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
    if let Some(v) = present(obj, "baseUrl") {
        let s = v
            .as_string()
            .ok_or_else(|| Error::invalid_input("options.baseUrl must be a string"))?;
        out.base_url = BaseUrl::parse(&s)?;
    }
    if let Some(v) = present(obj, "timeoutMs") {
        out.timeout_ms = whole_number(&v, "options.timeoutMs", 1, u64::from(MAX_TIMEOUT_MS))?
            .try_into()
            .unwrap_or(MAX_TIMEOUT_MS);
    }
    if let Some(v) = present(obj, "minValiditySecs") {
        out.min_validity_secs =
            whole_number(&v, "options.minValiditySecs", 0, MAX_MIN_VALIDITY_SECS)?;
    }
    if let Some(v) = present(obj, "fetch") {
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
    let app = string_field(obj, "appAccessToken")?;
    let tenant = string_field(obj, "tenantKey")?;
    TokenRequest::parse_as(
        app.as_deref(),
        tenant.as_deref(),
        ["appAccessToken", "tenantKey"],
    )
}

/// `{ tenantAccessToken, expire, expiresAt }`, `expire` counted from `now_ms`.
pub(crate) fn token_result(grant: &TokenGrant, now_ms: u64) -> Result<JsValue, JsValue> {
    let obj = Object::new();
    Reflect::set(
        &obj,
        &"tenantAccessToken".into(),
        &grant.token.expose_secret().into(),
    )?;
    Reflect::set(
        &obj,
        &"expire".into(),
        &(grant.remaining_secs(now_ms) as f64).into(),
    )?;
    Reflect::set(
        &obj,
        &"expiresAt".into(),
        &(grant.expires_at_ms as f64).into(),
    )?;
    Ok(obj.into())
}

pub(crate) fn set_number(obj: &Object, key: &str, v: u64) -> Result<(), JsValue> {
    Reflect::set(obj, &key.into(), &(v as f64).into()).map(drop)
}

fn as_object<'a>(value: &'a JsValue, what: &str) -> Result<&'a Object, Error> {
    if !value.is_object() || value.is_function() {
        return Err(Error::invalid_input(&format!("{what} must be an object")));
    }
    Ok(value.unchecked_ref())
}

/// The member's value, or `None` when it is absent or `undefined`.
fn present(obj: &Object, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &key.into())
        .ok()
        .filter(|v| !v.is_undefined())
}

fn string_field(obj: &Object, key: &str) -> Result<Option<String>, Error> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| Error::invalid_input(&format!("{key} must be a string"))),
    }
}

fn whole_number(v: &JsValue, what: &str, min: u64, max: u64) -> Result<u64, Error> {
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
