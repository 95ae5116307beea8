//! The front side: what an isolate's KV layer asks the object that owns a
//! KV key on a miss ([`ask`]). A fault of the object (unreachable,
//! overloaded, throwing, an answer it cannot read) falls back to the isolate
//! fetching by itself, as without a coordinator, logged once per isolate per
//! minute.

use crate::cache::ask::{Ask, Asked, Want};
use crate::config::Brand;
use crate::config::brand::LARK_PREFIX;
use crate::coordinator::binding_for_key;
use crate::coordinator::protocol::{
    OBJECT_ORIGIN, REPLACE, REPLACING_HEADER, TICKET_PREFIX, is_feishus_word, relayed,
};
use crate::log;
use core::cell::Cell;
use feishu_tenant_token::cache_key::hex32;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::wire::{self, RATELIMIT_RESET_HEADER};
use feishu_tenant_token::{
    BaseUrl, Clock, Error, ErrorCode, HttpRequest, HttpResponse, TokenGrant,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::worker_sys::DurableObject;
use worker::{Env, ObjectNamespace};

/// A fault is logged at most once per isolate in this many ms.
const FAULT_LOG_EVERY_MS: u64 = 60_000;

/// The KV layer's `Ask` for requests of type `R` (`build` writes the question,
/// see `protocol`), of the objects bound as `binding` (`BINDING`, or the
/// store app's keeper for its app token), when bound.
pub fn ask<R: 'static>(
    env: &Env,
    binding: &str,
    brand: Brand,
    build: fn(&BaseUrl, &R) -> HttpRequest,
) -> Option<Ask<R>> {
    let namespace = env.durable_object(binding).ok()?;
    // Lark's questions under the Worker's own Lark prefix: the object reads
    // the brand off the path as the Worker does.
    let origin = match brand {
        Brand::Feishu => BaseUrl::parse(OBJECT_ORIGIN).ok()?,
        Brand::Lark => BaseUrl::parse(&format!("{OBJECT_ORIGIN}{LARK_PREFIX}")).ok()?,
    };
    Some(Box::new(
        move |key: &str, request: &R, want: Want| -> Asked {
            if refusals_spent(JsClock.now_ms()) {
                // As without a coordinator: the isolate asks Feishu itself.
                return Box::pin(async { None });
            }
            let question = build(&origin, request);
            let (namespace, key) = (namespace.clone(), key.to_owned());
            Box::pin(async move { consult(&namespace, &key, question, want).await })
        },
    ))
}

/// The token replacing the one Feishu refused for `key`, from the object
/// owning `key` (it refreshes with the question it served: see
/// `protocol::REPLACE`); `None` when it has none, cannot be asked or fails.
/// Counted against the same refusal budget as the KV layer's questions.
pub async fn replace(env: &Env, key: &str, refused: [u8; 32]) -> Option<TokenGrant> {
    let namespace = env.durable_object(binding_for_key(key)).ok()?;
    if refusals_spent(JsClock.now_ms()) {
        return None;
    }
    let question = HttpRequest::post_json(
        format!("{OBJECT_ORIGIN}{TICKET_PREFIX}{REPLACE}"),
        String::new(),
    );
    consult(&namespace, key, question, Want::Replacing(refused))
        .await?
        .ok()
}

/// Asks the object owning `key`, with the bookkeeping every question
/// shares: Feishu's refusals count against the isolate's budget, faults are
/// logged (at most once a minute); `None` when the isolate is to go on by
/// itself.
async fn consult(
    namespace: &ObjectNamespace,
    key: &str,
    question: HttpRequest,
    want: Want,
) -> Option<Result<TokenGrant, Error>> {
    match ask_object(namespace, key, question, want).await {
        Ok(answer) => {
            if answer
                .as_ref()
                .is_err_and(|e| e.code() == ErrorCode::FeishuApiError)
            {
                refusal_seen(JsClock.now_ms());
            }
            Some(answer)
        }
        // The object holds no question for the key (evicted): not a fault.
        Err(Fault::NoQuestion) => None,
        Err(Fault::Other(fault)) => {
            fault_seen(&fault);
            None
        }
    }
}

/// Why the object gave no token or refusal.
enum Fault {
    /// It answered 404: it holds no question to replace (`protocol::REPLACE`).
    NoQuestion,
    /// Unreachable, overloaded, throwing, or an answer it cannot read.
    Other(String),
}

impl From<String> for Fault {
    fn from(fault: String) -> Self {
        Fault::Other(fault)
    }
}

/// Feishu's refusals (wrong or made-up credentials) the objects may relay to
/// one isolate in a minute. Past that, the isolate stops asking objects
/// until the minute is over and fetches by itself, as without a
/// coordinator: made-up credentials must not reach a Durable Object (which
/// is billed per request) on every request. Real credentials are refused
/// rarely; while the budget is spent they are served correctly, only
/// without one fetch for every isolate.
const REFUSALS_PER_MINUTE: u32 = 20;

