//! What the two token-keeping objects share (`TokenCoordinator`, one per
//! KV key; `StoreAppKeeper`, the managed app's one): serving a front's
//! question about a key with the object's own clients, keeping the key hot
//! and renewing its token by the object's alarm, and replacing a refused
//! token with the question last served.
//!
//! The object serves a question with its own clients (memory, single-flight,
//! KV, Feishu), never the isolate's: an object may share an isolate with
//! front requests, and asking through the isolate's client would wait on
//! itself.

use crate::cache::ask::Want;
use crate::cache::object_store::ObjectStore;
use crate::config::{Brand, Config};
use crate::coordinator::protocol::{
    MANAGED_APP_PATH, MANAGED_TENANT_PATH, REPLACE, REPLACING_HEADER, TICKET_PREFIX,
    is_feishus_word, relay_status,
};
use crate::http::reply::{self, Member};
use crate::http::request::{MAX_BODY_BYTES, read_body, wants_refresh};
use crate::log;
use crate::sources::body;
use crate::sources::chain::{ManagedAt, ManagedChain, build_managed};
use crate::sources::clients::{Internal, PassThrough, Role, build_internal, build_pass_through};
use crate::sources::state;
use core::cell::{Cell, RefCell};
use feishu_tenant_token::cache_key::parse_hex32;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::kv;
use feishu_tenant_token::secret::constant_time_eq;
use feishu_tenant_token::self_built::{self, Kind, SelfBuiltRequest};
use feishu_tenant_token::wire::TENANT_TOKEN_PATH;
use feishu_tenant_token::{Clock, Error, Served, Source, TenantKey, TokenClient, TokenGrant};
use std::rc::Rc;
use worker::{Env, Request, Response, ScheduledTime, State};

/// A key asked for within this long is hot: its object renews its token by
/// an alarm. Colder keys are left to expire (their object is then evicted).
const HOT_WITHIN_MS: u64 = 15 * 60 * 1000;

/// The alarm fires this long after the token leaves the freshness window.
/// Feishu hands out a new token only once fewer than 30 minutes remain, which
/// is where the default window (`MIN_VALIDITY_SECS` = 1800) ends: renewing
/// earlier would fetch the same token. With a shorter window the token is
/// renewed as it leaves it, while the old one is still valid.
const RENEW_AFTER_WINDOW_MS: u64 = 1_000;

/// After a failed renewal, the next try.
const RENEW_RETRY_MS: u64 = 30_000;

/// A question as the object received it: Feishu's path and JSON body (the
/// caller's credential in it: kept in the object's memory only, never in its
/// storage, never logged).
#[derive(Clone)]
struct Question {
    /// The brand of the key (its questions come under `/lark` for Lark).
    brand: Brand,
    path: String,
    body: Vec<u8>,
}

/// A hot key's question, with when it was last asked.
struct Hot {
    question: Question,
    last_asked_ms: u64,
}

/// The object's own clients, built on first use.
#[derive(Default)]
struct Clients {
    tenant: Option<Rc<PassThrough>>,
    internal_tenant: Option<Rc<Internal>>,
    internal_app: Option<Rc<Internal>>,
    managed: Option<Rc<ManagedChain>>,
}

/// Which object serves: each answers only its own questions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keeps {
    /// The token coordinator: tenant, self-built and managed tenants' keys.
    Keys,
    /// The store app's keeper: the managed app's own app token.
    StoreApp,
}

/// A key's object: its clients, the question it last served (hot), its alarm.
pub struct KeyServer {
    state: State,
    env: Env,
    keeps: Keeps,
    clients: RefCell<Clients>,
    hot: RefCell<Option<Hot>>,
    alarm_at_ms: Cell<u64>,
}

impl KeyServer {
    pub fn new(state: State, env: Env, keeps: Keeps) -> Self {
        Self {
            state,
            env,
            keeps,
            clients: RefCell::new(Clients::default()),
            hot: RefCell::new(None),
            alarm_at_ms: Cell::new(0),
        }
    }

