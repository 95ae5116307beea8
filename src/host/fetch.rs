//! The transport over the host's `fetch`, found on `globalThis` (never
//! `window`, which Node, Deno, Bun and Workers lack) or supplied by the caller.

use super::record::Record;
use crate::freshness::Clock;
use crate::json::ReadJson;
use crate::transport::{
    HttpRequest, HttpResponse, JSON_CONTENT_TYPE, Method, Timer, Transport, TransportError,
};
use crate::wire::RATELIMIT_RESET_HEADER;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Response};

/// `Date.now()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsClock;

impl Clock for JsClock {
    fn now_ms(&self) -> u64 {
        // Date.now() is a non-negative integer well inside u64.
        js_sys::Date::now() as u64
    }
}

/// The host's `JSON.parse`, then serde-wasm-bindgen into the serde types: in
/// the npm `.wasm` this measured 9.7 KB gzip smaller than linking serde_json's
/// parser (main entry 52,985 vs 62,651 B when it was chosen; docs/design.md).
/// A duplicate member's last value counts, as in any JS client.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostJson;

impl ReadJson for HostJson {
    fn object<T: serde::de::DeserializeOwned>(&self, text: &str) -> Option<T> {
        let v = js_sys::JSON::parse(text).ok()?;
        if !v.is_object() || js_sys::Array::is_array(&v) {
            return None;
        }
        serde_wasm_bindgen::from_value(v).ok()
    }
}

/// Sends requests with `fetch`, aborting them after a timeout.
/// `J` reads answers' JSON: [`HostJson`] by default (smallest in the npm
/// `.wasm`); the Worker, which links serde_json anyway, uses
/// [`SerdeJson`](crate::SerdeJson) (measured smaller there).
pub struct FetchTransport<J = HostJson> {
    fetch: Function,
    /// `globalThis` for the host's fetch (browsers throw "Illegal invocation"
    /// when it is called on anything else), `undefined` for a caller's.
    this: JsValue,
    timeout_ms: u32,
    json: J,
}

impl FetchTransport {
    /// Uses `custom` if given, else `globalThis.fetch`; fails when neither exists.
    pub fn new(custom: Option<Function>, timeout_ms: u32) -> Result<Self, String> {
        if let Some(fetch) = custom {
            return Ok(Self {
                fetch,
                this: JsValue::UNDEFINED,
                timeout_ms,
                json: HostJson,
            });
        }
        let global = js_sys::global();
        let fetch = Reflect::get(&global, &JsValue::from_str("fetch"))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or("this runtime has no global fetch; pass options.fetch")?;
        Ok(Self {
            fetch,
            this: global.into(),
            timeout_ms,
            json: HostJson,
        })
    }

    /// The fetch this transport sends with, called with a caller's own
    /// request (the npm clients' `fetch`): the host's promise of a `Response`.
    pub fn fetch_raw(&self, url: &str, init: &JsValue) -> Result<JsValue, JsValue> {
        self.fetch.call2(&self.this, &JsValue::from_str(url), init)
    }

    /// The same transport, reading answers' JSON with `json`.
    pub fn reading_with<K: ReadJson>(self, json: K) -> FetchTransport<K> {
        FetchTransport {
            fetch: self.fetch,
            this: self.this,
            timeout_ms: self.timeout_ms,
            json,
        }
    }
}

impl<J: ReadJson> Transport for FetchTransport<J> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.exchange_within_timeout(&request.url, |signal| {
            HOST.with(|h| h.request_init(&request, signal))
        })
        .await
    }

    /// The host's `JSON.parse`, then serde-wasm-bindgen into `T`: in the npm
    /// `.wasm` this measured smaller than linking serde_json's parser.
    fn read_json<T: serde::de::DeserializeOwned>(&self, body: &str) -> Option<T> {
        self.json.object(body)
    }
}

