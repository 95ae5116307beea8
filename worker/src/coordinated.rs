//! The front side of the optional Durable Object coordinator (binding
//! `COORDINATOR`; the object is `coordinator.rs`): what an isolate asks the
//! object that owns a KV key on a KV miss (`ask`), and a managed app's ticket
//! and resend limit in the storage of the app's object (`Tickets`). Without
//! the binding nothing here asks anything. A fault of the object (unreachable,
//! overloaded, throwing, an answer it cannot read) falls back to the isolate
//! fetching by itself, as without a coordinator, logged once per isolate per
//! minute.

use crate::kv_layer::{Ask, Asked, KvTickets, Want};
use crate::kv_store::WorkerKv;
use crate::log;
use crate::object_store::{
    ObjectStore, RESEND_CLAIM, RESEND_RELEASE, TICKET_DELETE, TICKET_GET, TICKET_PUT,
};
use core::cell::Cell;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::secret::AppTicket;
use feishu_tenant_token::self_built::{self, Kind, SelfBuiltRequest};
use feishu_tenant_token::store_app::{AppTokenRequest, StoreAppRequest, TicketStore};
use feishu_tenant_token::wire::{self, RATELIMIT_RESET_HEADER};
use feishu_tenant_token::{
    BaseUrl, Clock, Error, ErrorCode, HttpRequest, HttpResponse, TokenGrant, TokenRequest, kv,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::{Env, ObjectNamespace};

/// The binding's name in `wrangler.toml`.
pub const BINDING: &str = "COORDINATOR";

/// A fault is logged at most once per isolate in this many ms.
const FAULT_LOG_EVERY_MS: u64 = 60_000;

/// Where a front addresses the object: the host is never resolved (a
/// stub's fetch goes to the object), the path is Feishu's.
const OBJECT_ORIGIN: &str = "https://coordinator";

/// The object speaks Feishu's token API: a front sends it the very request
/// it would send Feishu (path and JSON body, the caller's credential in it),
/// and the object answers in Feishu's tenant-token shape (whatever the
/// token), or with Feishu's refusal (4xx, Feishu's code and msg), or 503 for
/// any failure of its own. The Worker's request and answer code serves both
/// sides: nothing new to parse.
pub fn tenant(base: &BaseUrl, r: &TokenRequest) -> HttpRequest {
    wire::build_tenant_token_request(base, r)
}

pub fn internal_tenant(base: &BaseUrl, r: &SelfBuiltRequest) -> HttpRequest {
    self_built::build_internal_request(Kind::TenantToken, base, r.app())
}

pub fn internal_app(base: &BaseUrl, r: &SelfBuiltRequest) -> HttpRequest {
    self_built::build_internal_request(Kind::AppToken, base, r.app())
}

/// Managed mode's questions name no credential: the object holds the
/// managed app's id and secret itself (the same settings as the fronts).
pub const MANAGED_APP_PATH: &str = "/managed/app_access_token";
/// The body is the tenant key.
pub const MANAGED_TENANT_PATH: &str = "/managed/tenant_access_token";

pub fn managed_app(base: &BaseUrl, _: &AppTokenRequest) -> HttpRequest {
    HttpRequest {
        url: base.join(MANAGED_APP_PATH),
        body: String::new(),
    }
}

pub fn managed_tenant(base: &BaseUrl, r: &StoreAppRequest) -> HttpRequest {
    HttpRequest {
        url: base.join(MANAGED_TENANT_PATH),
        body: r.tenant_key.as_str().to_owned(),
    }
}

/// The KV layer's `Ask` for requests of type `R`, when `COORDINATOR` is bound.
pub fn ask<R: 'static>(env: &Env, build: fn(&BaseUrl, &R) -> HttpRequest) -> Option<Ask<R>> {
    let namespace = env.durable_object(BINDING).ok()?;
    let origin = BaseUrl::parse(OBJECT_ORIGIN).ok()?;
    Some(Box::new(
        move |key: &str, request: &R, want: Want| -> Asked {
            let question = build(&origin, request);
            let (namespace, key) = (namespace.clone(), key.to_owned());
            Box::pin(async move {
                match ask_object(&namespace, &key, question, want).await {
                    Ok(answer) => Some(answer),
                    Err(fault) => {
                        fault_seen(&fault);
                        None
                    }
                }
            })
        },
    ))
}