    /// A front's question about the key (`path` as it came, under `/lark`
    /// for Lark): the token, a replacement (`protocol::REPLACE`), or 404 for
    /// a question this object does not keep.
    pub async fn fetch(&self, mut req: Request, full: &str) -> worker::Result<Response> {
        let (brand, path) = Brand::of_path(full);
        let path = path.to_owned();
        let replacing = req.headers().get(REPLACING_HEADER)?;
        let want = match replacing.as_deref().and_then(parse_hex32) {
            Some(digest) => Want::Replacing(digest),
            None if wants_refresh(&req) => Want::Fresh,
            None => Want::Servable,
        };
        let Ok(body) = read_body(&mut req, MAX_BODY_BYTES).await? else {
            return reply::json_response(503, String::new());
        };
        if path.strip_prefix(TICKET_PREFIX) == Some(REPLACE) {
            return self.replace(want).await;
        }
        let config = match state::config_for(&self.env, brand) {
            Ok(c) => c,
            Err(_) => return reply::json_response(503, String::new()),
        };
        let question = Question { brand, path, body };
        let served = self.serve(&config, &question, want).await;
        self.answer(&config, question, served).await
    }

    /// The alarm: the hot key's next token, fetched just after the current
    /// one left the freshness window (a key no longer asked is let go).
    pub async fn renew(&self) -> worker::Result<Response> {
        self.alarm_at_ms.set(0);
        let now = JsClock.now_ms();
        let hot = self
            .hot
            .borrow_mut()
            .take()
            .filter(|h| now.saturating_sub(h.last_asked_ms) <= HOT_WITHIN_MS);
        let Some(hot) = hot else {
            return Response::empty();
        };
        let Ok(config) = state::config_for(&self.env, hot.question.brand) else {
            return Response::empty();
        };
        // The token has just left the freshness window: a plain get fetches
        // the next one (single-flight with any request asking meanwhile).
        match self.serve(&config, &hot.question, Want::Servable).await {
            Ok(grant) => {
                let last = hot.last_asked_ms;
                self.keep_hot(&config, hot.question, &grant).await;
                if let Some(h) = self.hot.borrow_mut().as_mut() {
                    h.last_asked_ms = last;
                }
                Response::empty()
            }
            Err(e) => {
                log::warn("coordinator_renew_failed", e.message());
                *self.hot.borrow_mut() = Some(hot);
                self.schedule(now.saturating_add(RENEW_RETRY_MS)).await;
                Response::empty()
            }
        }
    }

    /// The answer to `question`: the token (the key kept hot), Feishu's
    /// refusal, or a relayed failure.
    async fn answer(
        &self,
        config: &Config,
        question: Question,
        served: Result<TokenGrant, Error>,
    ) -> worker::Result<Response> {
        match served {
            Ok(grant) => {
                self.keep_hot(config, question, &grant).await;
                let now = JsClock.now_ms();
                reply::token(&grant, now, &Served::Memory, Member::TenantAccessToken)
            }
            Err(e) if is_feishus_word(&e) => reply::upstream_error(&e),
            // Feishu unreachable: the class in the status, the message (text,
            // never a secret) the body.
            Err(e) => match relay_status(&e) {
                Some(status) => reply::json_response(status, e.message().to_owned()),
                // The object's own failure: the front fetches by itself.
                None => reply::json_response(503, String::new()),
            },
        }
    }

    async fn serve(
        &self,
        config: &Config,
        question: &Question,
        want: Want,
    ) -> Result<TokenGrant, Error> {
        let refused = || Error::invalid_input("the coordinator could not read the question");
        let kind = match question.path.as_str() {
            TENANT_TOKEN_PATH => {
                let request = body::tenant_token_request(&question.body).map_err(|_| refused())?;
                let client = self.client(
                    config,
                    |c| &mut c.tenant,
                    |env, config| build_pass_through(env, config, Role::Coordinator),
                )?;
                return served(&client, &request, want).await;
            }
            MANAGED_APP_PATH if self.keeps == Keeps::StoreApp => {
                let chain = self.managed(config, true)?;
                let apps = chain.apps();
                return served(apps.client(), apps.request(), want).await;
            }
            _ if self.keeps == Keeps::StoreApp => return Err(refused()),
            MANAGED_TENANT_PATH => {
                let tenant = core::str::from_utf8(&question.body)
                    .ok()
                    .and_then(|t| TenantKey::parse(t).ok())
                    .ok_or_else(refused)?;
                let chain = self.managed(config, false)?;
                return served(chain.tenants(), &chain.request(tenant), want).await;
            }
            self_built::INTERNAL_TENANT_TOKEN_PATH => Kind::TenantToken,
            self_built::INTERNAL_APP_TOKEN_PATH => Kind::AppToken,
            _ => return Err(refused()),
        };
        let app = body::internal_request(&question.body).map_err(|_| refused())?;
        let request = SelfBuiltRequest::new(app);
        let build =
            move |env: &Env, config: &Config| build_internal(env, config, kind, Role::Coordinator);
        let client = match kind {
            Kind::AppToken => self.client(config, |c| &mut c.internal_app, build)?,
            Kind::TenantToken => self.client(config, |c| &mut c.internal_tenant, build)?,
        };
        served(&client, &request, want).await
    }

