//! The cache hit's fast path, fenced here: the usual request read in one
//! crossing into a scratch buffer (inline JS), the token result built as one
//! object literal, and a memo of hot tokens' JS strings. Each is kept for
//! speed and named by what profiling found (`bench/profile.mjs`); together
//! they are bench row 1 of `bench/RESULTS.md` ("cache hit", target <= 1 us,
//! 4,445 -> ~1,020 ns for `TenantTokenClient.get` measured A/B in one
//! process). The app-token digest memo and the cache-key hasher are the
//! core's (`feishu_tenant_token::fast_path`). No token logic lives here.

use core::cell::RefCell;
use feishu_tenant_token::{BindingMemo, CacheKey, TenantKey, TokenGrant, TokenRequest};
use wasm_bindgen::prelude::*;

/// The request's members, as errors name them.
pub(crate) const REQUEST_NAMES: [&str; 2] = ["appAccessToken", "tenantKey"];

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

pub(crate) fn usual_request(value: &JsValue) -> Option<TokenRequest> {
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
