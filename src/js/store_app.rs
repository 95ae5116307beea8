//! The npm package's store-app entry (`feishu-tenant-token/store-app`):
//! the whole chain over the same core as the Worker's managed mode.

use super::api::{settle, start_now, stats_object, upstream};
use super::convert::{self, as_object, present, string_field, whole_number};
use super::errors;
use super::fetch::{FetchTransport, JsClock};
use super::record::Record;
use super::types::OptionsArg;
use crate::cache_key::AppBinding;
use crate::client::TokenClient;
use crate::error::{Error, ErrorCode};
use crate::event::{self, Event, EventConfig, SignatureHeaders};
use crate::freshness::{Clock, Freshness};
use crate::secret::{AppTicket, EncryptKey, VerificationToken};
use crate::store_app::{
    AppCredentials, AppTokenCache, AppTokenSource, MemoryTicketStore, StoreAppRequest,
    StoreAppSource, TicketStore, fetch_app_token, resend_ticket,
};
use crate::validate::{MAX_TOKEN_BYTES, TenantKey, check_field};
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
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

fn required(obj: &Object, name: &str) -> Result<String, Error> {
    string_field(obj, &JsValue::from_str(name), name)?
        .ok_or_else(|| Error::invalid_input(&format!("{name} is missing")))
}

fn credentials(value: &JsValue) -> Result<AppCredentials, Error> {
    let obj = as_object(value, "the credentials")?;
    AppCredentials::parse(
        &required(obj, "appId")?,
        &required(obj, "appSecret")?,
        ["appId", "appSecret"],
    )
}

fn ticket(value: &str, name: &str) -> Result<AppTicket, Error> {
    check_field(name, Some(value), MAX_TOKEN_BYTES).map(AppTicket::new)
}

/// `{ appAccessToken, expire, expiresAt }`.
fn app_token_result(grant: &crate::freshness::TokenGrant) -> JsValue {
    let obj = Record::new();
    obj.set(
        &"appAccessToken".into(),
        &grant.token.expose_secret().into(),
    );
    obj.set_number(&"expire".into(), grant.remaining_secs(JsClock.now_ms()));
    obj.set_number(&"expiresAt".into(), grant.expires_at_ms);
    obj.into()
}

