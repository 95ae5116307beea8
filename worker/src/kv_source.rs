//! The source behind the isolate's memory: Workers KV, then Feishu. KV trouble
//! (a failed read, a refused write) never fails a request; it is logged and
//! the request goes on as if the entry were absent.

use feishu_tenant_token::js::JsClock;
use feishu_tenant_token::{Clock, Error, Freshness, JoinWait, RetryPolicy, Source, TokenGrant, kv};
use std::time::Duration;
use worker::{Delay, KvStore, console_warn};

/// How often a request that joined another's fetch checks for the result.
/// workerd cancels a request that waits on nothing of its own, and will not
/// let one request resume another, so joiners poll on their own timers.
const JOIN_POLL_MS: u32 = 10;

/// A joiner waits this much longer than the longest upstream fetch before
/// giving up: the fetching request may take a KV read and write besides.
const JOIN_SLACK_MS: u32 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Kv,
    Upstream,
    /// KV's token, past the freshness window, served because Feishu failed.
    StaleKv,
}

/// What one fetch did, for the `x-cache` and `server-timing` headers.
#[derive(Clone, Copy, Debug)]
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

/// Names the KV entry of a request.
pub type KeyOf<R> = Box<dyn Fn(&R) -> String>;

/// KV in front of an upstream source `S`; `key` names an entry's KV key
/// (the formats are in the core's `kv` module).
pub struct KvThenUpstream<S: Source> {
    kv: KvStore,
    upstream: S,
    key: KeyOf<S::Request>,
    freshness: Freshness,
    join_at_most_ms: u32,
}

impl<S: Source<Meta = ()>> KvThenUpstream<S> {
    /// `longest_fetch_ms`: how long `upstream` may take for one fetch.
    pub fn new(
        kv: KvStore,
        upstream: S,
        key: KeyOf<S::Request>,
        freshness: Freshness,
        longest_fetch_ms: u64,
    ) -> Self {
        let longest = longest_fetch_ms.saturating_add(u64::from(JOIN_SLACK_MS));
        Self {
            kv,
            upstream,
            key,
            freshness,
            join_at_most_ms: u32::try_from(longest).unwrap_or(u32::MAX),
        }
    }

    async fn read(&self, key: &str) -> Option<TokenGrant> {
        match self.kv.get(key).text().await {
            Ok(text) => text.as_deref().and_then(kv::decode_value),
            Err(e) => {
                console_warn!(
                    "{{\"event\":\"kv_get_failed\",\"error\":{:?}}}",
                    e.to_string()
                );
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
        let now = JsClock.now_ms();
        let write_ms = self.write(key, &grant, now).await;
        let trace = Trace {
            layer: Layer::Upstream,
            kv_ms: kv_read_ms + write_ms,
            upstream_ms: Some(now.saturating_sub(asked_at)),
        };
        (grant, trace)
    }

    async fn write(&self, key: &str, grant: &TokenGrant, now_ms: u64) -> u64 {
        let Some(ttl) = kv::expiration_ttl(grant, now_ms, self.freshness) else {
            return 0;
        };
        let started = JsClock.now_ms();
        let put = match self.kv.put(key, kv::encode_value(grant)) {
            Ok(builder) => builder.expiration_ttl(ttl).execute().await,
            Err(e) => Err(e),
        };
        if let Err(e) = put {
            console_warn!(
                "{{\"event\":\"kv_put_failed\",\"error\":{:?}}}",
                e.to_string()
            );
        }
        JsClock.now_ms().saturating_sub(started)
    }
}

impl<S: Source<Meta = ()>> Source for KvThenUpstream<S> {
    type Request = S::Request;
    type Meta = Trace;

    /// A forced refresh: no KV read, and on failure the KV entry is deleted,
    /// since the caller reported the token as bad.
    async fn fetch_fresh(&self, request: &S::Request) -> Result<(TokenGrant, Trace), Error> {
        let key = (self.key)(request);
        let t0 = JsClock.now_ms();
        match self.upstream.fetch(request).await {
            Ok((grant, ())) => Ok(self.store_fetched(&key, grant, t0, 0).await),
            Err(e) => {
                if let Err(kv_error) = self.kv.delete(&key).await {
                    console_warn!(
                        "{{\"event\":\"kv_delete_failed\",\"error\":{:?}}}",
                        kv_error.to_string()
                    );
                }
                Err(e)
            }
        }
    }

    fn join_wait(&self) -> JoinWait {
        JoinWait::Poll {
            every_ms: JOIN_POLL_MS,
            at_most_ms: self.join_at_most_ms,
        }
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(u64::from(ms))).await;
    }

    async fn fetch(&self, request: &S::Request) -> Result<(TokenGrant, Trace), Error> {
        let key = (self.key)(request);
        let t0 = JsClock.now_ms();
        let stored = self.read(&key).await;
        let t1 = JsClock.now_ms();
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
            return Ok((grant.clone(), trace));
        }
        let (grant, ()) = match self.upstream.fetch(request).await {
            Ok(fetched) => fetched,
            Err(e) => {
                // Stale-if-error, by the same rule as the memory layer's.
                let now = JsClock.now_ms();
                return match stored.filter(|g| self.freshness.is_stale_servable(g, now)) {
                    Some(stale) => Ok((
                        stale,
                        Trace {
                            layer: Layer::StaleKv,
                            kv_ms: t1 - t0,
                            upstream_ms: Some(now.saturating_sub(t1)),
                        },
                    )),
                    None => Err(e),
                };
            }
        };
        Ok(self.store_fetched(&key, grant, t1, t1 - t0).await)
    }
}
