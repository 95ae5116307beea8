//! The source behind the isolate's memory: Workers KV, then Feishu. KV trouble
//! (a failed read, a refused write) never fails a request; it is logged and
//! the request goes on as if the entry were absent.
//!
//! Written over [`KvHost`] and an injected [`Clock`], so its rules
//! (stale-if-error from KV, the forced-refresh delete, TTL clamping) are
//! tested natively; `workers_kv.rs` binds the trait to Workers KV. Key
//! formats and the stored value are the core's (`feishu_tenant_token::kv`).
//! A KV miss asks the coordinator first when one is bound (`coordinator::Ask`).

use crate::cache::ask::{Ask, Want};
use core::future::Future;
use feishu_tenant_token::kv;
use feishu_tenant_token::{
    AccessToken, Clock, Error, Freshness, JoinWait, RetryPolicy, Source, TokenGrant,
};

/// How often a request that joined another's fetch checks for the result.
/// workerd cancels a request that waits on nothing of its own, and will not
/// let one request resume another, so joiners poll on their own timers.
const JOIN_POLL_MS: u32 = 10;

/// A joiner waits this much longer than the longest upstream fetch before
/// giving up: the fetching request may take a KV read and write besides.
const JOIN_SLACK_MS: u32 = 5_000;

/// What the KV layer needs from its host: the namespace, a timer, a log.
/// Errors are text that never holds a stored value.
pub trait KvHost {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<String>, String>>;
    /// `ttl_secs`: Workers KV's `expiration_ttl` (at least
    /// [`KV_MIN_EXPIRATION_TTL_SECS`]); `None` keeps the entry until replaced.
    fn put(
        &self,
        key: &str,
        value: &str,
        ttl_secs: Option<u64>,
    ) -> impl Future<Output = Result<(), String>>;
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), String>>;
    fn sleep(&self, ms: u32) -> impl Future<Output = ()>;
    /// One JSON warning line: `event` names what failed.
    fn warn(&self, event: &'static str, error: &str);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Kv,
    Upstream,
    /// Fetched (or found) by the Durable Object coordinator that owns the key.
    Coordinator,
    /// KV's token, past the freshness window, served because Feishu failed.
    StaleKv,
}

/// What one fetch did, for the `x-cache` and `server-timing` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trace {
    pub layer: Layer,
    pub kv_ms: u64,
    pub upstream_ms: Option<u64>,
}

/// The longest one upstream round trip with its retries can take: every
/// attempt timing out, plus the waits between attempts (bounded by the
/// retry deadline).
pub fn longest_fetch_ms(retry: RetryPolicy, timeout_ms: u32) -> u64 {
    let attempts = u64::from(retry.max_retries) + 1;
    u64::from(timeout_ms)
        .saturating_mul(attempts)
        .saturating_add(retry.deadline_ms)
}

/// With a coordinator, a KV token is confirmed with it during this last
/// stretch of its freshness window (see `fetch`): longer than the memory's
/// revalidation interval (60 s by default) so every isolate using the key
/// asks at least once, short enough to cost few questions: one per isolate
/// per revalidation interval during this stretch (ten at the defaults).
pub const COORDINATOR_NOTICE_MS: u64 = 10 * 60 * 1000;

/// Names the KV entry of a request.
pub type KeyOf<R> = Box<dyn Fn(&R) -> String>;

/// KV in front of an upstream source `S`.
pub struct KvThenUpstream<S: Source, H, C> {
    kv: H,
    upstream: S,
    key: KeyOf<S::Request>,
    freshness: Freshness,
    clock: C,
    join_at_most_ms: u32,
    coordinator: Option<Ask<S::Request>>,
}