/// The object's answer; `Err` (a fault) for anything but a token or
/// Feishu's refusal.
async fn ask_object(
    namespace: &ObjectNamespace,
    key: &str,
    question: HttpRequest,
    want: Want,
) -> Result<Result<TokenGrant, Error>, String> {
    let unreachable = |_| "could not address the coordinator object".to_owned();
    let js = |e: JsValue| e.as_string().unwrap_or_else(|| "a JS error".to_owned());
    let stub: ObjectStub = namespace
        .id_from_name(key)
        .map_err(unreachable)?
        .get_stub()
        .map_err(unreachable)?
        .into_rpc();
    let sent_at = JsClock.now_ms();
    let HttpResponse {
        status,
        ratelimit_reset,
        body,
    } = post(&stub, &question.url, &question.body, want)
        .await
        .map_err(js)?;
    if let Some(relayed) = relayed(status, &body) {
        return Ok(Err(relayed));
    }
    if status >= 500 {
        return Err(format!("the coordinator answered HTTP {status}"));
    }
    let answer = HttpResponse {
        status,
        ratelimit_reset,
        body,
    };
    match wire::parse_tenant_token_response(&answer, sent_at) {
        Ok(grant) => Ok(Ok(grant)),
        // Feishu's word, relayed: asking Feishu again here would only spend
        // the rate-limit budget the object was told is spent.
        Err(e) if is_feishus_word(&e) => Ok(Err(e)),
        Err(e) => Err(format!("the coordinator's answer: {}", e.message())),
    }
}

/// `POST url` with `body` to the object behind `stub`. Raw web_sys types:
/// worker's Request and RequestInit link serde-wasm-bindgen (measured: the
/// Worker's .wasm over its gate).
async fn post(
    stub: &ObjectStub,
    url: &str,
    body: &str,
    want: Want,
) -> Result<HttpResponse, JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    if want == Want::Fresh {
        // What a caller sends the Worker to force a refresh, understood alike.
        request.headers().set("cache-control", "no-cache")?;
    }
    let response: web_sys::Response = JsFuture::from(stub.fetch(&request)?)
        .await?
        .unchecked_into();
    let ratelimit_reset = response
        .headers()
        .get(RATELIMIT_RESET_HEADER)
        .ok()
        .flatten();
    let body = JsFuture::from(response.text()?).await?;
    Ok(HttpResponse {
        status: response.status(),
        ratelimit_reset,
        body: body.as_string().unwrap_or_default(),
    })
}

/// A refusal or a rate limit: answers the object relays in Feishu's shape.
pub fn is_feishus_word(e: &Error) -> bool {
    matches!(e.code(), ErrorCode::FeishuApiError | ErrorCode::RateLimited)
}

/// Feishu unreachable, slow, answering a 5xx or something unreadable, after
/// the object's retries: relayed too, so that an outage costs one round of
/// attempts, not the object's and then the front's. Each class has a status
/// of its own, outside the registered range so that nothing else (workerd,
/// a proxy) answers with one, and the message is the body. A failure of the
/// object's own is its 503: the front then fetches by itself.
const RELAYED: [(u16, ErrorCode); 4] = [
    (590, ErrorCode::NetworkError),
    (591, ErrorCode::Timeout),
    (592, ErrorCode::HttpError),
    (593, ErrorCode::InvalidResponse),
];

/// The status relaying `e`, when it is a relayed class.
pub fn relay_status(e: &Error) -> Option<u16> {
    RELAYED
        .iter()
        .find(|(_, c)| *c == e.code())
        .map(|(s, _)| *s)
}

fn relayed(status: u16, message: &str) -> Option<Error> {
    let (_, code) = RELAYED.iter().find(|(s, _)| *s == status)?;
    Some(Error::relayed(*code, message))
}

