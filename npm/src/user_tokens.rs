//! The npm package's user-token entry (`feishu-tenant-token/user-tokens`):
//! `UserTokenClient` over the core's `UserTokens`, the same rules the
//! Worker's user objects run (which codes mean what, when to re-read, when
//! to give up). Doc comments here become the JSDoc of the `.d.ts`.

use crate::api::transport;
use crate::errors;
use crate::options::{RawOptions, as_object, from_js, to_js};
use crate::serve::start_now;
use feishu_tenant_token::host::{FetchTransport, JsClock};
use feishu_tenant_token::user_token::{
    self, Claim, MemoryStore, RefreshToken, UserAccess, UserGrant, UserStore, UserTokenFailure,
    UserTokens, Versioned,
};
use feishu_tenant_token::{AccessToken, BaseUrl, Clock, Error};
use js_sys::{Function, Object, Promise, Reflect};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Beyond the request timeout, how long a claim's lease lasts.
const CLAIM_MARGIN_MS: u64 = 2_000;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A user's grant as a `UserTokenStore` keeps it. Contains secrets: keep it
 * encrypted at rest, never log it. */
export interface UserGrant {
  accessToken: string;
  /** When the access token stops working, in epoch milliseconds. */
  expiresAt: number;
  /** Single-use: each refresh returns a new one. Absent without `offline_access`. */
  refreshToken?: string;
  refreshExpiresAt?: number;
  scope: string;
  /** A refresh under way (the claim a client stores before it sends the
   * single-use refresh token): the claiming client's id, and when its lease
   * ends. Store them with the grant, as they come; absent otherwise. */
  refreshingBy?: string;
  refreshingUntil?: number;
}

/** A stored grant and its version, for compare-and-set. */
export interface VersionedGrant {
  version: number;
  grant: UserGrant;
}

/**
 * Where a `UserTokenClient` keeps users' grants (default: this process's
 * memory). Bring your own to share users between processes (a database row
 * per user). `put` must be compare-and-set: store only while the stored
 * version is still `expectedVersion` (`null`: nothing stored), then bump the
 * version and return true; otherwise store nothing and return false. Methods
 * may return promises. Clients sharing a store refresh a user once: the one
 * whose claim `put` stored sends the refresh token, the others read the
 * store until its new grant is there (docs/users.md).
 */
export interface UserTokenStore {
  get(userId: string): VersionedGrant | null | undefined | Promise<VersionedGrant | null | undefined>;
  put(userId: string, grant: UserGrant, expectedVersion: number | null): boolean | Promise<boolean>;
  delete(userId: string): void | Promise<void>;
}

export interface UserTokenClientOptions extends ClientOptions {
  appId: string;
  appSecret: string;
  store?: UserTokenStore;
}

/** A user's access token and its lifetime. */
export interface UserToken {
  userAccessToken: string;
  /** Whole seconds the token has left now. */
  expire: number;
  expiresAt: number;
}

/** What `exchange` stored: whose grant (their `open_id`) and their token. */
export interface SignedInUser extends UserToken {
  userId: string;
}

export interface AuthorizeUrlOptions {
  /** Your callback, as registered in the developer console. */
  redirectUri: string;
  /** Scopes besides `offline_access` (always asked: without it no refresh token). */
  scopes?: string[];
  /** Your CSRF state: random, bound to the browser (a cookie), checked on return. */
  state: string;
  /** `codeChallenge` of `createPkce()`. */
  codeChallenge: string;
  /** Default `"https://accounts.feishu.cn"`; Lark: `"https://accounts.larksuite.com"`. */
  accountsUrl?: string;
}

export interface ExchangeOptions {
  redirectUri: string;
  /** `codeVerifier` of the `createPkce()` whose challenge started this sign-in. */
  codeVerifier: string;
}

/** A PKCE pair (RFC 7636, S256): keep the verifier, send the challenge. */
export interface Pkce {
  codeVerifier: string;
  codeChallenge: string;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "UserTokenClientOptions")]
    pub type UserTokenOptionsArg;
    #[wasm_bindgen(typescript_type = "AuthorizeUrlOptions")]
    pub type AuthorizeUrlArg;
    #[wasm_bindgen(typescript_type = "ExchangeOptions")]
    pub type ExchangeArg;
}

/// The grant as JS sees it (camelCase).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrantJs {
    access_token: String,
    expires_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_expires_at: Option<f64>,
    #[serde(default)]
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refreshing_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refreshing_until: Option<f64>,
}

impl GrantJs {
    fn of(g: &UserGrant) -> Self {
        Self {
            access_token: g.access_token.expose_secret().to_owned(),
            expires_at: g.expires_at_ms as f64,
            refresh_token: g
                .refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned()),
            refresh_expires_at: g.refresh_expires_at_ms.map(|t| t as f64),
            scope: g.scope.clone(),
            refreshing_by: g.claim.as_ref().map(|c| c.by.clone()),
            refreshing_until: g.claim.as_ref().map(|c| c.until_ms as f64),
        }
    }
    fn grant(self) -> UserGrant {
        UserGrant {
            access_token: AccessToken::new(self.access_token),
            expires_at_ms: self.expires_at as u64,
            refresh_token: self.refresh_token.map(RefreshToken::new),
            refresh_expires_at_ms: self.refresh_expires_at.map(|t| t as u64),
            scope: self.scope,
            claim: match (self.refreshing_by, self.refreshing_until) {
                (Some(by), Some(until)) => Some(Claim {
                    by,
                    until_ms: until as u64,
                }),
                _ => None,
            },
        }
    }
}

