//! Where the client gets a token when its memory has none: a [`Source`].
//!
//! The npm module fetches straight from Feishu ([`Upstream`]); the Worker
//! puts Workers KV in front of that. Either way the client's memory cache and
//! single-flight sit above, so a source is asked at most once per key at a time.

use crate::error::Error;
use crate::freshness::{Clock, TokenGrant};
use crate::retry::RetryPolicy;
use crate::transport::{Transport, TransportError};
use crate::validate::{BaseUrl, TokenRequest};
use crate::wire::{build_tenant_token_request, parse_tenant_token_response};
use core::future::Future;

pub trait Source {
    /// What a fetch reports besides the grant (which layer answered, timings),
    /// passed to every caller that shared the fetch.
    type Meta: Clone;

    fn fetch(
        &self,
        request: &TokenRequest,
    ) -> impl Future<Output = Result<(TokenGrant, Self::Meta), Error>>;

    /// As [`Self::fetch`], but past any cache the source keeps itself: a
    /// forced refresh. Sources without one need not override it.
    fn fetch_fresh(
        &self,
        request: &TokenRequest,
    ) -> impl Future<Output = Result<(TokenGrant, Self::Meta), Error>> {
        self.fetch(request)
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
    match transport.post_json(http).await {
        Ok(response) => {
            parse_tenant_token_response(&response, sent_at_ms).map_err(|e| e.scrubbed(secret))
        }
        Err(TransportError::Timeout { after_ms }) => Err(Error::timeout(after_ms)),
        Err(TransportError::Network(detail)) => Err(Error::network(&detail).scrubbed(secret)),
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

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }
}

impl<T: Transport, C: Clock> Source for Upstream<T, C> {
    type Meta = ();

    async fn fetch(&self, request: &TokenRequest) -> Result<(TokenGrant, ()), Error> {
        let started = self.clock.now_ms();
        let mut retries = 0;
        loop {
            let error =
                match fetch_tenant_token(&self.transport, &self.clock, &self.base_url, request)
                    .await
                {
                    Ok(grant) => return Ok((grant, ())),
                    Err(e) => e,
                };
            let elapsed = self.clock.now_ms().saturating_sub(started);
            let random = self.transport.random();
            match self.retry.next_delay(&error, retries, elapsed, random) {
                Some(wait) => {
                    self.transport.sleep(wait).await;
                    retries += 1;
                }
                None => return Err(error),
            }
        }
    }
}
