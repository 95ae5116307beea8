//! The JS boundary: the caller's objects in, ours out. Every shape check
//! happens here, so a wrong type is an INVALID_INPUT error naming the field,
//! never a panic or a bare `TypeError`.
//!
//! Options go through serde-wasm-bindgen (camelCase members, unknown ones
//! refused). The per-call request is read member by member here when it is
//! not the usual one that `fast_path.rs` reads in one crossing.

use crate::fast_path::{REQUEST_NAMES, usual_request};
use feishu_tenant_token::freshness::{DEFAULT_MIN_VALIDITY_SECS, MAX_MIN_VALIDITY_SECS};
use feishu_tenant_token::retry::{MAX_MAX_RETRIES, RetryPolicy};
use feishu_tenant_token::transport::DEFAULT_TIMEOUT_MS;
use feishu_tenant_token::{AppCredentials, BaseUrl, Error, Loose, TokenRequest};
use js_sys::{Function, Object, Reflect};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, Visitor};
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::prelude::*;

/// Longest accepted `timeoutMs`: ten minutes.
const MAX_TIMEOUT_MS: u32 = 600_000;

/// Longest accepted `deadlineMs`: ten minutes.
const MAX_DEADLINE_MS: u64 = 600_000;

fn loose<'de, D: Deserializer<'de>>(d: D) -> Result<Loose, D::Error> {
    Loose::deserialize(d)
}

/// A reader for one optional member that names it when its type is wrong.
macro_rules! member {
    ($fn:ident, String, $msg:literal) => {
        pub(crate) fn $fn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
            match loose(d)? {
                Loose::Absent => Ok(None),
                Loose::Str(s) => Ok(Some(s)),
                _ => Err(D::Error::custom($msg)),
            }
        }
    };
    ($fn:ident, f64, $msg:literal) => {
        pub(crate) fn $fn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            match loose(d)? {
                Loose::Absent => Ok(None),
                Loose::Int(i) => Ok(Some(i as f64)),
                Loose::Float(f) => Ok(Some(f)),
                _ => Err(D::Error::custom($msg)),
            }
        }
    };
}

member!(base_url, String, "options.baseUrl must be a string");
member!(timeout_ms, f64, "options.timeoutMs must be a number");
member!(
    min_validity,
    f64,
    "options.minValiditySecs must be a number"
);
member!(retries, f64, "options.retries must be a number");
member!(deadline_ms, f64, "options.deadlineMs must be a number");
member!(app_id, String, "appId must be a string");
member!(app_secret, String, "appSecret must be a string");
#[cfg(feature = "store-app")]
member!(app_ticket, String, "appTicket must be a string");
#[cfg(feature = "store-app")]
member!(encrypt_key, String, "options.encryptKey must be a string");
#[cfg(feature = "store-app")]
member!(
    verification_token,
    String,
    "options.verificationToken must be a string"
);
#[cfg(feature = "store-app")]
member!(max_age_secs, f64, "options.maxAgeSecs must be a number");

/// `ClientOptions` as received, with the store-app client's own members
/// (refused by the other clients). `fetch` and `ticketStore` stay JS values.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawOptions {
    #[serde(default, deserialize_with = "base_url")]
    base_url: Option<String>,
    #[serde(default, deserialize_with = "timeout_ms")]
    timeout_ms: Option<f64>,
    #[serde(default, deserialize_with = "min_validity")]
    min_validity_secs: Option<f64>,
    #[serde(default, deserialize_with = "retries")]
    retries: Option<f64>,
    #[serde(default, deserialize_with = "deadline_ms")]
    deadline_ms: Option<f64>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    fetch: JsValue,
    #[serde(default, deserialize_with = "app_id")]
    pub app_id: Option<String>,
    #[serde(default, deserialize_with = "app_secret")]
    pub app_secret: Option<String>,
    #[cfg(feature = "store-app")]
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    pub ticket_store: JsValue,
    #[cfg(feature = "user-tokens")]
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    pub store: JsValue,
}

pub(crate) struct Options {
    pub base_url: BaseUrl,
    pub timeout_ms: u32,
    pub min_validity_secs: u64,
    pub retry: RetryPolicy,
    pub fetch: Option<Function>,
}

/// A caller's object as `T`, or INVALID_INPUT; `undefined` / `null` is `T`'s default.
pub(crate) fn from_js<T: DeserializeOwned + Default>(
    value: &JsValue,
    what: &str,
) -> Result<T, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    as_object(value, what)?;
    T::deserialize(EveryMember(value.clone().into())).map_err(|e| {
        // serde's "unknown field `x`, expected ..." names an option here,
        // without the JS error's "Error: " (prefix tests: a `str` pattern
        // search links ~2 KB of searcher into the .wasm).
        let text = e.to_string();
        let msg = text.strip_prefix("Error: ").unwrap_or(&text);
        let msg = match msg.strip_prefix("unknown field") {
            Some(rest) => format!("unknown option{rest}"),
            None => msg.to_owned(),
        };
        Error::invalid_input(&printable(&msg))
    })
}

/// serde-wasm-bindgen reads a struct by looking up its declared members only,
/// so `deny_unknown_fields` would never see an unknown one. Read as a map, the
/// object's own members all reach the derived reader, which refuses strangers.
struct EveryMember(serde_wasm_bindgen::Deserializer);