impl<S: Source<Meta = ()>, H: KvHost, C: Clock> KvThenUpstream<S, H, C> {
    /// `longest_fetch_ms`: how long `upstream` may take for one fetch.
    pub fn new(
        kv: H,
        upstream: S,
        key: KeyOf<S::Request>,
        freshness: Freshness,
        clock: C,
        longest_fetch_ms: u64,
    ) -> Self {
        let longest = longest_fetch_ms.saturating_add(u64::from(JOIN_SLACK_MS));
        Self {
            kv,
            upstream,
            key,
            freshness,
            clock,
            join_at_most_ms: u32::try_from(longest).unwrap_or(u32::MAX),
            coordinator: None,
        }
    }

    /// A miss in KV asks `coordinator` before Feishu.
    pub fn coordinated_by(mut self, coordinator: Option<Ask<S::Request>>) -> Self {
        self.coordinator = coordinator;
        self
    }

    async fn read(&self, key: &str) -> Option<TokenGrant> {
        match self.kv.get(key).await {
            Ok(text) => text.as_deref().and_then(kv::decode_value),
            Err(e) => {
                self.kv.warn("kv_get_failed", &e);
                None
            }
        }
    }

    /// A token fresh from Feishu (asked at `asked_at`, after `kv_read_ms` of
    /// KV reads): stored in KV, with the trace of how it was got.
    async fn store_fetched(
        &self,
        key: &str,
        grant: TokenGrant,
        asked_at: u64,
        kv_read_ms: u64,
    ) -> (TokenGrant, Trace) {
        let now = self.clock.now_ms();
        let write_ms = self.write(key, &grant, now).await;
        let trace = Trace {
            layer: Layer::Upstream,
            kv_ms: kv_read_ms + write_ms,
            upstream_ms: Some(now.saturating_sub(asked_at)),
        };
        (grant, trace)
    }

    /// A forced refresh (`want` says what for): the coordinator when bound,
    /// else Feishu.
    async fn forced(&self, request: &S::Request, want: Want) -> Result<(TokenGrant, Trace), Error> {
        let key = (self.key)(request);
        let t0 = self.clock.now_ms();
        let fetched = match &self.coordinator {
            Some(ask) => ask(&key, request, want).await,
            None => None,
        };
        match fetched {
            Some(Ok(grant)) => Ok(self.coordinated(grant, t0, t0)),
            Some(Err(e)) => Err(e),
            None => {
                let (grant, ()) = self.upstream.fetch(request).await?;
                Ok(self.store_fetched(&key, grant, t0, 0).await)
            }
        }
    }

    /// Stores `grant` until the freshness rule stops serving it (never less
    /// than KV's minimum TTL), with its reverse-index entry (the token's
    /// digest naming `key`, until the token's own expiry) so that a refusal
    /// of the token, by a client still holding it, finds its key and the
    /// token that replaced it; a token not servable now is not stored.
    async fn write(&self, key: &str, grant: &TokenGrant, now_ms: u64) -> u64 {
        let Some(ttl) = kv::expiration_ttl(grant, now_ms, self.freshness) else {
            return 0;
        };
        let started = self.clock.now_ms();
        let value = kv::encode_value(grant);
        let reference = kv::token_ref_key(&grant.token);
        let index = async {
            // Unreadable: written anew with this key alone (another key it
            // named may then keep a refused token until that token's expiry).
            let named = self.kv.get(&reference).await.ok().flatten();
            match kv::ref_value_with(named.as_deref(), key, grant.expires_at_ms) {
                Some(v) => {
                    let ref_ttl = kv::ref_ttl_secs(grant, now_ms);
                    self.kv.put(&reference, &v, Some(ref_ttl)).await
                }
                None => Ok(()),
            }
        };
        let (stored, indexed) = futures_util::join!(self.kv.put(key, &value, Some(ttl)), index);
        if let Err(e) = stored.and(indexed) {
            self.kv.warn("kv_put_failed", &e);
        }
        self.clock.now_ms().saturating_sub(started)
    }
}

impl<S: Source<Meta = ()>, H: KvHost, C: Clock> Source for KvThenUpstream<S, H, C> {
    type Request = S::Request;
    type Meta = Trace;

