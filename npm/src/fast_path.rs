//! The cache hit's fast path, fenced here: the usual request read in one
//! crossing into a scratch buffer (inline JS), or not read at all when it
//! holds the same strings as last time (the client's memoised key serves);
//! a store app's tenant key the same way; the token result built as one
//! object literal; a memo of hot tokens' JS strings; and `fetch`'s success
//! path chained in JS. Each is kept for speed and named by what profiling
//! found (`bench/profile.mjs`); together they are bench rows 1 and 3b of
//! `bench/RESULTS.md` ("cache hit", target <= 1 us and <= 10x `await
//! Map.get`; "`client.fetch`", target <= +10 %). The app-token digest memo
//! and the cache-key hasher are the core's (`feishu_tenant_token::fast_path`).
//! No token logic lives here.

use core::cell::{Cell, RefCell};
#[cfg(feature = "store-app")]
use feishu_tenant_token::validate::MAX_TENANT_KEY_BYTES;
use feishu_tenant_token::{BindingMemo, CacheKey, TenantKey, TokenGrant, TokenRequest};
use js_sys::Promise;
use wasm_bindgen::prelude::*;

/// The request's members, as errors name them.
pub(crate) const REQUEST_NAMES: [&str; 2] = ["appAccessToken", "tenantKey"];

/// Room for the usual request's two strings (a token is ~40 bytes, a tenant
/// key 16); longer ones take the member-by-member path.
const SCRATCH_BYTES: usize = 512;

thread_local! {
    static SCRATCH: RefCell<[u8; SCRATCH_BYTES]> = const { RefCell::new([0; SCRATCH_BYTES]) };
    static WRITER: Scratch = scratch_of(&wasm_bindgen::memory());
    /// What the scratch holds: a generation that grows each time JS writes
    /// it, and the lengths of the two strings written.
    static WRITTEN: Cell<Written> = const { Cell::new(Written { generation: 0, app_len: 0, tenant_len: 0 }) };
}

#[derive(Clone, Copy)]
struct Written {
    generation: u64,
    app_len: usize,
    tenant_len: usize,
}

/// `readRequest`'s answer when the request's strings are the ones the
/// scratch holds already (the JS side compares them with the last it wrote).
const SAME_AS_WRITTEN: i32 = -2;

/// The usual request (an object with two strings of visible ASCII) in one
/// crossing, its strings copied by JS straight into the scratch buffer
/// unless it holds them already; what the scratch then holds, or `None`
/// for anything else, which is read again member by member for the exact
/// error. Reading the two members from wasm took five crossings and two
/// allocations: most of a cache hit (profiled).
fn read_usual(value: &JsValue) -> Option<Written> {
    SCRATCH.with(|scratch| {
        let at = u32::try_from(scratch.borrow_mut().as_mut_ptr() as usize).ok()?;
        // The JS side writes only within `at .. at + SCRATCH_BYTES`.
        let packed = WRITER.with(|w| w.read_request(value, at, SCRATCH_BYTES as u32));
        if packed == SAME_AS_WRITTEN {
            return Some(WRITTEN.get());
        }
        let packed = u32::try_from(packed).ok()?;
        let last = WRITTEN.get();
        let now = Written {
            generation: last.generation.wrapping_add(1),
            app_len: (packed >> 16) as usize,
            tenant_len: (packed & 0xffff) as usize,
        };
        WRITTEN.set(now);
        Some(now)
    })
}

/// `f` on the two strings of the usual request (see [`read_usual`]).
fn with_usual<R>(value: &JsValue, f: impl FnOnce(&str, &str) -> Option<R>) -> Option<R> {
    let written = read_usual(value)?;
    with_written(written, f)
}