impl<J> Timer for FetchTransport<J> {
    async fn sleep(&self, ms: u64) {
        let ms = u32::try_from(ms).unwrap_or(u32::MAX);
        let timer = Promise::new(&mut |resolve, _reject| {
            HOST.with(|h| {
                if let Some(set) = &h.set_timeout {
                    let _ = set.call2(&h.global, &resolve, &JsValue::from(ms));
                } else {
                    // No timers in this runtime: do not wait rather than hang.
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            });
        });
        let _ = JsFuture::from(timer).await;
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }
}

impl<J> FetchTransport<J> {
    /// One request to `url` with the init `init` builds for an abort signal,
    /// under the transport's timeout.
    async fn exchange_within_timeout(
        &self,
        url: &str,
        init: impl FnOnce(&AbortSignal) -> JsValue,
    ) -> Result<HttpResponse, TransportError> {
        let network = |e: JsValue| TransportError::Network(describe_js_error(&e));
        let controller = AbortController::new().map_err(network)?;
        let timer = HOST.with(|h| h.start_timer(self.timeout_ms, &controller));
        let timer = timer.map_err(network)?;
        let outcome = self
            .exchange(url, init(&controller.signal()), &controller)
            .await;
        HOST.with(|h| h.clear_timer(&timer));
        match outcome {
            Ok(r) => Ok(r),
            // Only our timer aborts this controller.
            Err(_) if controller.signal().aborted() => Err(TransportError::Timeout {
                after_ms: u64::from(self.timeout_ms),
            }),
            Err(e) => Err(network(e)),
        }
    }

    async fn exchange(
        &self,
        url: &str,
        init: JsValue,
        controller: &AbortController,
    ) -> Result<HttpResponse, JsValue> {
        let signal = controller.signal();
        let pending = self
            .fetch
            .call2(&self.this, &JsValue::from_str(url), &init)?;
        // The host's fetch rejects (headers or body) once the signal aborts. A
        // caller's fetch may ignore the signal, so it is raced against it.
        let abort = if self.this.is_undefined() {
            Some(AbortRace::new(&signal)?)
        } else {
            None
        };
        let settle = |p: Promise| async {
            match &abort {
                Some(a) => a.race(p).await,
                None => JsFuture::from(p).await,
            }
        };
        let response: Response = settle(Promise::resolve(&pending)).await?.unchecked_into();
        let status = response.status();
        // Feishu's rate limits answer 429 (400 on some old APIs), never 2xx:
        // a token's answer skips the header lookup (a few µs in Node).
        let ratelimit_reset = if (200..300).contains(&status) {
            None
        } else {
            response.headers().get(RATELIMIT_RESET_HEADER)?
        };
        let body = settle(response.text()?).await?;
        Ok(HttpResponse {
            status,
            ratelimit_reset,
            body: body.as_string().unwrap_or_default(),
        })
    }
}

/// A promise that rejects when the signal aborts, to race a caller's fetch with.
struct AbortRace {
    promise: Promise,
    // Kept alive while the race may still fire.
    _listener: Closure<dyn FnMut()>,
}

impl AbortRace {
    fn new(signal: &AbortSignal) -> Result<Self, JsValue> {
        let mut reject_slot: Option<Function> = None;
        let promise = Promise::new(&mut |_resolve, reject| reject_slot = Some(reject));
        let reject =
            reject_slot.ok_or_else(|| JsValue::from_str("Promise executor did not run"))?;
        let listener = Closure::<dyn FnMut()>::new(move || {
            let _ = reject.call1(&JsValue::UNDEFINED, &JsValue::from_str("aborted"));
        });
        signal.add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref())?;
        Ok(Self {
            promise,
            _listener: listener,
        })
    }

    async fn race(&self, p: Promise) -> Result<JsValue, JsValue> {
        JsFuture::from(Promise::race(&js_sys::Array::of2(&p, &self.promise))).await
    }
}

/// What every request needs from the host, looked up and allocated once.
struct Host {
    global: JsValue,
    set_timeout: Option<Function>,
    clear_timeout: Option<Function>,
    /// `(controller) => controller.abort()`, passed to `setTimeout` with the
    /// controller as its argument, so no closure is made per request.
    abort: Closure<dyn Fn(AbortController)>,
    names: [JsValue; 7],
    post: JsValue,
    content_type: JsValue,
    /// `"error"` where the runtime takes it, else `"manual"` (workerd takes
    /// only `follow` and `manual`). Never `follow`: the body carries an app
    /// secret or token, and a 307/308 would send it on to wherever the
    /// `Location` points. `error` with `window: null` also spares undici (Node)
    /// the copy of the request it makes to follow redirects: 8 % of a token
    /// call on loopback (measured: 515 vs 561 µs).
    redirect: JsValue,
    no_window: bool,
}

thread_local! {
    static HOST: Host = Host::new();
}

