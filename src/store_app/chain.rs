//! The store-app chain as two [`Source`]s, each under its own
//! [`TokenClient`] (so both tokens get the same freshness, single-flight and
//! stale-if-error): [`AppTokenSource`] trades the stored ticket for the
//! app's `app_access_token` (kept by an [`AppTokenClient`]);
//! [`TenantTokenSource`] trades that for tenant tokens. Apart from the chain,
//! [`CallerAppTokenSource`] serves any caller's app token for the id, secret
//! and ticket the caller brings (the Worker's gateway).

use super::tickets::TicketStore;
use super::wire::{
    APP_TICKET_INVALID_CODE, APP_TOKEN_INVALID_CODE, AppCredentials, build_app_token_request,
    build_ticket_resend_request,
};
use crate::app::KeyedCredentials;
use crate::cache_key::{AppBinding, CacheKey};
use crate::client::TokenClient;
use crate::error::{Error, ErrorCode};
use crate::freshness::{Clock, Freshness, TokenGrant};
use crate::retry::RetryPolicy;
use crate::secret::{AccessToken, AppAccessToken, AppTicket};
use crate::source::{Keyed, Source, Upstream, retrying, send, token_round_trip};
use crate::transport::Transport;
use crate::validate::{BaseUrl, TenantKey, TokenRequest};
use crate::wire::{APP_TOKEN_MEMBER, parse_ok_reply};
use core::cell::Cell;
use std::rc::Rc;

/// At most one `app_ticket/resend` per app per minute: Feishu answers a
/// resend by pushing the ticket to the event callback, which takes seconds
/// to minutes (Feishu, "Resend app_ticket": <https://open.feishu.cn/document/server-docs/authentication-management/access-token/app_ticket_resend>), so
/// asking more often only adds load.
pub const RESEND_MIN_INTERVAL_MS: u64 = 60_000;

/// What a caller is told to wait when no ticket is there yet: a resent
/// ticket has been seen to arrive within seconds to about two minutes.
pub const TICKET_RETRY_AFTER_SECS: u64 = 10;

/// The key of an app's own token in its [`TokenClient`].
#[derive(Clone, Debug)]
pub struct AppTokenRequest {
    pub app: AppBinding,
}

impl Keyed for AppTokenRequest {
    fn cache_key(&self) -> CacheKey {
        CacheKey::app_token(self.app)
    }
}

/// One tenant of the app the source serves.
#[derive(Clone, Debug)]
pub struct StoreAppRequest {
    pub app: AppBinding,
    pub tenant_key: TenantKey,
}

impl Keyed for StoreAppRequest {
    fn cache_key(&self) -> CacheKey {
        CacheKey {
            app: self.app,
            tenant: self.tenant_key.clone(),
        }
    }
}

/// One `app_access_token` round trip with a given ticket (no cache, no retry).
pub async fn fetch_app_token<T: Transport, C: Clock>(
    transport: &T,
    clock: &C,
    base_url: &BaseUrl,
    app: &AppCredentials,
    ticket: &AppTicket,
) -> Result<TokenGrant, Error> {
    let http = build_app_token_request(base_url, app, ticket);
    let scrub = |e: Error| {
        e.scrubbed(app.app_secret().expose_secret())
            .scrubbed(ticket.expose_secret())
    };
    token_round_trip(transport, clock, http, &APP_TOKEN_MEMBER, scrub).await
}

/// One `app_ticket/resend` round trip.
pub async fn resend_ticket<T: Transport>(
    transport: &T,
    base_url: &BaseUrl,
    app: &AppCredentials,
) -> Result<(), Error> {
    let scrub = |e: Error| e.scrubbed(app.app_secret().expose_secret());
    let response = send(transport, build_ticket_resend_request(base_url, app))
        .await
        .map_err(scrub)?;
    let reply = transport.read_json(&response.body);
    parse_ok_reply(&response, reply).map_err(scrub)
}

/// Feishu's `app_access_token` endpoint, fed from a [`TicketStore`]; the
/// transport is shared with the chain's tenant-token fetches.
pub struct AppTokenSource<T, C, K> {
    transport: Rc<T>,
    clock: C,
    base_url: BaseUrl,
    retry: RetryPolicy,
    app: AppCredentials,
    tickets: K,
    last_resend_ms: Cell<Option<u64>>,
}