thread_local! {
    /// (start of the current minute's window, refusals seen in it).
    static REFUSALS: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
}

fn refusals_spent(now: u64) -> bool {
    let (since, seen) = REFUSALS.with(Cell::get);
    now.saturating_sub(since) < 60_000 && seen >= REFUSALS_PER_MINUTE
}

fn refusal_seen(now: u64) {
    let (since, seen) = REFUSALS.with(Cell::get);
    let next = if now.saturating_sub(since) < 60_000 {
        (since, seen.saturating_add(1))
    } else {
        (now, 1)
    };
    REFUSALS.with(|r| r.set(next));
    if next.1 == REFUSALS_PER_MINUTE {
        log::warn(
            "coordinator_bypassed",
            "Feishu refused many credentials through the coordinator: this isolate fetches by itself for the rest of the minute",
        );
    }
}

/// An object's stub, used through the runtime's own `fetch` and
/// `Response.text()`: workers-rs' `Response::text` reads an object's answer
/// as a stream, chunk by chunk through wasm-streams (a reader, a read per
/// chunk, its lock released), where one `text()` is one step. Every event
/// Feishu sends crosses here (bench/RESULTS.md section 10).
pub struct ObjectStub(DurableObject);

/// The stub of the object named `name`.
pub fn stub(namespace: &ObjectNamespace, name: &str) -> Result<ObjectStub, String> {
    let unreachable = |_| "could not address the coordinator object".to_owned();
    namespace
        .id_from_name(name)
        .map_err(unreachable)?
        .get_stub()
        .map(|s| ObjectStub(s.into_rpc()))
        .map_err(unreachable)
}

/// The object's answer; `Err` (a fault) for anything but a token or
/// Feishu's refusal.
async fn ask_object(
    namespace: &ObjectNamespace,
    key: &str,
    question: HttpRequest,
    want: Want,
) -> Result<Result<TokenGrant, Error>, Fault> {
    let stub = stub(namespace, key)?;
    let sent_at = JsClock.now_ms();
    let answer = post(&stub, &question.url, question.body_text(), want)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(relayed) = relayed(answer.status, &answer.body) {
        return Ok(Err(relayed));
    }
    if answer.status == 404 {
        return Err(Fault::NoQuestion);
    }
    if answer.status >= 500 {
        return Err(format!("the coordinator answered HTTP {}", answer.status).into());
    }
    match wire::parse_tenant_token_response(&answer, sent_at) {
        Ok(grant) => Ok(Ok(grant)),
        // Feishu's word, relayed: asking Feishu again here would only spend
        // the rate-limit budget the object was told is spent.
        Err(e) if is_feishus_word(&e) => Ok(Err(e)),
        Err(e) => Err(format!("the coordinator's answer: {}", e.message()).into()),
    }
}

/// `POST url` with `body` to the object behind `stub`. The request is built
/// as the gateway builds its own (web_sys): workers-rs' `RequestInit` carries
/// Cloudflare's `cf` properties, whose conversion measured +8.7 KB gzip of
/// the Worker's `.wasm`, for a request that never leaves the Worker.
pub async fn post(
    stub: &ObjectStub,
    url: &str,
    body: &str,
    want: Want,
) -> worker::Result<HttpResponse> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body.into());
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    if want != Want::Servable {
        // What a caller sends the Worker to force a refresh, understood alike.
        request.headers().set("cache-control", "no-cache")?;
    }
    if let Want::Replacing(digest) = want {
        request.headers().set(REPLACING_HEADER, &hex32(&digest))?;
    }
    let response: web_sys::Response = JsFuture::from(stub.0.fetch_with_request(&request)?)
        .await?
        .dyn_into()?;
    let ratelimit_reset = response.headers().get(RATELIMIT_RESET_HEADER)?;
    let body = JsFuture::from(response.text()?).await?;
    Ok(HttpResponse {
        status: response.status(),
        ratelimit_reset,
        body: body.as_string().unwrap_or_default(),
    })
}

thread_local! {
    static LAST_FAULT_LOG_MS: Cell<u64> = const { Cell::new(0) };
}

/// Logs a fault of the coordinator, at most once a minute per isolate.
pub fn fault_seen(fault: &str) {
    let now = JsClock.now_ms();
    let last = LAST_FAULT_LOG_MS.with(Cell::get);
    if last == 0 || now.saturating_sub(last) >= FAULT_LOG_EVERY_MS {
        LAST_FAULT_LOG_MS.with(|c| c.set(now));
        log::warn("coordinator_failed", fault);
    }
}
