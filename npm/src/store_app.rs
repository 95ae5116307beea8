//! The npm package's store-app entry (`feishu-tenant-token/store-app`):
//! the whole chain over the same core as the Worker's managed mode.

use crate::api::{arg, transport};
use crate::api_fetch::{ApiCalls, ClientFetch};
use crate::errors;
use crate::fast_path::TenantMemo;
use crate::options::{self, RawOptions, as_object, credentials, from_js, to_js, whole_number};
use crate::serve::{self, start_now};
use crate::types::{InitArg, InputArg, OptionsArg, TenantKeyArg};
use feishu_tenant_token::event::{self, Event, EventConfig, SignatureHeaders};
use feishu_tenant_token::host::{FetchTransport, HostJson, JsClock};
use feishu_tenant_token::secret::{AppTicket, EncryptKey, VerificationToken};
use feishu_tenant_token::store_app::{
    AppCredentials, AppTokenSource, MemoryTicketStore, StoreAppBuilder, StoreAppChain,
    StoreAppRequest, TenantTokenSource, TicketStore, fetch_app_token_retrying, parse_ticket,
    resend_ticket,
};
use feishu_tenant_token::{CacheKey, Clock, Error, ErrorCode, Freshness, TenantKey, TokenGrant};
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A store app's credentials, from the developer console. */
export interface AppCredentials {
  appId: string;
  appSecret: string;
}

/** An app token and its lifetime. */
export interface AppToken {
  appAccessToken: string;
  /** Whole seconds the token has left now. */
  expire: number;
  /** When the token stops working, in epoch milliseconds. */
  expiresAt: number;
}

/**
 * Where a `StoreAppClient` keeps the app's latest `app_ticket` (default: memory).
 * Bring your own to share tickets between processes (Redis, a database...).
 * Methods may return a value or a promise; a throw counts as "no ticket".
 */
export interface TicketStore {
  get(appId: string): string | null | undefined | Promise<string | null | undefined>;
  set(appId: string, ticket: string): void | Promise<void>;
  delete(appId: string): void | Promise<void>;
}

export interface StoreAppClientOptions extends AppCredentials, ClientOptions {
  ticketStore?: TicketStore;
}

/** Headers as `fetch` has them, or as Node's `req.headers` (lower-case names). */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

export interface ParseEventOptions {
  /** The app's Encrypt Key: events are then decrypted and their signature checked. */
  encryptKey?: string;
  /** The app's Verification Token: the event's `token` must match it. At least one of the two is required. */
  verificationToken?: string;
  /** Replay window for `X-Lark-Request-Timestamp`, seconds (1..3600). Default 300. */
  maxAgeSecs?: number;
}

interface EventBase {
  /** Whether the request carried a valid `X-Lark-Signature`. */
  signed: boolean;
  /** The whole (decrypted) event JSON. */
  payload: Record<string, unknown>;
}

/** Answer with `{ "challenge": challenge }`. */
export interface UrlVerificationEvent extends EventBase {
  type: "url_verification";
  challenge: string;
}

/** Store it: `client.putAppTicket(appTicket)` (or your `TicketStore`). */
export interface AppTicketEvent extends EventBase {
  type: "app_ticket";
  schema: "1.0" | "2.0";
  appId: string;
  appTicket: string;
}

export interface OtherEvent extends EventBase {
  type: "event";
  schema: "1.0" | "2.0";
  eventType: string;
  appId?: string;
  tenantKey?: string;
}

export type FeishuEvent = UrlVerificationEvent | AppTicketEvent | OtherEvent;
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "AppCredentials & { appTicket: string }")]
    pub type AppTokenArg;
    #[wasm_bindgen(typescript_type = "AppCredentials")]
    pub type CredentialsArg;
    #[wasm_bindgen(typescript_type = "StoreAppClientOptions")]
    pub type StoreAppOptionsArg;
    #[wasm_bindgen(typescript_type = "string | Uint8Array")]
    pub type BodyArg;
    #[wasm_bindgen(typescript_type = "HeadersLike")]
    pub type HeadersArg;
    #[wasm_bindgen(typescript_type = "ParseEventOptions")]
    pub type ParseEventOptionsArg;
}