impl<T: Transport, C: Clock, K: TicketStore> AppTokenSource<T, C, K> {
    pub(crate) fn new(
        transport: Rc<T>,
        clock: C,
        base_url: BaseUrl,
        app: AppCredentials,
        tickets: K,
    ) -> Self {
        Self {
            transport,
            clock,
            base_url,
            retry: RetryPolicy::default(),
            app,
            tickets,
            last_resend_ms: Cell::new(None),
        }
    }

    pub(crate) fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The request its [`TokenClient`] is asked with.
    pub(crate) fn request(&self) -> AppTokenRequest {
        AppTokenRequest {
            app: AppBinding::of_app_credentials(self.app.app_id(), self.app.app_secret()),
        }
    }

    /// No usable ticket: ask Feishu to push one (throttled), then tell the
    /// caller to come back. A resend Feishu refuses outright (wrong app id or
    /// secret) is the better error to report.
    async fn ticket_missing(&self, why: &str) -> Error {
        let now = self.clock.now_ms();
        let recent = self
            .last_resend_ms
            .get()
            .is_some_and(|at| now.saturating_sub(at) < RESEND_MIN_INTERVAL_MS);
        if !recent && self.tickets.claim_resend(now).await {
            self.last_resend_ms.set(Some(now));
            if let Err(e) = resend_ticket(&*self.transport, &self.base_url, &self.app).await {
                if e.code() == ErrorCode::FeishuApiError {
                    return e;
                }
            }
        }
        Error::app_ticket_missing(TICKET_RETRY_AFTER_SECS, why)
    }
}

impl<T: Transport, C: Clock, K: TicketStore> Source for AppTokenSource<T, C, K> {
    type Request = AppTokenRequest;
    type Meta = ();

    async fn fetch(&self, _request: &AppTokenRequest) -> Result<(TokenGrant, ()), Error> {
        let ticket = match self.tickets.get().await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(self.ticket_missing("none received yet").await),
            Err(why) => {
                let why = format!("the ticket store failed: {why}");
                return Err(self.ticket_missing(&why).await);
            }
        };
        let fetched = retrying(&*self.transport, &self.clock, self.retry, || {
            fetch_app_token(
                &*self.transport,
                &self.clock,
                &self.base_url,
                &self.app,
                &ticket,
            )
        })
        .await;
        match fetched {
            Ok(grant) => Ok((grant, ())),
            Err(e) if e.is_feishu(APP_TICKET_INVALID_CODE) => {
                // Dropped even if the delete fails: the resend replaces it.
                let _ = self.tickets.delete().await;
                Err(self
                    .ticket_missing("Feishu said the stored one is invalid (10012)")
                    .await)
            }
            Err(e) => Err(e),
        }
    }
}

/// The app's own token: its client (memory, single-flight, the host's layer)
/// with the one request it is asked with.
pub struct AppTokenClient<S: Source<Request = AppTokenRequest>, C> {
    client: TokenClient<S, C>,
    request: AppTokenRequest,
}

impl<S: Source<Request = AppTokenRequest>, C: Clock> AppTokenClient<S, C> {
    /// What its client is asked with (the Worker serves the app's own token
    /// to SDKs that ask `app_access_token` for the app it holds).
    pub fn request(&self) -> &AppTokenRequest {
        &self.request
    }

    /// The app token client.
    pub fn client(&self) -> &TokenClient<S, C> {
        &self.client
    }

    async fn app_token(&self) -> Result<AppAccessToken, Error> {
        self.client.get(&self.request).await.map(as_app_token)
    }

    /// A replacement for `bad`, which Feishu refused (99991664).
    async fn replace(&self, bad: &AppAccessToken) -> Result<AppAccessToken, Error> {
        let bad = AccessToken::new(bad.expose_secret());
        self.client
            .replace(&self.request, &bad)
            .await
            .map(as_app_token)
    }
}

fn as_app_token(grant: TokenGrant) -> AppAccessToken {
    AppAccessToken::new(grant.token.expose_secret())
}

/// Tenant tokens for one store app: its app token (from the client whose
/// source is `A`), then Feishu's `tenant_access_token` endpoint (with its
/// retries).
pub struct TenantTokenSource<A: Source<Request = AppTokenRequest>, T, C> {
    app_tokens: Rc<AppTokenClient<A, C>>,
    upstream: Upstream<Rc<T>, C>,
}

