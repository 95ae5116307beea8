//! The transport over the host's `fetch`, found on `globalThis` (never
//! `window`, which Node, Deno, Bun and Workers lack) or supplied by the caller.

use crate::freshness::Clock;
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};
use crate::wire::RATELIMIT_RESET_HEADER;
use core::cell::Cell;
use js_sys::{Function, Object, Promise, Reflect};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Response};

/// Default request timeout (issue #2: 10 s).
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// `Date.now()`.
pub struct JsClock;

impl Clock for JsClock {
    fn now_ms(&self) -> u64 {
        // Date.now() is a non-negative integer well inside u64.
        js_sys::Date::now() as u64
    }
}

/// Sends requests with `fetch`, aborting them after a timeout.
pub struct FetchTransport {
    fetch: Function,
    /// `globalThis` for the host's fetch (browsers throw "Illegal invocation"
    /// when it is called on anything else), `undefined` for a caller's.
    this: JsValue,
    timeout_ms: u32,
}

impl FetchTransport {
    /// Uses `custom` if given, else `globalThis.fetch`; fails when neither exists.
    pub fn new(custom: Option<Function>, timeout_ms: u32) -> Result<Self, String> {
        if let Some(fetch) = custom {
            return Ok(Self {
                fetch,
                this: JsValue::UNDEFINED,
                timeout_ms,
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
        })
    }
}

impl Transport for FetchTransport {
    async fn post_json(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let controller =
            AbortController::new().map_err(|e| TransportError::Network(describe(&e)))?;
        let timer = Timer::start(self.timeout_ms, controller.clone())
            .map_err(|e| TransportError::Network(describe(&e)))?;
        let outcome = self.exchange(&request, &controller, &timer.deadline).await;
        let timed_out = timer.deadline.fired.get();
        timer.clear();
        match outcome {
            Ok(r) => Ok(r),
            Err(_) if timed_out => Err(TransportError::Timeout {
                after_ms: u64::from(self.timeout_ms),
            }),
            Err(e) => Err(TransportError::Network(describe(&e))),
        }
    }
}

impl FetchTransport {
    async fn exchange(
        &self,
        request: &HttpRequest,
        controller: &AbortController,
        deadline: &Deadline,
    ) -> Result<HttpResponse, JsValue> {
        let headers = Object::new();
        Reflect::set(
            &headers,
            &"content-type".into(),
            &HttpRequest::CONTENT_TYPE.into(),
        )?;
        let init = Object::new();
        Reflect::set(&init, &"method".into(), &HttpRequest::METHOD.into())?;
        Reflect::set(&init, &"headers".into(), &headers)?;
        Reflect::set(&init, &"body".into(), &request.body.as_str().into())?;
        Reflect::set(&init, &"signal".into(), &controller.signal())?;

        let pending = self
            .fetch
            .call2(&self.this, &request.url.as_str().into(), &init)?;
        // A caller's fetch that ignores the signal still cannot outlive the timeout.
        let response: Response = deadline
            .race(Promise::resolve(&pending))
            .await?
            .unchecked_into();
        let status = response.status();
        let ratelimit_reset = response.headers().get(RATELIMIT_RESET_HEADER)?;
        let body = deadline.race(response.text()?).await?;
        Ok(HttpResponse {
            status,
            ratelimit_reset,
            body: body.as_string().unwrap_or_default(),
        })
    }
}

/// A promise that rejects when the timeout fires (after aborting the request).
struct Deadline {
    promise: Promise,
    fired: Rc<Cell<bool>>,
}

impl Deadline {
    async fn race(&self, p: Promise) -> Result<JsValue, JsValue> {
        let both = js_sys::Array::of2(&p, &self.promise);
        JsFuture::from(Promise::race(&both)).await
    }
}

struct Timer {
    deadline: Deadline,
    handle: JsValue,
    // Kept alive until the timer is cleared or has fired.
    _on_fire: Closure<dyn FnMut()>,
}

impl Timer {
    fn start(ms: u32, controller: AbortController) -> Result<Self, JsValue> {
        let mut reject_slot: Option<Function> = None;
        let promise = Promise::new(&mut |_resolve, reject| reject_slot = Some(reject));
        let reject =
            reject_slot.ok_or_else(|| JsValue::from_str("Promise executor did not run"))?;
        let fired = Rc::new(Cell::new(false));
        let flag = Rc::clone(&fired);
        let on_fire = Closure::<dyn FnMut()>::new(move || {
            flag.set(true);
            controller.abort();
            let _ = reject.call1(&JsValue::UNDEFINED, &JsValue::from_str("timeout"));
        });
        let handle = global_fn("setTimeout")?.call2(
            &js_sys::global(),
            on_fire.as_ref(),
            &JsValue::from(ms),
        )?;
        Ok(Self {
            deadline: Deadline { promise, fired },
            handle,
            _on_fire: on_fire,
        })
    }

    fn clear(self) {
        if let Ok(clear) = global_fn("clearTimeout") {
            let _ = clear.call1(&js_sys::global(), &self.handle);
        }
    }
}

fn global_fn(name: &str) -> Result<Function, JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))?.dyn_into::<Function>()
}

/// "TypeError: fetch failed (ECONNREFUSED)" from whatever was thrown. Never
/// includes the request body: fetch errors carry the URL at most.
fn describe(err: &JsValue) -> String {
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