/// `{ appAccessToken, expire, expiresAt }`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppTokenOut<'a> {
    app_access_token: &'a str,
    expire: u64,
    expires_at: u64,
}

fn app_token_result(grant: &TokenGrant) -> JsValue {
    to_js(&AppTokenOut {
        app_access_token: grant.token.expose_secret(),
        expire: grant.remaining_secs(JsClock.now_ms()),
        expires_at: grant.expires_at_ms,
    })
}

/// `AppCredentials & { appTicket }` (other members are ignored, as in any
/// request argument).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AppRequestIn {
    #[serde(default, deserialize_with = "options::app_id")]
    app_id: Option<String>,
    #[serde(default, deserialize_with = "options::app_secret")]
    app_secret: Option<String>,
    #[serde(default, deserialize_with = "options::app_ticket")]
    app_ticket: Option<String>,
}

impl AppRequestIn {
    fn read(value: &JsValue, what: &str) -> Result<(Self, AppCredentials), Error> {
        as_object(value, what)?;
        let req: Self = from_js(value, what)?;
        let app = credentials(req.app_id.as_deref(), req.app_secret.as_deref())?;
        Ok((req, app))
    }
}

/// Trades an `app_ticket` for an `app_access_token` (step 2), with the
/// retry policy of `options`, no caching. Prefer `StoreAppClient`.
#[wasm_bindgen(js_name = getAppAccessToken, unchecked_return_type = "Promise<AppToken>")]
pub fn get_app_access_token(request: AppTokenArg, options: Option<OptionsArg>) -> Promise {
    start_now(async move {
        let result = async {
            let o = options::options(&arg(options))?;
            let (req, app) = AppRequestIn::read(&request, "the request")?;
            let ticket = req
                .app_ticket
                .ok_or_else(|| Error::invalid_input("appTicket is missing"))?;
            let ticket = parse_ticket(&ticket, "appTicket")?;
            let net = transport(&o)?;
            fetch_app_token_retrying(&net, &JsClock, &o.base_url, &app, &ticket, o.retry).await
        };
        result
            .await
            .map(|g| app_token_result(&g))
            .map_err(|e| errors::to_js(&e))
    })
}

/// Asks Feishu to push the app's `app_ticket` to its event callback again
/// (it arrives seconds to minutes later). Resolves once Feishu accepted.
#[wasm_bindgen(js_name = resendAppTicket, unchecked_return_type = "Promise<void>")]
pub fn resend_app_ticket(credentials_arg: CredentialsArg, options: Option<OptionsArg>) -> Promise {
    start_now(async move {
        let result = async {
            let o = options::options(&arg(options))?;
            let (_, app) = AppRequestIn::read(&credentials_arg, "the credentials")?;
            resend_ticket(&transport(&o)?, &o.base_url, &app).await
        };
        result
            .await
            .map(|()| JsValue::UNDEFINED)
            .map_err(|e| errors::to_js(&e))
    })
}

/// One header, case-insensitively, from a `Headers` or a plain object.
fn header(headers: &JsValue, name: &str) -> Option<String> {
    if headers.is_undefined() || headers.is_null() {
        return None;
    }
    let get = Reflect::get(headers, &"get".into()).ok()?;
    if let Some(f) = get.dyn_ref::<Function>() {
        return f.call1(headers, &name.into()).ok()?.as_string();
    }
    let obj: &Object = headers.dyn_ref()?;
    let key = Object::keys(obj)
        .iter()
        .find(|k| k.as_string().is_some_and(|k| k.eq_ignore_ascii_case(name)))?;
    let v = Reflect::get(obj, &key).ok()?;
    // Node gives repeated headers as arrays; a signature header is never repeated.
    v.as_string()
}

/// `ParseEventOptions` as received.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventOptionsIn {
    #[serde(default, deserialize_with = "options::encrypt_key")]
    encrypt_key: Option<String>,
    #[serde(default, deserialize_with = "options::verification_token")]
    verification_token: Option<String>,
    #[serde(default, deserialize_with = "options::max_age_secs")]
    max_age_secs: Option<f64>,
}