impl<'de> Deserializer<'de> for EveryMember {
    type Error = serde_wasm_bindgen::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// A value of ours as a plain JS object.
pub(crate) fn to_js(value: &impl Serialize) -> JsValue {
    let s = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    // Our types are structs of strings, numbers and JS values: nothing fails.
    value.serialize(&s).unwrap_or(JsValue::UNDEFINED)
}

impl RawOptions {
    /// The `ClientOptions` of a client that takes no app credentials.
    pub(crate) fn client_only(self) -> Result<Options, Error> {
        let given = [
            (self.app_id.is_some(), "appId"),
            (self.app_secret.is_some(), "appSecret"),
            #[cfg(feature = "store-app")]
            (!self.ticket_store.is_undefined(), "ticketStore"),
            #[cfg(feature = "user-tokens")]
            (!self.store.is_undefined(), "store"),
        ];
        if let Some((_, name)) = given.iter().find(|(g, _)| *g) {
            return Err(Error::invalid_input(&format!(
                "unknown option `{name}` (TenantTokenClient takes no app credentials)"
            )));
        }
        self.client_options()
    }

    /// `appId` and `appSecret`, checked.
    pub(crate) fn credentials(&self) -> Result<AppCredentials, Error> {
        credentials(self.app_id.as_deref(), self.app_secret.as_deref())
    }

    /// The members every client takes, checked.
    pub(crate) fn client_options(&self) -> Result<Options, Error> {
        let mut out = Options {
            base_url: BaseUrl::default(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            min_validity_secs: DEFAULT_MIN_VALIDITY_SECS,
            retry: RetryPolicy::default(),
            fetch: None,
        };
        if let Some(s) = &self.base_url {
            out.base_url = BaseUrl::parse(s)?;
        }
        if let Some(v) = self.timeout_ms {
            let n = whole_number(v, "options.timeoutMs", 1, u64::from(MAX_TIMEOUT_MS))?;
            out.timeout_ms = u32::try_from(n).unwrap_or(MAX_TIMEOUT_MS);
        }
        if let Some(v) = self.min_validity_secs {
            out.min_validity_secs =
                whole_number(v, "options.minValiditySecs", 0, MAX_MIN_VALIDITY_SECS)?;
        }
        if let Some(v) = self.retries {
            let n = whole_number(v, "options.retries", 0, u64::from(MAX_MAX_RETRIES))?;
            out.retry.max_retries = u32::try_from(n).unwrap_or(MAX_MAX_RETRIES);
        }
        if let Some(v) = self.deadline_ms {
            out.retry.deadline_ms = whole_number(v, "options.deadlineMs", 0, MAX_DEADLINE_MS)?;
        }
        if !self.fetch.is_undefined() && !self.fetch.is_null() {
            out.fetch = Some(
                self.fetch
                    .clone()
                    .dyn_into::<Function>()
                    .map_err(|_| Error::invalid_input("options.fetch must be a function"))?,
            );
        }
        Ok(out)
    }
}

/// `{ appId, appSecret }` (of options, or of a request), checked.
pub(crate) fn credentials(id: Option<&str>, secret: Option<&str>) -> Result<AppCredentials, Error> {
    let id = id.ok_or_else(|| Error::invalid_input("appId is missing"))?;
    let secret = secret.ok_or_else(|| Error::invalid_input("appSecret is missing"))?;
    AppCredentials::parse(id, secret, ["appId", "appSecret"])
}

/// `ClientOptions` of a client without app credentials.
pub(crate) fn options(value: &JsValue) -> Result<Options, Error> {
    from_js::<RawOptions>(value, "options")?.client_only()
}

/// `{ appAccessToken, tenantKey }` -> a validated request.
pub(crate) fn token_request(value: &JsValue) -> Result<TokenRequest, Error> {
    if let Some(request) = usual_request(value) {
        return Ok(request);
    }
    let obj = as_object(value, "the request")?;
    let (app, tenant) = NAMES.with(|n| {
        Ok::<_, Error>((
            string_field(obj, &n.app_access_token, "appAccessToken")?,
            string_field(obj, &n.tenant_key, "tenantKey")?,
        ))
    })?;
    TokenRequest::parse_as(app, tenant, REQUEST_NAMES)
}

/// Property names used on every call, turned into JS strings once (decoding a
/// string out of wasm memory costs more than the rest of a cache hit).
struct Names {
    app_access_token: JsValue,
    tenant_key: JsValue,
}

thread_local! {
    static NAMES: Names = Names {
        app_access_token: JsValue::from_str("appAccessToken"),
        tenant_key: JsValue::from_str("tenantKey"),
    };
}

pub(crate) fn as_object<'a>(value: &'a JsValue, what: &str) -> Result<&'a Object, Error> {
    if !value.is_object() || value.is_function() {
        return Err(Error::invalid_input(&format!("{what} must be an object")));
    }
    Ok(value.unchecked_ref())
}

/// The member's value, or `None` when it is absent or `undefined` (or its
/// getter throws).
fn present(obj: &Object, key: &JsValue) -> Option<JsValue> {
    Reflect::get(obj, key).ok().filter(|v| !v.is_undefined())
}

fn string_field(obj: &Object, key: &JsValue, name: &str) -> Result<Option<String>, Error> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| Error::invalid_input(&format!("{name} must be a string"))),
    }
}

pub(crate) fn whole_number(v: f64, what: &str, min: u64, max: u64) -> Result<u64, Error> {
    if v.fract() == 0.0 && v >= min as f64 && v <= max as f64 {
        return Ok(v as u64);
    }
    Err(Error::invalid_input(&format!(
        "{what} must be a whole number from {min} to {max}"
    )))
}

/// A message naming something the caller sent (an unknown option's key),
/// stripped of control characters and shortened so a hostile key cannot
/// forge log lines.
fn printable(msg: &str) -> String {
    msg.chars().filter(|c| !c.is_control()).take(300).collect()
}