/// Trades an `app_ticket` for an `app_access_token` (step 2), with the
/// retry policy of `options`, no caching. Prefer `StoreAppClient`.
#[wasm_bindgen(js_name = getAppAccessToken, unchecked_return_type = "Promise<AppToken>")]
pub fn get_app_access_token(request: AppTokenArg, options: Option<OptionsArg>) -> Promise {
    start_now(async move {
        let result = async {
            let o = convert::options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
            let app = credentials(&request)?;
            let obj = as_object(&request, "the request")?;
            let ticket = ticket(&required(obj, "appTicket")?, "appTicket")?;
            let up = upstream(o)?;
            crate::source::retrying(up.transport(), up.clock(), up.retry_policy(), || {
                fetch_app_token(up.transport(), up.clock(), up.base_url(), &app, &ticket)
            })
            .await
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
            let o = convert::options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
            let app = credentials(&credentials_arg)?;
            let up = upstream(o)?;
            resend_ticket(up.transport(), up.base_url(), &app).await
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

fn event_options(value: &JsValue) -> Result<EventConfig, Error> {
    let mut config = EventConfig::default();
    if value.is_undefined() || value.is_null() {
        return Ok(config);
    }
    let obj = as_object(value, "options")?;
    for key in Object::keys(obj).iter().filter_map(|k| k.as_string()) {
        if !["encryptKey", "verificationToken", "maxAgeSecs"].contains(&key.as_str()) {
            return Err(Error::invalid_input(
                "unknown option (known: encryptKey, verificationToken, maxAgeSecs)",
            ));
        }
    }
    let text = |name: &str| string_field(obj, &JsValue::from_str(name), name);
    config.encrypt_key = text("encryptKey")?
        .filter(|k| !k.is_empty())
        .map(EncryptKey::new);
    config.verification_token = text("verificationToken")?
        .filter(|t| !t.is_empty())
        .map(VerificationToken::new);
    if let Some(v) = present(obj, &JsValue::from_str("maxAgeSecs")) {
        config.max_age_secs = whole_number(&v, "options.maxAgeSecs", 1, 3600)?;
    }
    Ok(config)
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
        let received = event::receive(&bytes, &signature, &config, JsClock.now_ms())?;
        let out = Record::new();
        let payload = js_sys::JSON::parse(&received.plaintext)
            .map_err(|_| Error::event(ErrorCode::InvalidEvent, "the body is not JSON"))?;
        out.set(&"signed".into(), &received.signed.into());
        out.set(&"payload".into(), &payload);
        match received.event {
            Event::UrlVerification { challenge } => {
                out.set(&"type".into(), &"url_verification".into());
                out.set(&"challenge".into(), &challenge.into());
            }
            Event::AppTicket {
                schema,
                app_id,
                app_ticket,
            } => {
                out.set(&"type".into(), &"app_ticket".into());
                out.set(&"schema".into(), &schema.as_str().into());
                out.set(&"appId".into(), &app_id.into());
                out.set(&"appTicket".into(), &app_ticket.expose_secret().into());
            }
            Event::Other {
                schema,
                event_type,
                app_id,
                tenant_key,
            } => {
                out.set(&"type".into(), &"event".into());
                out.set(&"schema".into(), &schema.as_str().into());
                out.set(&"eventType".into(), &event_type.into());
                if let Some(a) = app_id {
                    out.set(&"appId".into(), &a.into());
                }
                if let Some(t) = tenant_key {
                    out.set(&"tenantKey".into(), &t.into());
                }
            }
        }
        Ok(out.into())
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

type Net = Rc<FetchTransport>;
type Apps = Rc<AppTokenCache<AppTokenSource<Net, JsClock, Rc<Tickets>>, JsClock>>;
type Chain = TokenClient<StoreAppSource<Apps, Net, JsClock>, JsClock>;

/// Tenant tokens for one store app, from its `app_id` and `app_secret`: the
/// whole chain (ticket -> app token -> tenant token), both tokens cached with
/// single-flight like `TenantTokenClient`. Feed it tickets from your event
/// callback (`parseEvent` then `putAppTicket`) or give it your `ticketStore`.
#[wasm_bindgen(js_name = StoreAppClient)]
pub struct JsStoreAppClient {
    chain: Rc<Chain>,
    tickets: Rc<Tickets>,
    app: AppBinding,
}

#[wasm_bindgen(js_class = StoreAppClient)]
impl JsStoreAppClient {
    /// Throws a `FeishuTokenError` with code `INVALID_INPUT` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: StoreAppOptionsArg) -> Result<JsStoreAppClient, JsValue> {
        Self::build(&options).map_err(|e| errors::to_js(&e))
    }

    fn build(options: &JsValue) -> Result<JsStoreAppClient, Error> {
        let obj = as_object(options, "options")?;
        let app = credentials(options)?;
        let store = present(obj, &"ticketStore".into());
        // The rest are the ClientOptions every client takes.
        let rest = Object::assign(&Object::new(), obj);
        for k in ["appId", "appSecret", "ticketStore"] {
            let _ = Reflect::delete_property(&rest, &k.into());
        }
        let o = convert::options(&rest)?;
        let tickets = Rc::new(match store {
            None => Tickets::Memory(MemoryTicketStore::default()),
            Some(s) if s.is_object() => Tickets::Js {
                store: s.unchecked_into(),
                app_id: app.app_id().to_owned(),
            },
            Some(_) => return Err(Error::invalid_input("ticketStore must be an object")),
        });
        let freshness = Freshness::new(o.min_validity_secs);
        let net: Net = Rc::new(
            FetchTransport::new(o.fetch, o.timeout_ms).map_err(|m| Error::invalid_input(&m))?,
        );
        let source = AppTokenSource::new(
            Rc::clone(&net),
            JsClock,
            o.base_url.clone(),
            app,
            Rc::clone(&tickets),
        )
        .with_retry(o.retry);
        let request = source.request();
        let binding = request.app;
        let apps: Apps = Rc::new(AppTokenCache {
            client: TokenClient::new(source, JsClock, freshness),
            request,
        });
        let upstream = crate::source::Upstream::new(net, JsClock, o.base_url).with_retry(o.retry);
        let chain = TokenClient::new(StoreAppSource::new(apps, upstream), JsClock, freshness);
        Ok(Self {
            chain: Rc::new(chain),
            tickets,
            app: binding,
        })
    }

    /// The tenant's token: from the cache, or through the chain. Rejects with
    /// a `FeishuTokenError`; `APP_TICKET_MISSING` (with `retryAfterSecs`) means
    /// no ticket has arrived yet and Feishu was asked to push one.
    #[wasm_bindgen(js_name = tenantToken, unchecked_return_type = "Promise<TenantToken>")]
    pub fn tenant_token(&self, #[wasm_bindgen(js_name = tenantKey)] tenant_key: &str) -> Promise {
        let request = match TenantKey::parse(tenant_key) {
            Ok(t) => StoreAppRequest {
                app: self.app,
                tenant_key: t,
            },
            Err(e) => return Promise::reject(&errors::to_js(&e)),
        };
        if let Some(hit) = self.chain.with_cached(&request, convert::token_result) {
            return Promise::resolve(&hit);
        }
        let chain = Rc::clone(&self.chain);
        start_now(async move { settle(chain.get(&request).await) })
    }

    /// Stores a ticket from your event callback (`parseEvent(...).appTicket`).
    #[wasm_bindgen(js_name = putAppTicket, unchecked_return_type = "Promise<void>")]
    pub fn put_app_ticket(&self, #[wasm_bindgen(js_name = appTicket)] app_ticket: &str) -> Promise {
        let t = match ticket(app_ticket, "appTicket") {
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

    /// Drops the tenant's cached token, e.g. after an API answered 99991663.
    pub fn invalidate(&self, #[wasm_bindgen(js_name = tenantKey)] tenant_key: &str) -> u32 {
        u32::try_from(self.chain.invalidate(tenant_key)).unwrap_or(u32::MAX)
    }

    /// Tenant-token counters since the client was made.
    #[wasm_bindgen(unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        stats_object(self.chain.stats())
    }
}