fn event_options(value: &JsValue) -> Result<EventConfig, Error> {
    let o: EventOptionsIn = from_js(value, "options")?;
    let mut config = EventConfig {
        encrypt_key: o.encrypt_key.filter(|k| !k.is_empty()).map(EncryptKey::new),
        verification_token: o
            .verification_token
            .filter(|t| !t.is_empty())
            .map(VerificationToken::new),
        ..EventConfig::default()
    };
    if let Some(v) = o.max_age_secs {
        config.max_age_secs = whole_number(v, "options.maxAgeSecs", 1, 3600)?;
    }
    Ok(config)
}

/// A checked event as the TypeScript declarations describe it (`FeishuEvent`).
#[derive(Serialize)]
struct EventOut<'a> {
    signed: bool,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    payload: JsValue,
    #[serde(flatten)]
    event: EventKind<'a>,
}

#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
enum EventKind<'a> {
    UrlVerification {
        challenge: &'a str,
    },
    AppTicket {
        schema: &'static str,
        app_id: &'a str,
        app_ticket: &'a str,
    },
    #[serde(rename = "event")]
    Other {
        schema: &'static str,
        event_type: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        app_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant_key: Option<&'a str>,
    },
}

impl<'a> EventKind<'a> {
    fn of(event: &'a Event) -> Self {
        match event {
            Event::UrlVerification { challenge } => Self::UrlVerification { challenge },
            Event::AppTicket {
                schema,
                app_id,
                app_ticket,
            } => Self::AppTicket {
                schema: schema.as_str(),
                app_id,
                app_ticket: app_ticket.expose_secret(),
            },
            Event::Other {
                schema,
                event_type,
                app_id,
                tenant_key,
            } => Self::Other {
                schema: schema.as_str(),
                event_type,
                app_id: app_id.as_deref(),
                tenant_key: tenant_key.as_deref(),
            },
        }
    }
}

/// Checks and parses one event callback request from its raw body (the bytes
/// as received: the signature covers them) and headers: decrypts it, checks
/// the signature, the replay window and the verification token. Throws a
/// `FeishuTokenError` (`INVALID_SIGNATURE`, `STALE_EVENT`,
/// `INVALID_VERIFICATION_TOKEN`, `DECRYPTION_FAILED`, `INVALID_EVENT`): answer
/// those with HTTP 401.
#[wasm_bindgen(js_name = parseEvent, unchecked_return_type = "FeishuEvent")]
pub fn parse_event(
    body: BodyArg,
    headers: Option<HeadersArg>,
    options: Option<ParseEventOptionsArg>,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<JsValue, Error> {
        let config = event_options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
        if config.encrypt_key.is_none() && config.verification_token.is_none() {
            // As the Worker: nothing would authenticate the event.
            return Err(Error::invalid_input(
                "give options.encryptKey or options.verificationToken: events are not accepted unauthenticated",
            ));
        }
        let bytes: Vec<u8> = if let Some(s) = body.as_string() {
            s.into_bytes()
        } else if let Some(a) = body.dyn_ref::<Uint8Array>() {
            a.to_vec()
        } else {
            return Err(Error::invalid_input(
                "body must be a string or a Uint8Array",
            ));
        };
        let headers = headers.map_or(JsValue::UNDEFINED, JsValue::from);
        let (ts, nonce, sig) = (
            header(&headers, "x-lark-request-timestamp"),
            header(&headers, "x-lark-request-nonce"),
            header(&headers, "x-lark-signature"),
        );
        let signature = SignatureHeaders {
            timestamp: ts.as_deref(),
            nonce: nonce.as_deref(),
            signature: sig.as_deref(),
        };
        let received =
            event::receive_with(&HostJson, &bytes, &signature, &config, JsClock.now_ms())?;
        let payload = js_sys::JSON::parse(&received.plaintext)
            .map_err(|_| Error::event(ErrorCode::InvalidEvent, "the body is not JSON"))?;
        Ok(to_js(&EventOut {
            signed: received.signed,
            payload,
            event: EventKind::of(&received.event),
        }))
    };
    run().map_err(|e| errors::to_js(&e))
}

/// The user's `TicketStore`, or memory.
enum Tickets {
    Memory(MemoryTicketStore),
    Js { store: Object, app_id: String },
}