#[derive(Deserialize)]
struct VersionedJs {
    version: f64,
    grant: GrantJs,
}

/// The caller's `UserTokenStore`, or memory.
enum Store {
    Memory(MemoryStore),
    Js(Object),
}

impl Store {
    async fn call(&self, method: &str, args: &[&JsValue]) -> Result<JsValue, Error> {
        let Store::Js(store) = self else {
            return Ok(JsValue::UNDEFINED);
        };
        let failed = |what: &str| Error::invalid_input(&format!("store.{method} {what}"));
        let f: Function = Reflect::get(store, &method.into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| failed("is not a function"))?;
        let args = js_sys::Array::from_iter(args.iter().copied());
        let value = f.apply(store, &args).map_err(|_| failed("threw"))?;
        JsFuture::from(Promise::resolve(&value))
            .await
            .map_err(|_| failed("rejected"))
    }
}

impl UserStore for Store {
    async fn get(&self, user: &str) -> Result<Option<Versioned>, Error> {
        if let Store::Memory(m) = self {
            return m.get(user).await;
        }
        let v = self.call("get", &[&user.into()]).await?;
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        let v: VersionedJs = serde_wasm_bindgen::from_value(v).map_err(|_| {
            Error::invalid_input("store.get must return { version, grant } or null")
        })?;
        Ok(Some(Versioned {
            version: v.version as u64,
            grant: v.grant.grant(),
        }))
    }
    async fn put(
        &self,
        user: &str,
        expected: Option<u64>,
        grant: &UserGrant,
    ) -> Result<bool, Error> {
        if let Store::Memory(m) = self {
            return m.put(user, expected, grant).await;
        }
        let expected = expected.map_or(JsValue::NULL, |v| JsValue::from_f64(v as f64));
        let grant = to_js(&GrantJs::of(grant));
        let done = self.call("put", &[&user.into(), &grant, &expected]).await?;
        Ok(done.as_bool() == Some(true))
    }
    async fn delete(&self, user: &str) -> Result<(), Error> {
        if let Store::Memory(m) = self {
            return m.delete(user).await;
        }
        self.call("delete", &[&user.into()]).await.map(drop)
    }
}

/// A user's token with single-flight refresh: one refresh per user in flight
/// in this process, and across processes sharing a `store` (the refresher
/// claims the grant in the store first; the others wait for its grant), the
/// rotated refresh token stored (compare-and-set) before anyone is answered, a lost race (20064/20073) re-reading the store
/// instead of signing the user out, 20050 retried once, an expired or
/// revoked grant rejected with `SIGNED_OUT`. Share a `store` to share users
/// between processes.
#[wasm_bindgen(js_name = UserTokenClient)]
pub struct JsUserTokenClient {
    tokens: Rc<UserTokens<FetchTransport, JsClock, Store>>,
}