impl<A: Source<Request = AppTokenRequest>, T: Transport, C: Clock> TenantTokenSource<A, T, C> {
    pub(crate) fn new(app_tokens: Rc<AppTokenClient<A, C>>, upstream: Upstream<Rc<T>, C>) -> Self {
        Self {
            app_tokens,
            upstream,
        }
    }
}

impl<A: Source<Request = AppTokenRequest>, T: Transport, C: Clock> Source
    for TenantTokenSource<A, T, C>
{
    type Request = StoreAppRequest;
    type Meta = ();

    async fn fetch(&self, request: &StoreAppRequest) -> Result<(TokenGrant, ()), Error> {
        let app_token = self.app_tokens.app_token().await?;
        let mut ask = TokenRequest {
            app_access_token: app_token,
            tenant_key: request.tenant_key.clone(),
        };
        match self.upstream.fetch(&ask).await {
            // The app token went bad before its time: replace it and try once more.
            Err(e) if e.is_feishu(APP_TOKEN_INVALID_CODE) => {
                ask.app_access_token = self.app_tokens.replace(&ask.app_access_token).await?;
                self.upstream.fetch(&ask).await
            }
            other => other,
        }
    }
}

/// What [`StoreAppBuilder::build`] makes: the chain with memory caches only.
pub type MemoryChain<T, C, K> =
    StoreAppChain<AppTokenSource<T, C, K>, TenantTokenSource<AppTokenSource<T, C, K>, T, C>, C>;

/// The one way to assemble the store-app chain (the npm `StoreAppClient`,
/// the Worker's managed mode and the tests all use it): one transport shared
/// by the app-token and tenant-token fetches, each token under its own
/// [`TokenClient`] with the same freshness rule and retry policy.
pub struct StoreAppBuilder<T, C, K> {
    transport: Rc<T>,
    clock: C,
    base_url: BaseUrl,
    app: AppCredentials,
    tickets: K,
    retry: RetryPolicy,
    freshness: Freshness,
    revalidate_after_ms: Option<u64>,
    max_tenants: Option<usize>,
}

impl<T: Transport, C: Clock + Clone, K: TicketStore> StoreAppBuilder<T, C, K> {
    pub fn new(transport: T, clock: C, base_url: BaseUrl, app: AppCredentials, tickets: K) -> Self {
        Self {
            transport: Rc::new(transport),
            clock,
            base_url,
            app,
            tickets,
            retry: RetryPolicy::default(),
            freshness: Freshness::default(),
            revalidate_after_ms: None,
            max_tenants: None,
        }
    }

    /// The tenant-token cache keeps at most `n` tenants' tokens (see
    /// [`TokenClient::capped_at`]).
    pub fn max_tenants(mut self, n: usize) -> Self {
        self.max_tenants = Some(n);
        self
    }