impl Tickets {
    async fn call(&self, method: &str, args: &[&JsValue]) -> Result<JsValue, String> {
        let Tickets::Js { store, app_id } = self else {
            return Ok(JsValue::UNDEFINED);
        };
        let f: Function = Reflect::get(store, &method.into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| format!("ticketStore.{method} is not a function"))?;
        let app: JsValue = app_id.as_str().into();
        let called = match args {
            [] => f.call1(store, &app),
            [a, ..] => f.call2(store, &app, a),
        };
        let value = called.map_err(|_| format!("ticketStore.{method} threw"))?;
        JsFuture::from(Promise::resolve(&value))
            .await
            .map_err(|_| format!("ticketStore.{method} rejected"))
    }
}

impl TicketStore for Tickets {
    async fn get(&self) -> Result<Option<AppTicket>, String> {
        if let Tickets::Memory(m) = self {
            return m.get().await;
        }
        let v = self.call("get", &[]).await?;
        Ok(v.as_string().filter(|t| !t.is_empty()).map(AppTicket::new))
    }
    async fn put(&self, ticket: &AppTicket) -> Result<(), String> {
        if let Tickets::Memory(m) = self {
            return m.put(ticket).await;
        }
        self.call("set", &[&ticket.expose_secret().into()])
            .await
            .map(drop)
    }
    async fn delete(&self) -> Result<(), String> {
        if let Tickets::Memory(m) = self {
            return m.delete().await;
        }
        self.call("delete", &[]).await.map(drop)
    }
}

type Apps = AppTokenSource<FetchTransport, JsClock, Rc<Tickets>>;
type Chain = StoreAppChain<Apps, TenantTokenSource<Apps, FetchTransport, JsClock>, JsClock>;

/// Tenant tokens for one store app, from its `app_id` and `app_secret`: the
/// whole chain (ticket -> app token -> tenant token), both tokens cached with
/// single-flight like `TenantTokenClient`. Feed it tickets from your event
/// callback (`parseEvent` then `putAppTicket`) or give it your `ticketStore`.
#[wasm_bindgen(js_name = StoreAppClient)]
pub struct JsStoreAppClient {
    chain: Rc<Chain>,
    tickets: Rc<Tickets>,
    fetch: ClientFetch,
    tenant_keys: TenantMemo,
}

/// A `fetch` call's request for `tenant_key`, and the tenant whose entries
/// a refused token may leave.
fn fetch_request(
    chain: &Chain,
    tenant_key: &str,
) -> (Result<StoreAppRequest, Error>, Option<String>) {
    let request = TenantKey::parse(tenant_key).map(|t| chain.request(t));
    (request, Some(tenant_key.to_owned()))
}