    /// `protocol::REPLACE`: the question this object last served, asked
    /// again as `want` says (a replacement of the refused token); 404 when
    /// it holds none.
    async fn replace(&self, want: Want) -> worker::Result<Response> {
        let question = self.hot.borrow().as_ref().map(|h| h.question.clone());
        let Some(question) = question else {
            return reply::json_response(404, String::new());
        };
        let Ok(config) = state::config_for(&self.env, question.brand) else {
            return reply::json_response(503, String::new());
        };
        let served = self.serve(&config, &question, want).await;
        self.answer(&config, question, served).await
    }

    pub fn store(&self) -> ObjectStore {
        ObjectStore::of(&self.state)
    }

    /// The managed app's chain as this object runs it: `app_object` when the
    /// object is the app's (named by the app token's key), else a tenant's.
    fn managed(&self, config: &Config, app_object: bool) -> Result<Rc<ManagedChain>, Error> {
        let Some(managed) = config.managed_here() else {
            return Err(Error::invalid_input("managed mode is off"));
        };
        let at = if app_object {
            ManagedAt::AppObject(self.store())
        } else {
            ManagedAt::TenantObject
        };
        self.client(
            config,
            |c| &mut c.managed,
            |env, config| build_managed(env, config, managed, at),
        )
    }

    /// The object's client in `slot`, built by `build` on first use.
    fn client<T>(
        &self,
        config: &Config,
        slot: fn(&mut Clients) -> &mut Option<Rc<T>>,
        build: impl FnOnce(&Env, &Config) -> Result<T, String>,
    ) -> Result<Rc<T>, Error> {
        if let Some(c) = slot(&mut self.clients.borrow_mut()).clone() {
            return Ok(c);
        }
        // Not a network error: that would be relayed as Feishu unreachable.
        let c = Rc::new(build(&self.env, config).map_err(|e| Error::invalid_input(&e))?);
        *slot(&mut self.clients.borrow_mut()) = Some(Rc::clone(&c));
        Ok(c)
    }

    /// Remembers the key as hot and sets the alarm that renews its token
    /// just after it leaves the freshness window (one alarm per object: a
    /// later one replaces it).
    async fn keep_hot(&self, config: &Config, question: Question, grant: &TokenGrant) {
        let now = JsClock.now_ms();
        *self.hot.borrow_mut() = Some(Hot {
            question,
            last_asked_ms: now,
        });
        let window_ends = grant
            .expires_at_ms
            .saturating_sub(config.freshness.min_validity_secs() * 1000);
        self.schedule(window_ends.saturating_add(RENEW_AFTER_WINDOW_MS).max(now))
            .await;
    }

    async fn schedule(&self, at_ms: u64) {
        if self.alarm_at_ms.get() == at_ms {
            return;
        }
        // An absolute time: an offset would be counted from when the call runs.
        let at = js_sys::Date::new(&(at_ms as f64).into());
        match self.state.storage().set_alarm(ScheduledTime::new(at)).await {
            Ok(()) => self.alarm_at_ms.set(at_ms),
            Err(_) => log::warn("coordinator_alarm_failed", "setAlarm refused"),
        }
    }
}

/// The token `client` serves for `request`: past its caches when `Fresh`
/// (throttled: a token it fetched moments ago is served as it is).
async fn served<S: Source>(
    client: &TokenClient<S, JsClock>,
    request: &S::Request,
    want: Want,
) -> Result<TokenGrant, Error> {
    let got = match want {
        Want::Servable => client.get_served(request).await,
        Want::Fresh => client.refresh_served(request).await,
        Want::Replacing(refused) => {
            let (current, _) = client.get_served(request).await?;
            if !constant_time_eq(&kv::token_digest(&current.token), &refused) {
                // Another front's replacement, or Feishu's new token.
                return Ok(current);
            }
            return client.replace(request, &current.token).await;
        }
    };
    got.map(|(grant, _)| grant)
}