    /// Both token caches ask their source again after `ms` (see
    /// [`TokenClient::revalidating_after`]): for hosts whose layer is shared.
    pub fn revalidate_after(mut self, ms: u64) -> Self {
        self.revalidate_after_ms = Some(ms);
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn freshness(mut self, freshness: Freshness) -> Self {
        self.freshness = freshness;
        self
    }

    /// The chain with memory caches only.
    pub fn build(self) -> MemoryChain<T, C, K> {
        self.build_layered(|app| app, |tenants| tenants)
    }

    /// The chain with a host's cache layer (the Worker's KV) put between each
    /// memory cache and its source.
    pub fn build_layered<A, S>(
        self,
        app_layer: impl FnOnce(AppTokenSource<T, C, K>) -> A,
        tenant_layer: impl FnOnce(TenantTokenSource<A, T, C>) -> S,
    ) -> StoreAppChain<A, S, C>
    where
        A: Source<Request = AppTokenRequest>,
        S: Source<Request = StoreAppRequest>,
    {
        let source = AppTokenSource::new(
            Rc::clone(&self.transport),
            self.clock.clone(),
            self.base_url.clone(),
            self.app,
            self.tickets,
        )
        .with_retry(self.retry);
        let request = source.request();
        let app = request.app;
        let every = self.revalidate_after_ms;
        let apps = Rc::new(AppTokenClient {
            client: revalidating(
                TokenClient::new(app_layer(source), self.clock.clone(), self.freshness),
                every,
            ),
            request,
        });
        let upstream =
            Upstream::new(self.transport, self.clock.clone(), self.base_url).with_retry(self.retry);
        let tenants = revalidating(
            TokenClient::new(
                tenant_layer(TenantTokenSource::new(Rc::clone(&apps), upstream)),
                self.clock,
                self.freshness,
            ),
            every,
        );
        let tenants = Rc::new(match self.max_tenants {
            Some(n) => tenants.capped_at(n),
            None => tenants,
        });
        StoreAppChain { app, apps, tenants }
    }
}

fn revalidating<S: Source, C: Clock>(
    c: TokenClient<S, C>,
    every: Option<u64>,
) -> TokenClient<S, C> {
    match every {
        Some(ms) => c.revalidating_after(ms),
        None => c,
    }
}

/// Tenant tokens of one store app, through the whole chain.
pub struct StoreAppChain<
    A: Source<Request = AppTokenRequest>,
    S: Source<Request = StoreAppRequest>,
    C,
> {
    app: AppBinding,
    apps: Rc<AppTokenClient<A, C>>,
    tenants: Rc<TokenClient<S, C>>,
}

impl<A, S, C> StoreAppChain<A, S, C>
where
    A: Source<Request = AppTokenRequest>,
    S: Source<Request = StoreAppRequest>,
    C: Clock,
{
    /// The app's own `app_access_token` cache (the first link of the chain).
    pub fn apps(&self) -> &AppTokenClient<A, C> {
        &self.apps
    }

    /// What the tenant-token client is asked with for `tenant_key`.
    pub fn request(&self, tenant_key: TenantKey) -> StoreAppRequest {
        StoreAppRequest {
            app: self.app,
            tenant_key,
        }
    }

    /// The tenant-token client (memory cache and single-flight), shared so
    /// that a host can hand it to requests that outlive the borrow.
    pub fn tenants(&self) -> &Rc<TokenClient<S, C>> {
        &self.tenants
    }
}

/// [`fetch_app_token`] under a retry policy: one app token, no cache (the
/// npm package's `getAppAccessToken`).
pub async fn fetch_app_token_retrying<T: Transport, C: Clock>(
    transport: &T,
    clock: &C,
    base_url: &BaseUrl,
    app: &AppCredentials,
    ticket: &AppTicket,
    retry: RetryPolicy,
) -> Result<TokenGrant, Error> {
    retrying(transport, clock, retry, || {
        fetch_app_token(transport, clock, base_url, app, ticket)
    })
    .await
}

/// A caller's `app_access_token` request with its own credentials and
/// ticket (the Worker's gateway serves any store app this way). The key binds
/// the app id and a digest of the secret but not the ticket, which rotates
/// hourly while the app token stays the same.
#[derive(Clone, Debug)]
pub struct CallerAppTokenRequest {
    credentials: KeyedCredentials,
    ticket: AppTicket,
}

impl CallerAppTokenRequest {
    pub fn new(app: AppCredentials, ticket: AppTicket) -> Self {
        Self {
            credentials: KeyedCredentials::new(app),
            ticket,
        }
    }

    pub fn credentials(&self) -> &KeyedCredentials {
        &self.credentials
    }

    /// A digest of the ticket (never the ticket itself), for a host to
    /// remember which tickets Feishu accepted for this app.
    pub fn ticket_digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"feishu-tenant-token/app-ticket/v1\0");
        h.update(self.ticket.expose_secret().as_bytes());
        h.finalize().into()
    }
}

impl Keyed for CallerAppTokenRequest {
    fn cache_key(&self) -> CacheKey {
        self.credentials.cache_key()
    }
}

/// Feishu's `app_access_token` endpoint (the `Upstream`'s base URL, transport
/// and retry policy) with the credentials and ticket each request carries.
pub struct CallerAppTokenSource<T, C> {
    upstream: Upstream<T, C>,
}

impl<T: Transport, C: Clock> CallerAppTokenSource<T, C> {
    pub fn new(upstream: Upstream<T, C>) -> Self {
        Self { upstream }
    }
}

impl<T: Transport, C: Clock> Source for CallerAppTokenSource<T, C> {
    type Request = CallerAppTokenRequest;
    type Meta = ();

    async fn fetch(&self, r: &CallerAppTokenRequest) -> Result<(TokenGrant, ()), Error> {
        let up = &self.upstream;
        let app = r.credentials.app();
        let (t, c, b) = (up.transport(), up.clock(), up.base_url());
        fetch_app_token_retrying(t, c, b, app, &r.ticket, up.retry_policy())
            .await
            .map(|grant| (grant, ()))
    }
}