#[wasm_bindgen(js_class = StoreAppClient)]
impl JsStoreAppClient {
    /// Throws a `FeishuTokenError` with code `INVALID_INPUT` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: StoreAppOptionsArg) -> Result<JsStoreAppClient, JsValue> {
        Self::build(&options).map_err(|e| errors::to_js(&e))
    }

    fn build(options: &JsValue) -> Result<JsStoreAppClient, Error> {
        as_object(options, "options")?;
        let raw: RawOptions = from_js(options, "options")?;
        let app = raw.credentials()?;
        let o = raw.client_options()?;
        let api = ApiCalls::new(o.base_url.clone(), transport(&o)?);
        let tickets = Rc::new(match &raw.ticket_store {
            s if s.is_undefined() || s.is_null() => Tickets::Memory(MemoryTicketStore::default()),
            s if s.is_object() => Tickets::Js {
                store: s.clone().unchecked_into(),
                app_id: app.app_id().to_owned(),
            },
            _ => return Err(Error::invalid_input("ticketStore must be an object")),
        });
        let chain = StoreAppBuilder::new(
            transport(&o)?,
            JsClock,
            o.base_url,
            app,
            Rc::clone(&tickets),
        )
        .retry(o.retry)
        .freshness(Freshness::new(o.min_validity_secs))
        .build();
        let chain = Rc::new(chain);
        let again = Rc::clone(&chain);
        let fetch = ClientFetch::new(chain.tenants(), api, move |tenant_key| {
            fetch_request(&again, &tenant_key.as_string().unwrap_or_default())
        });
        Ok(Self {
            chain,
            tickets,
            fetch,
            tenant_keys: TenantMemo::default(),
        })
    }

    /// The tenant's token: from the cache, or through the chain. Rejects with
    /// a `FeishuTokenError`; `APP_TICKET_MISSING` (with `retryAfterSecs`) means
    /// no ticket has arrived yet and Feishu was asked to push one.
    #[wasm_bindgen(js_name = tenantToken, unchecked_return_type = "Promise<TenantToken>")]
    pub fn tenant_token(
        &self,
        #[wasm_bindgen(js_name = tenantKey)] tenant_key: TenantKeyArg,
    ) -> Promise {
        let tenants = self.chain.tenants();
        let memoised = self.tenant_keys.with_key(
            &tenant_key,
            |tenant| {
                let StoreAppRequest { app, tenant_key } = self.chain.request(tenant);
                CacheKey {
                    app,
                    tenant: tenant_key,
                }
            },
            |key| serve::cached(tenants, key),
        );
        if let Some(Some(hit)) = memoised {
            return hit;
        }
        let Some(tenant_key) = tenant_key.as_string() else {
            let e = Error::invalid_input("tenantKey must be a string");
            return Promise::reject(&errors::to_js(&e));
        };
        let tenant = match TenantKey::parse(&tenant_key) {
            Ok(t) => t,
            Err(e) => return Promise::reject(&errors::to_js(&e)),
        };
        // The key made by moving the request's parts (no copy of the tenant
        // key on a hit), the request remade from them on a miss.
        let StoreAppRequest { app, tenant_key } = self.chain.request(tenant);
        let key = CacheKey {
            app,
            tenant: tenant_key,
        };
        serve::cached(tenants, &key).unwrap_or_else(|| {
            let request = StoreAppRequest {
                app: key.app,
                tenant_key: key.tenant,
            };
            serve::fetch(tenants, request)
        })
    }

    /// Stores a ticket from your event callback (`parseEvent(...).appTicket`).
    #[wasm_bindgen(js_name = putAppTicket, unchecked_return_type = "Promise<void>")]
    pub fn put_app_ticket(&self, #[wasm_bindgen(js_name = appTicket)] app_ticket: &str) -> Promise {
        let t = match parse_ticket(app_ticket, "appTicket") {
            Ok(t) => t,
            Err(e) => return Promise::reject(&errors::to_js(&e)),
        };
        let tickets = Rc::clone(&self.tickets);
        start_now(async move {
            match tickets.put(&t).await {
                Ok(()) => Ok(JsValue::UNDEFINED),
                Err(why) => Err(errors::to_js(&Error::invalid_input(&why))),
            }
        })
    }

    /// Drops the tenant's cached token, e.g. after an API answered 99991663;
    /// with `token`, only while the cache still holds exactly that token (a
    /// late rejection of an old token never evicts its replacement).
    pub fn invalidate(
        &self,
        #[wasm_bindgen(js_name = tenantKey)] tenant_key: &str,
        token: Option<String>,
    ) -> u32 {
        let tenants = self.chain.tenants();
        serve::invalidate(tenants, Some(tenant_key), token, || {
            tenants.invalidate(tenant_key)
        })
    }

    /// Calls a Feishu API with the tenant's token: the host's `fetch` with
    /// `Authorization: Bearer <tenant token>`, resolving to its `Response`,
    /// body unread; a refused token (99991663 / 99991665) is dropped and the
    /// request sent once more with a fresh one. See `TenantTokenClient.fetch`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(js_name = tenantKey)] tenant_key: &str,
        input: InputArg,
        init: Option<InitArg>,
    ) -> Promise {
        let request = fetch_request(&self.chain, tenant_key);
        let cached = request.0.as_ref().ok().and_then(|r| {
            let key = CacheKey {
                app: r.app,
                tenant: r.tenant_key.clone(),
            };
            self.chain
                .tenants()
                .with_cached(&key, |g, _| g.token.clone())
        });
        self.fetch
            .call(cached, &JsValue::from_str(tenant_key), input, init)
    }

    /// Tenant-token counters since the client was made.
    #[wasm_bindgen(unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        serve::stats(self.chain.tenants(), self.fetch.recoveries())
    }
}