#[wasm_bindgen]
extern "C" {
    /// A Durable Object stub, called with a `web_sys::Request`.
    type ObjectStub;
    /// `catch`: a stub that throws instead of rejecting is a fault too.
    #[wasm_bindgen(method, catch)]
    fn fetch(this: &ObjectStub, request: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
}

/// Where ticket operations go: a path of the object's own, never Feishu's.
pub const TICKET_PREFIX: &str = "/coordinator/";

/// A managed app's ticket and resend limit: in the storage of the app's
/// object (named by the app token's KV key), strongly consistent across
/// locations, with KV as the copy the fallback path reads; without the
/// binding, or when the object fails, KV alone (as before).
pub struct Tickets {
    kv: KvTickets<WorkerKv>,
    keeper: Option<Keeper>,
}

/// Who holds the ticket: the app's object, asked through its stub, or (in
/// the app's object itself) its own storage.
enum Keeper {
    Object(ObjectStub),
    Here(ObjectStore),
}

impl Tickets {
    pub fn new(env: &Env, kv: WorkerKv, app_id: String) -> Self {
        let object = env.durable_object(BINDING).ok().and_then(|namespace| {
            let id = namespace.id_from_name(&kv::app_token_key(&app_id)).ok()?;
            Some(id.get_stub().ok()?.into_rpc())
        });
        Self {
            kv: KvTickets { kv, app_id },
            keeper: object.map(Keeper::Object),
        }
    }

    /// The tickets of the app whose object `store` belongs to.
    pub fn in_object(store: ObjectStore, kv: WorkerKv, app_id: String) -> Self {
        Self {
            kv: KvTickets { kv, app_id },
            keeper: Some(Keeper::Here(store)),
        }
    }

    /// The keeper's answer to `op`; `None` without the binding, or on a
    /// fault (logged).
    async fn call(&self, op: &str, body: &str) -> Option<String> {
        let answer = match self.keeper.as_ref()? {
            Keeper::Here(store) => store
                .ticket_op(op, body, JsClock.now_ms())
                .await
                .map_err(|_| "the object's storage failed".to_owned()),
            Keeper::Object(stub) => {
                let url = format!("{OBJECT_ORIGIN}{TICKET_PREFIX}{op}");
                match post(stub, &url, body, Want::Servable).await {
                    Ok(HttpResponse {
                        status: 200, body, ..
                    }) => Ok(body),
                    Ok(HttpResponse { status, .. }) => {
                        Err(format!("the coordinator answered HTTP {status}"))
                    }
                    Err(_) => Err("the coordinator could not be asked".to_owned()),
                }
            }
        };
        answer
            .map_err(|why| fault_seen(&format!("ticket {op}: {why}")))
            .ok()
    }

    /// Gives back a resend claim whose resend was never sent.
    pub async fn release_resend(&self) {
        if self.call(RESEND_RELEASE, "").await.is_none() {
            self.kv.release_resend().await;
        }
    }
}

impl TicketStore for Tickets {
    async fn get(&self) -> Result<Option<AppTicket>, String> {
        match self.call(TICKET_GET, "").await {
            Some(t) => Ok((!t.is_empty()).then(|| AppTicket::new(t))),
            None => self.kv.get().await,
        }
    }

    async fn put(&self, ticket: &AppTicket) -> Result<(), String> {
        let stored = self
            .call(TICKET_PUT, ticket.expose_secret())
            .await
            .is_some();
        // KV too: what the fallback path reads. Stored by the object is
        // stored: a failed copy does not refuse the event.
        match self.kv.put(ticket).await {
            Err(why) if !stored => Err(why),
            _ => Ok(()),
        }
    }

    async fn delete(&self) -> Result<(), String> {
        let dropped = self.call(TICKET_DELETE, "").await.is_some();
        match self.kv.delete().await {
            Err(why) if !dropped => Err(why),
            _ => Ok(()),
        }
    }

    async fn claim_resend(&self, now_ms: u64) -> bool {
        match self.call(RESEND_CLAIM, "").await {
            Some(granted) => granted == "1",
            None => self.kv.claim_resend(now_ms).await,
        }
    }
}

thread_local! {
    static LAST_FAULT_LOG_MS: Cell<u64> = const { Cell::new(0) };
}

fn fault_seen(fault: &str) {
    let now = JsClock.now_ms();
    let last = LAST_FAULT_LOG_MS.with(Cell::get);
    if last == 0 || now.saturating_sub(last) >= FAULT_LOG_EVERY_MS {
        LAST_FAULT_LOG_MS.with(|c| c.set(now));
        log::warn("coordinator_failed", fault);
    }
}