impl Host {
    fn new() -> Self {
        let global: JsValue = js_sys::global().into();
        let function = |name: &str| {
            Reflect::get(&global, &JsValue::from_str(name))
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok())
        };
        let no_window = takes_redirect_error(&global);
        Self {
            set_timeout: function("setTimeout"),
            clear_timeout: function("clearTimeout"),
            global,
            abort: Closure::new(|c: AbortController| c.abort()),
            names: [
                "method",
                "headers",
                "body",
                "signal",
                "content-type",
                "redirect",
                "window",
            ]
            .map(JsValue::from_str),
            post: JsValue::from_str(Method::Post.as_str()),
            content_type: JsValue::from_str(JSON_CONTENT_TYPE),
            redirect: JsValue::from_str(if no_window { "error" } else { "manual" }),
            no_window,
        }
    }

    fn start_timer(&self, ms: u32, controller: &AbortController) -> Result<JsValue, JsValue> {
        let set = self
            .set_timeout
            .as_ref()
            .ok_or_else(|| JsValue::from_str("this runtime has no setTimeout"))?;
        set.call3(
            &self.global,
            self.abort.as_ref(),
            &JsValue::from(ms),
            controller,
        )
    }

    fn clear_timer(&self, handle: &JsValue) {
        if let Some(clear) = &self.clear_timeout {
            let _ = clear.call1(&self.global, handle);
        }
    }

    /// `{ method: "POST", headers: { "content-type": ... }, body, signal,
    /// redirect }`, and `window: null` with `redirect: "error"`.
    fn request_init(&self, request: &HttpRequest, signal: &AbortSignal) -> JsValue {
        let [
            method,
            headers,
            body_key,
            signal_key,
            content_type,
            redirect,
            window,
        ] = &self.names;
        let h = Record::new();
        for (name, value) in &request.headers {
            // The one header of every token request: its name and value interned.
            if *name == "content-type" && value == JSON_CONTENT_TYPE {
                h.set(content_type, &self.content_type);
            } else {
                h.set(&JsValue::from_str(name), &JsValue::from_str(value));
            }
        }
        let init = Record::new();
        match request.method {
            Method::Post => init.set(method, &self.post),
            Method::Get => init.set(method, &JsValue::from_str(Method::Get.as_str())),
        }
        init.set(headers, &h);
        if let Some(body) = &request.body {
            init.set(body_key, &JsValue::from_str(body));
        }
        init.set(signal_key, signal);
        // Never following a redirect, which would carry a secret elsewhere.
        init.set(redirect, &self.redirect);
        if self.no_window {
            init.set(window, &JsValue::NULL);
        }
        init.into()
    }
}

/// Whether `new Request(url, { redirect: "error", window: null })` is
/// accepted: asked once per instance, of the runtime itself rather than
/// guessed from its name.
fn takes_redirect_error(global: &JsValue) -> bool {
    let Some(request) = Reflect::get(global, &JsValue::from_str("Request"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return false;
    };
    let init = Record::new();
    init.set(&JsValue::from_str("redirect"), &JsValue::from_str("error"));
    init.set(&JsValue::from_str("window"), &JsValue::NULL);
    let args = js_sys::Array::of2(&JsValue::from_str("http://127.0.0.1/"), &init);
    Reflect::construct(&request, &args).is_ok()
}

/// "TypeError: fetch failed (ECONNREFUSED)" from whatever was thrown. Never
/// includes the request body: fetch errors carry the URL at most.
fn describe_js_error(err: &JsValue) -> String {
    let field = |v: &JsValue, k: &str| {
        Reflect::get(v, &JsValue::from_str(k))
            .ok()
            .and_then(|x| x.as_string())
    };
    let Some(err_obj) = err.dyn_ref::<Object>() else {
        return err.as_string().unwrap_or_else(|| "fetch failed".to_owned());
    };
    let name = field(err_obj, "name").unwrap_or_else(|| "Error".to_owned());
    let msg = field(err_obj, "message").unwrap_or_default();
    let cause = Reflect::get(err_obj, &JsValue::from_str("cause"))
        .ok()
        .filter(|c| c.is_object())
        .and_then(|c| field(&c, "code").or_else(|| field(&c, "message")));
    match cause {
        Some(c) => format!("{name}: {msg} ({c})"),
        None => format!("{name}: {msg}"),
    }
}