fn failure(f: UserTokenFailure) -> JsValue {
    match f {
        UserTokenFailure::SignedOut { feishu_code } => errors::signed_out(feishu_code),
        UserTokenFailure::Failed(e) => errors::to_js(&e),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    user_access_token: &'a str,
    expire: f64,
    expires_at: f64,
}

fn token_out(t: &UserAccess, user_id: Option<&str>) -> JsValue {
    let left = t.expires_at_ms.saturating_sub(JsClock.now_ms()) / 1000;
    to_js(&TokenOut {
        user_id,
        user_access_token: t.token.expose_secret(),
        expire: left as f64,
        expires_at: t.expires_at_ms as f64,
    })
}

#[wasm_bindgen(js_class = UserTokenClient)]
impl JsUserTokenClient {
    /// Throws a `FeishuTokenError` with code `INVALID_INPUT` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: UserTokenOptionsArg) -> Result<JsUserTokenClient, JsValue> {
        Self::build(&options).map_err(|e| errors::to_js(&e))
    }

    fn build(options: &JsValue) -> Result<JsUserTokenClient, Error> {
        as_object(options, "options")?;
        let raw: RawOptions = from_js(options, "options")?;
        let app = raw.credentials()?;
        let o = raw.client_options()?;
        let store = match &raw.store {
            s if s.is_undefined() || s.is_null() => Store::Memory(MemoryStore::default()),
            s if s.is_object() => Store::Js(s.clone().unchecked_into()),
            _ => return Err(Error::invalid_input("store must be an object")),
        };
        // A claim's lease covers the refresh request's own timeout, so a
        // living holder is never taken over (docs/users.md).
        let lease_ms = u64::from(o.timeout_ms).saturating_add(CLAIM_MARGIN_MS);
        let tokens = UserTokens::new(
            transport(&o)?,
            JsClock,
            o.base_url,
            app,
            store,
            o.min_validity_secs,
        )
        .with_claim_lease(lease_ms);
        Ok(Self {
            tokens: Rc::new(tokens),
        })
    }

    /// The sign-in page's URL (Feishu's accounts site) with your `state`, the
    /// PKCE challenge and `offline_access` always among the scopes.
    #[wasm_bindgen(js_name = authorizeUrl)]
    pub fn authorize_url(&self, options: AuthorizeUrlArg) -> Result<String, JsValue> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Raw {
            redirect_uri: String,
            #[serde(default)]
            scopes: Vec<String>,
            state: String,
            code_challenge: String,
            #[serde(default)]
            accounts_url: Option<String>,
        }
        let run = || {
            let r: Raw = from_js(&options, "options")?;
            let accounts = BaseUrl::parse(
                r.accounts_url
                    .as_deref()
                    .unwrap_or("https://accounts.feishu.cn"),
            )?;
            if r.state.is_empty() || r.code_challenge.is_empty() || r.redirect_uri.is_empty() {
                return Err(Error::invalid_input(
                    "redirectUri, state and codeChallenge are required",
                ));
            }
            let scopes: Vec<&str> = r.scopes.iter().map(String::as_str).collect();
            Ok(user_token::authorize_url(
                &accounts,
                self.tokens.app().app_id(),
                &r.redirect_uri,
                &scopes,
                &r.state,
                &r.code_challenge,
            ))
        };
        run().map_err(|e| errors::to_js(&e))
    }

    /// Exchanges the sign-in's `code` (with the PKCE verifier) for the user's
    /// grant, learns who signed in (`open_id`, from `user_info`), stores the
    /// grant under that id and resolves to it with the token.
    #[wasm_bindgen(unchecked_return_type = "Promise<SignedInUser>")]
    pub fn exchange(&self, code: String, options: ExchangeArg) -> Promise {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Raw {
            redirect_uri: String,
            code_verifier: String,
        }
        let tokens = Rc::clone(&self.tokens);
        let options: JsValue = options.into();
        start_now(async move {
            let run = async {
                let r: Raw = from_js(&options, "options")?;
                if !user_token::is_code_verifier(&r.code_verifier) {
                    return Err(Error::invalid_input(
                        "codeVerifier is not a PKCE verifier (43-128 characters)",
                    ));
                }
                let (user, access) = tokens
                    .exchange(&code, &r.redirect_uri, &r.code_verifier)
                    .await?;
                Ok(token_out(&access, Some(&user)))
            };
            run.await.map_err(|e| errors::to_js(&e))
        })
    }

    /// `userId`'s token with at least `minValiditySecs` left: the stored one,
    /// or one refresh shared by every caller meanwhile. Rejects with
    /// `SIGNED_OUT` when the user must sign in again (their grant is deleted).
    #[wasm_bindgen(js_name = accessToken, unchecked_return_type = "Promise<UserToken>")]
    pub fn access_token(&self, #[wasm_bindgen(js_name = userId)] user_id: String) -> Promise {
        let tokens = Rc::clone(&self.tokens);
        start_now(async move {
            match tokens.access_token(&user_id).await {
                Ok(t) => Ok(token_out(&t, None)),
                Err(f) => Err(failure(f)),
            }
        })
    }

    /// After an API call refused `token` (99991668 / 99991677): its
    /// replacement (one refresh for every caller refused with it).
    #[wasm_bindgen(js_name = replaceToken, unchecked_return_type = "Promise<UserToken>")]
    pub fn replace_token(
        &self,
        #[wasm_bindgen(js_name = userId)] user_id: String,
        token: String,
    ) -> Promise {
        let tokens = Rc::clone(&self.tokens);
        start_now(async move {
            match tokens.replacing(&user_id, &AccessToken::new(token)).await {
                Ok(t) => Ok(token_out(&t, None)),
                Err(f) => Err(failure(f)),
            }
        })
    }

    /// Signs `userId` out: their stored grant is deleted.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(&self, #[wasm_bindgen(js_name = userId)] user_id: String) -> Promise {
        let tokens = Rc::clone(&self.tokens);
        start_now(async move {
            tokens
                .store()
                .delete(&user_id)
                .await
                .map(|()| JsValue::UNDEFINED)
                .map_err(|e| errors::to_js(&e))
        })
    }
}

/// A new PKCE pair from the runtime's CSPRNG (`crypto.getRandomValues`).
#[wasm_bindgen(js_name = createPkce, unchecked_return_type = "Pkce")]
pub fn create_pkce() -> Result<JsValue, JsValue> {
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
        fn get_random_values(buf: &mut [u8]) -> Result<(), JsValue>;
    }
    let mut random = [0u8; 32];
    get_random_values(&mut random)?;
    let verifier = user_token::code_verifier_from(&random);
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out {
        code_verifier: String,
        code_challenge: String,
    }
    Ok(to_js(&Out {
        code_challenge: user_token::code_challenge(&verifier),
        code_verifier: verifier,
    }))
}
