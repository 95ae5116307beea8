//! Where the client gets a token when its memory has none: a [`Source`].
//!
//! The npm module fetches straight from Feishu ([`Upstream`]); the Worker
//! puts Workers KV in front of that. Either way the client's memory cache and
//! single-flight sit above, so a source is asked at most once per key at a time.

use crate::cache_key::CacheKey;
use crate::error::Error;
use crate::freshness::{Clock, TokenGrant};
use crate::retry::RetryPolicy;
use crate::secret::AccessToken;
use crate::transport::{Transport, TransportError};
use crate::validate::{BaseUrl, TokenRequest};
use crate::wire::{build_tenant_token_request, parse_tenant_token_reply};
use core::future::Future;

/// A request a [`TokenClient`](crate::TokenClient) can cache: it names the
/// one cache key it maps to.
pub trait Keyed {
    fn cache_key(&self) -> CacheKey;
}

impl Keyed for TokenRequest {
    fn cache_key(&self) -> CacheKey {
        CacheKey::new(&self.app_access_token, &self.tenant_key)
    }
}

pub trait Source {
    /// What the client passes down on a miss.
    type Request: Keyed;

    /// What a fetch reports besides the grant (which layer answered, timings),
    /// passed to every caller that shared the fetch.
    type Meta: Clone;

    fn fetch(
        &self,
        request: &Self::Request,
    ) -> impl Future<Output = Result<(TokenGrant, Self::Meta), Error>>;

    /// As [`Self::fetch`], but past any cache the source keeps itself: a
    /// forced refresh. Sources without one need not override it.
    fn fetch_fresh(
        &self,
        request: &Self::Request,
    ) -> impl Future<Output = Result<(TokenGrant, Self::Meta), Error>> {
        self.fetch(request)
    }

    /// As [`Self::fetch_fresh`], for a caller who was told `bad` is refused:
    /// a source shared between processes (the Worker's coordinator) passes
    /// `bad` on, so that the one fetching for all replaces exactly that
    /// token rather than serving it again as freshly fetched.
    fn fetch_replacing(
        &self,
        request: &Self::Request,
        _bad: &AccessToken,
    ) -> impl Future<Output = Result<(TokenGrant, Self::Meta), Error>> {
        self.fetch_fresh(request)
    }

    /// How a call waits for a fetch that another call started.
    fn join_wait(&self) -> JoinWait {
        JoinWait::Wake
    }

    /// A timer, for [`JoinWait::Poll`].
    fn sleep(&self, _ms: u32) -> impl Future<Output = ()> {
        core::future::ready(())
    }
}

/// How a call waits for a fetch that another call started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinWait {
    /// The fetching call wakes it when it ends.
    Wake,
    /// It checks every `every_ms` on its own timer, giving up (TIMEOUT) after
    /// `at_most_ms`. For hosts where one request may not resume another:
    /// workerd cancels a request that waits on nothing of its own as hung,
    /// and drops a wake-up coming from another request's context.
    Poll { every_ms: u32, at_most_ms: u32 },
}

/// One upstream round trip, no cache: build, send, parse.
pub async fn fetch_tenant_token<T: Transport, C: Clock>(
    transport: &T,
    clock: &C,
    base_url: &BaseUrl,
    request: &TokenRequest,
) -> Result<TokenGrant, Error> {
    let http = build_tenant_token_request(base_url, request);
    let sent_at_ms = clock.now_ms();
    let secret = request.app_access_token.expose_secret();
    let response = send(transport, http)
        .await
        .map_err(|e| e.scrubbed(secret))?;
    let reply = transport.read_json(&response.body);
    parse_tenant_token_reply(&response, reply, sent_at_ms).map_err(|e| e.scrubbed(secret))
}

/// One token round trip for the endpoints whose body carries a secret:
/// send, read the answer with the transport's JSON reader, parse the token
/// in `member`; `scrub` takes the request's secrets out of any error.
pub(crate) async fn token_round_trip<T: Transport, C: Clock>(
    transport: &T,
    clock: &C,
    http: crate::transport::HttpRequest,
    member: &crate::wire::TokenMember,
    scrub: impl Fn(Error) -> Error,
) -> Result<TokenGrant, Error> {
    let sent_at_ms = clock.now_ms();
    let response = send(transport, http).await.map_err(&scrub)?;
    let reply = transport.read_json(&response.body);
    crate::wire::parse_token_reply(&response, reply, sent_at_ms, member).map_err(scrub)
}

/// Sends one request; a transport failure becomes the crate's error.
pub(crate) async fn send<T: Transport>(
    transport: &T,
    http: crate::transport::HttpRequest,
) -> Result<crate::transport::HttpResponse, Error> {
    transport.send(http).await.map_err(failure)
}

/// A transport failure as the crate's error.
pub(crate) fn failure(e: TransportError) -> Error {
    match e {
        TransportError::Timeout { after_ms } => Error::timeout(after_ms),
        TransportError::Network(detail) => Error::network(&detail),
    }
}

/// Runs `attempt` until it succeeds or the policy says stop: the one retry
/// loop of the crate.
pub(crate) async fn retrying<T, C, R, F>(
    transport: &T,
    clock: &C,
    policy: RetryPolicy,
    mut attempt: impl FnMut() -> F,
) -> Result<R, Error>
where
    T: Transport,
    C: Clock,
    F: Future<Output = Result<R, Error>>,
{
    let started = clock.now_ms();
    let mut retries = 0;
    loop {
        let error = match attempt().await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        let elapsed = clock.now_ms().saturating_sub(started);
        match policy.next_delay(&error, retries, elapsed, transport.random()) {
            Some(wait) => {
                transport.sleep(wait).await;
                retries += 1;
            }
            None => return Err(error),
        }
    }
}

/// Feishu itself (or a proxy / sandbox at `base_url`), over a transport,
/// retrying as its [`RetryPolicy`] says.
pub struct Upstream<T, C> {
    transport: T,
    clock: C,
    base_url: BaseUrl,
    retry: RetryPolicy,
}

impl<T: Transport, C: Clock> Upstream<T, C> {
    pub fn new(transport: T, clock: C, base_url: BaseUrl) -> Self {
        Self {
            transport,
            clock,
            base_url,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }
}

impl<T: Transport, C: Clock> Source for Upstream<T, C> {
    type Request = TokenRequest;
    type Meta = ();

    async fn fetch(&self, request: &TokenRequest) -> Result<(TokenGrant, ()), Error> {
        retrying(&self.transport, &self.clock, self.retry, || {
            fetch_tenant_token(&self.transport, &self.clock, &self.base_url, request)
        })
        .await
        .map(|grant| (grant, ()))
    }
}