    /// A forced refresh: no KV read; KV's entry is replaced only once Feishu
    /// accepted the caller's credentials, and nothing is deleted before (a
    /// caller with made-up credentials must not cost a KV delete).
    async fn fetch_fresh(&self, request: &S::Request) -> Result<(TokenGrant, Trace), Error> {
        self.forced(request, Want::Fresh).await
    }

    /// As `fetch_fresh`, telling the coordinator which token is refused.
    async fn fetch_replacing(
        &self,
        request: &S::Request,
        bad: &AccessToken,
    ) -> Result<(TokenGrant, Trace), Error> {
        self.forced(request, Want::Replacing(kv::token_digest(bad)))
            .await
    }

    fn join_wait(&self) -> JoinWait {
        JoinWait::Poll {
            every_ms: JOIN_POLL_MS,
            at_most_ms: self.join_at_most_ms,
        }
    }

    async fn sleep(&self, ms: u32) {
        self.kv.sleep(ms).await;
    }

    async fn fetch(&self, request: &S::Request) -> Result<(TokenGrant, Trace), Error> {
        let key = (self.key)(request);
        let t0 = self.clock.now_ms();
        let stored = self.read(&key).await;
        let t1 = self.clock.now_ms();
        // Whatever KV returns, the freshness rule decides.
        if let Some(grant) = stored
            .as_ref()
            .filter(|g| self.freshness.is_servable(g, t1))
        {
            let trace = Trace {
                layer: Layer::Kv,
                kv_ms: t1 - t0,
                upstream_ms: None,
            };
            // A token in its last minutes of service is confirmed with the
            // coordinator: the object sees no hits, only questions, and this
            // is how it learns that the key is still in use and has its
            // alarm renew it. Whatever the object says but a token, KV's
            // (still servable) token is the answer.
            let left = grant.expires_at_ms.saturating_sub(t1);
            let ending = left < self.freshness.min_validity_secs() * 1000 + COORDINATOR_NOTICE_MS;
            if let (true, Some(ask)) = (ending, &self.coordinator)
                && let Some(Ok(confirmed)) = ask(&key, request, Want::Servable).await
            {
                return Ok(self.coordinated(confirmed, t0, t1));
            }
            return Ok((grant.clone(), trace));
        }
        // The coordinator, when there is one and it answers, stored the
        // token in KV itself.
        if let Some(ask) = &self.coordinator
            && let Some(answer) = ask(&key, request, Want::Servable).await
        {
            return match answer {
                Ok(grant) => Ok(self.coordinated(grant, t0, t1)),
                Err(e) => self.stale_or(stored, e, t0, t1),
            };
        }
        match self.upstream.fetch(request).await {
            Ok((grant, ())) => Ok(self.store_fetched(&key, grant, t1, t1 - t0).await),
            Err(e) => self.stale_or(stored, e, t0, t1),
        }
    }
}

impl<S: Source<Meta = ()>, H: KvHost, C: Clock> KvThenUpstream<S, H, C> {
    /// The coordinator's token (it stored it in KV), KV read from `t0` to
    /// `t1`, the object asked at `t1`.
    fn coordinated(&self, grant: TokenGrant, t0: u64, t1: u64) -> (TokenGrant, Trace) {
        let trace = Trace {
            layer: Layer::Coordinator,
            kv_ms: t1 - t0,
            upstream_ms: Some(self.clock.now_ms().saturating_sub(t1)),
        };
        (grant, trace)
    }

    /// Stale-if-error, by the same rule as the memory layer's: KV's token
    /// past the freshness window while it has more than a minute left, else `e`.
    fn stale_or(
        &self,
        stored: Option<TokenGrant>,
        e: Error,
        t0: u64,
        t1: u64,
    ) -> Result<(TokenGrant, Trace), Error> {
        let now = self.clock.now_ms();
        match stored.filter(|g| self.freshness.is_stale_servable(g, now)) {
            Some(stale) => Ok((
                stale,
                Trace {
                    layer: Layer::StaleKv,
                    kv_ms: t1 - t0,
                    upstream_ms: Some(now.saturating_sub(t1)),
                },
            )),
            None => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
