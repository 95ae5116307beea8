//! The JS boundary: the caller's objects in, ours out. Every shape check
//! happens here, so a wrong type is an INVALID_INPUT error naming the field,
//! never a panic or a bare `TypeError`.
//!
//! Options go through serde-wasm-bindgen (camelCase members, unknown ones
//! refused). The per-call request and token result are read and built by
//! hand with property names interned once: they are the cache-hit path, where
//! a generic walk of the object costs more than the lookup itself.

use core::cell::RefCell;
use feishu_tenant_token::freshness::{
    DEFAULT_MIN_VALIDITY_SECS, MAX_MIN_VALIDITY_SECS, TokenGrant,
};
use feishu_tenant_token::retry::{MAX_MAX_RETRIES, RetryPolicy};
use feishu_tenant_token::transport::DEFAULT_TIMEOUT_MS;
use feishu_tenant_token::{
    AppCredentials, BaseUrl, BindingMemo, CacheKey, Error, Loose, TenantKey, TokenRequest,
};
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
        let msg = e.to_string().replacen("unknown field", "unknown option", 1);
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

const REQUEST_NAMES: [&str; 2] = ["appAccessToken", "tenantKey"];

/// Room for the usual request's two strings (a token is ~40 bytes, a tenant
/// key 16); longer ones take the member-by-member path.
const SCRATCH_BYTES: usize = 512;

thread_local! {
    static SCRATCH: RefCell<[u8; SCRATCH_BYTES]> = const { RefCell::new([0; SCRATCH_BYTES]) };
    static MEMORY: JsValue = wasm_bindgen::memory();
}

/// The usual request (an object with two strings of visible ASCII) in one
/// crossing, its strings copied by JS straight into a scratch buffer, handed
/// to `f`; `None` for anything else, which is read again member by member for
/// the exact error. Reading the two members from wasm took five crossings and
/// two allocations: most of a cache hit (profiled).
fn with_usual<R>(value: &JsValue, f: impl FnOnce(&str, &str) -> Option<R>) -> Option<R> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let at = u32::try_from(scratch.as_mut_ptr() as usize).ok()?;
        // The JS side writes only within `at .. at + SCRATCH_BYTES`.
        let packed = MEMORY.with(|m| read_request(value, m, at, SCRATCH_BYTES as u32));
        let packed = u32::try_from(packed).ok()?;
        let (app_len, tenant_len) = ((packed >> 16) as usize, (packed & 0xffff) as usize);
        let bytes = scratch.get(..app_len.checked_add(tenant_len)?)?;
        let (app, tenant) = bytes.split_at(app_len);
        f(
            core::str::from_utf8(app).ok()?,
            core::str::from_utf8(tenant).ok()?,
        )
    })
}

fn usual_request(value: &JsValue) -> Option<TokenRequest> {
    with_usual(value, |app, tenant| {
        TokenRequest::parse_as(Some(app), Some(tenant), REQUEST_NAMES).ok()
    })
}

/// The cache key of the usual request, for a lookup before anything else:
/// the app token is neither checked nor copied (only a checked request's key
/// can be in a cache, so a hit needs no check, and a miss reads the request
/// again with every check).
pub(crate) fn usual_key(value: &JsValue, bindings: &BindingMemo) -> Option<CacheKey> {
    with_usual(value, |app, tenant| {
        Some(CacheKey {
            app: bindings.binding_of(app),
            tenant: TenantKey::parse(tenant).ok()?,
        })
    })
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

/// `{ tenantAccessToken, expire, expiresAt }`, `expire` counted from `now_ms`.
pub(crate) fn token_result(grant: &TokenGrant, now_ms: u64) -> JsValue {
    // Whole numbers far below 2^53 (seconds, epoch milliseconds).
    let (expire, expires_at) = (
        grant.remaining_secs(now_ms) as f64,
        grant.expires_at_ms as f64,
    );
    token_result_object(
        &token_string(grant.token.expose_secret()),
        expire,
        expires_at,
    )
}

/// How many tokens' JS strings [`token_string`] keeps.
const TOKEN_STRINGS: usize = 16;

thread_local! {
    /// Direct-mapped by a hash of the token: the tokens served lately, each
    /// with the JS string made from it. Decoding a token out of wasm memory on
    /// every hit was a fifth of a Node cache hit (profiled); tokens are a few
    /// hot values served many times. Holds at most `TOKEN_STRINGS` tokens,
    /// only in this module, until overwritten.
    static STRINGS: RefCell<[Option<(String, JsValue)>; TOKEN_STRINGS]> = Default::default();
}

/// `token` as a JS string, decoded once while it stays hot.
fn token_string(token: &str) -> JsValue {
    let slot = token.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    }) % TOKEN_STRINGS;
    STRINGS.with(|s| {
        let mut s = s.borrow_mut();
        match &s[slot] {
            // A plain comparison: both sides are tokens this module was given
            // by its own cache, never a caller's guess.
            Some((t, v)) if t == token => v.clone(),
            _ => {
                let v = JsValue::from_str(token);
                s[slot] = Some((token.to_owned(), v.clone()));
                v
            }
        }
    })
}

// The two ends of a cache hit, in JS because each is one crossing there
// where reading or building the object member by member from wasm is four or
// five (the crossings were most of a hit's cost, profiled). No token logic.
#[wasm_bindgen(inline_js = "
export function tokenResult(t, e, x) { return { tenantAccessToken: t, expire: e, expiresAt: x }; }
// A view of wasm memory; a grown memory detaches it (its length becomes 0).
let bytes = new Uint8Array(0);
function put(s, at, room) {
  if (s.length > room) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return -1;
    bytes[at + i] = c;
  }
  return s.length;
}
export function readRequest(r, memory, at, room) {
  try {
    if (typeof r !== 'object' || r === null) return -1;
    const a = r.appAccessToken, t = r.tenantKey;
    if (typeof a !== 'string' || typeof t !== 'string') return -1;
    if (bytes.byteLength === 0) bytes = new Uint8Array(memory.buffer);
    const na = put(a, at, room);
    const nt = na < 0 ? -1 : put(t, at + na, room - na);
    return nt < 0 ? -1 : na * 65536 + nt;
  } catch {
    return -1;
  }
}
")]
extern "C" {
    /// Copies `r.appAccessToken` then `r.tenantKey` into wasm memory at `at`
    /// (at most `room` bytes) when `r` is an object and both are strings of
    /// visible ASCII; `app_len << 16 | tenant_len`, or -1 (nothing decided:
    /// the caller reads `r` again the slow way).
    #[wasm_bindgen(js_name = readRequest)]
    fn read_request(r: &JsValue, memory: &JsValue, at: u32, room: u32) -> i32;

    /// `{ tenantAccessToken, expire, expiresAt }` as one object literal: one
    /// crossing and one hidden class, where `Object::new` and three sets were
    /// four crossings and a tenth of a cache hit (profiled).
    #[wasm_bindgen(js_name = tokenResult)]
    fn token_result_object(token: &JsValue, expire: f64, expires_at: f64) -> JsValue;
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