fn with_written<R>(written: Written, f: impl FnOnce(&str, &str) -> Option<R>) -> Option<R> {
    SCRATCH.with(|scratch| {
        let scratch = scratch.borrow();
        let bytes = scratch.get(..written.app_len.checked_add(written.tenant_len)?)?;
        let (app, tenant) = bytes.split_at(written.app_len);
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

/// A client's memo of cache keys: the app-token digests ([`BindingMemo`])
/// and the key of the request it was last asked for, kept with the
/// scratch's generation it was made from. The same request asked again (a
/// service asks for one tenant's token many times) is looked up without
/// reading, checking or hashing its strings again: that was a third of a
/// Node cache hit (profiled).
#[derive(Default)]
pub(crate) struct KeyMemo {
    pub(crate) bindings: BindingMemo,
    last: RefCell<Option<(u64, CacheKey)>>,
}

impl KeyMemo {
    /// `f` on the cache key of the usual request, looked up before anything
    /// else: the app token is neither checked nor copied (only a checked
    /// request's key can be in a cache, so a hit needs no check, and a miss
    /// reads the request again with every check). `None` for anything but
    /// the usual request.
    pub(crate) fn with_usual_key<R>(
        &self,
        value: &JsValue,
        f: impl FnOnce(&CacheKey) -> R,
    ) -> Option<R> {
        let written = read_usual(value)?;
        let mut last = self.last.borrow_mut();
        let known = matches!(&*last, Some((g, _)) if *g == written.generation);
        if !known {
            let key = with_written(written, |app, tenant| {
                Some(CacheKey {
                    app: self.bindings.binding_of(app),
                    tenant: TenantKey::parse(tenant).ok()?,
                })
            });
            *last = key.map(|k| (written.generation, k));
        }
        let (_, key) = last.as_ref()?;
        Some(f(key))
    }
}

#[cfg(feature = "store-app")]
thread_local! {
    /// The tenant key of a store app's `tenantToken`, as JS copied it (a
    /// scratch of its own, so it and the request's never evict each other).
    static TENANT_SCRATCH: RefCell<[u8; MAX_TENANT_KEY_BYTES]> =
        const { RefCell::new([0; MAX_TENANT_KEY_BYTES]) };
    /// Its generation (grows on each write) and length.
    static TENANT_WRITTEN: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

/// A store app client's memo of the cache key it was last asked for, by
/// tenant key, kept with the tenant scratch's generation it was made from:
/// passing the tenant key as a string (encoded, allocated, checked, freed)
/// was a fifth of its cache hit (profiled).
#[cfg(feature = "store-app")]
#[derive(Default)]
pub(crate) struct TenantMemo {
    last: RefCell<Option<(u64, CacheKey)>>,
}

#[cfg(feature = "store-app")]
impl TenantMemo {
    /// `f` on the cache key of `value`, a tenant key of visible ASCII
    /// within `MAX_TENANT_KEY_BYTES`, made by `key` when not memoised; `None`
    /// for anything else (read it again the slow way, for the exact error).
    pub(crate) fn with_key<R>(
        &self,
        value: &JsValue,
        key: impl FnOnce(TenantKey) -> CacheKey,
        f: impl FnOnce(&CacheKey) -> R,
    ) -> Option<R> {
        let (generation, len) = TENANT_SCRATCH.with(|scratch| {
            let at = u32::try_from(scratch.borrow_mut().as_mut_ptr() as usize).ok()?;
            let room = MAX_TENANT_KEY_BYTES as u32;
            // The JS side writes only within `at .. at + room`.
            let n = WRITER.with(|w| w.read_tenant_key(value, at, room));
            if n == SAME_AS_WRITTEN {
                return Some(TENANT_WRITTEN.get());
            }
            let written = (
                TENANT_WRITTEN.get().0.wrapping_add(1),
                usize::try_from(n).ok()?,
            );
            TENANT_WRITTEN.set(written);
            Some(written)
        })?;
        let mut last = self.last.borrow_mut();
        if !matches!(&*last, Some((g, _)) if *g == generation) {
            let tenant = TENANT_SCRATCH.with(|scratch| {
                let scratch = scratch.borrow();
                let text = core::str::from_utf8(scratch.get(..len)?).ok()?;
                TenantKey::parse(text).ok()
            });
            *last = tenant.map(|t| (generation, key(t)));
        }
        let (_, memoised) = last.as_ref()?;
        Some(f(memoised))
    }
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
    let slot = slot_of(token.as_bytes());
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

/// A token's slot in [`STRINGS`], from its last eight bytes (a token ends in
/// random characters): hashing every byte, one at a time, was a tenth of a
/// Node cache hit (profiled).
fn slot_of(token: &[u8]) -> usize {
    let tail = token.len().saturating_sub(8);
    let word = token[tail..]
        .iter()
        .fold(0u64, |w, &b| (w << 8) | u64::from(b));
    (word.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) as usize % TOKEN_STRINGS
}

// The two ends of a cache hit, in JS because each is one crossing there
// where reading or building the object member by member from wasm is four or
// five (the crossings were most of a hit's cost, profiled). No token logic.
#[wasm_bindgen(inline_js = "
export function tokenResult(t, e, x) { return { tenantAccessToken: t, expire: e, expiresAt: x }; }
// One per wasm instance: the three entries' instances share this module, and
// each must write only its own memory.
class Scratch {
  constructor(memory) {
    this.memory = memory;
    // A view of the memory; a grown memory detaches it (its length becomes 0).
    this.bytes = new Uint8Array(0);
    // The strings last written to each scratch (which nothing else writes).
    this.app = null;
    this.tenant = null;
    this.tenantKey = null;
  }
  put(s, at, room) {
    if (s.length > room) return -1;
    if (this.bytes.byteLength === 0) this.bytes = new Uint8Array(this.memory.buffer);
    const bytes = this.bytes;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x21 || c > 0x7e) return -1;
      bytes[at + i] = c;
    }
    return s.length;
  }
  readTenantKey(s, at, room) {
    if (typeof s !== 'string') return -1;
    if (s === this.tenantKey) return -2;
    this.tenantKey = null;
    const n = this.put(s, at, room);
    if (n >= 0) this.tenantKey = s;
    return n;
  }
  readRequest(r, at, room) {
    try {
      if (typeof r !== 'object' || r === null) return -1;
      const a = r.appAccessToken, t = r.tenantKey;
      if (typeof a !== 'string' || typeof t !== 'string') return -1;
      if (a === this.app && t === this.tenant) return -2;
      this.app = this.tenant = null;
      const na = this.put(a, at, room);
      const nt = na < 0 ? -1 : this.put(t, at + na, room - na);
      if (nt < 0) return -1;
      this.app = a;
      this.tenant = t;
      return na * 65536 + nt;
    } catch {
      return -1;
    }
  }
}
export function scratchOf(memory) { return new Scratch(memory); }
// A client's fetch whose token came from the cache: an answer below 400 (never
// a refusal) goes back as it came, with no Rust future; any other goes to
// recover, which checks it and may send the call again.
export function passOrRecover(sent, recover, token, request, input, init) {
  return Promise.resolve(sent).then((r) =>
    r instanceof Response && r.status < 400 ? r : recover(r, token, request, input, init));
}
")]
extern "C" {
    /// `sent`'s answer when its status is below 400, else `recover(answer,
    /// token, request, input, init)`'s promise.
    #[wasm_bindgen(js_name = passOrRecover)]
    pub(crate) fn pass_or_recover(
        sent: &JsValue,
        recover: &JsValue,
        token: &str,
        request: &JsValue,
        input: &JsValue,
        init: &JsValue,
    ) -> Promise;

    /// This instance's writer of the scratch buffers.
    type Scratch;

    #[wasm_bindgen(js_name = scratchOf)]
    fn scratch_of(memory: &JsValue) -> Scratch;

    /// Copies the string `s` into wasm memory at `at` (at most `room`
    /// bytes) when it is of visible ASCII: its length, -2 when it equals the
    /// string it wrote last, or -1 (read it again the slow way).
    #[cfg(feature = "store-app")]
    #[wasm_bindgen(method, js_name = readTenantKey)]
    fn read_tenant_key(this: &Scratch, s: &JsValue, at: u32, room: u32) -> i32;

    /// Copies `r.appAccessToken` then `r.tenantKey` into wasm memory at `at`
    /// (at most `room` bytes) when `r` is an object and both are strings of
    /// visible ASCII; `app_len << 16 | tenant_len`, -2 when they equal the
    /// strings it wrote last (the bytes are there already), or -1 (nothing
    /// decided: the caller reads `r` again the slow way).
    #[wasm_bindgen(method, js_name = readRequest)]
    fn read_request(this: &Scratch, r: &JsValue, at: u32, room: u32) -> i32;

    /// `{ tenantAccessToken, expire, expiresAt }` as one object literal: one
    /// crossing and one hidden class, where `Object::new` and three sets were
    /// four crossings and a tenth of a cache hit (profiled).
    #[wasm_bindgen(js_name = tokenResult)]
    fn token_result_object(token: &JsValue, expire: f64, expires_at: f64) -> JsValue;
}
