//! The source behind the isolate's memory: Workers KV, then Feishu. KV trouble
//! (a failed read, a refused write) never fails a request; it is logged and
//! the request goes on as if the entry were absent.
//!
//! Written over [`KvHost`] and an injected [`Clock`], so its rules
//! (stale-if-error from KV, the forced-refresh delete, TTL clamping) are
//! tested natively; `kv_store.rs` binds the trait to Workers KV. Key formats
//! and the stored value are the core's (`feishu_tenant_token::kv`).

use core::future::Future;
use core::pin::Pin;
use feishu_tenant_token::kv::{self, KV_MIN_EXPIRATION_TTL_SECS};
use feishu_tenant_token::secret::AppTicket;
use feishu_tenant_token::store_app::TicketStore;
use feishu_tenant_token::{
    Clock, Error, Freshness, JoinWait, RetryPolicy, Source, TenantAccessToken, TokenGrant,
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
    /// The names of the keys starting with `prefix` (one page, enough for
    /// the few entries of one token's reverse index).
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, String>>;
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

/// The Durable Object coordinator, as the KV layer sees it: given a KV miss's
/// key and request, the token the one object owning the key found or fetched
/// (and stored in KV) for every isolate; `None` when it could not be asked or
/// failed (reported by the implementation), and the layer then fetches by
/// itself, as without a coordinator.
pub type Ask<R> = Box<dyn Fn(&str, &R, Want) -> Asked>;

/// What the coordinator is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A servable token: the object's own, or one it fetches.
    Servable,
    /// A forced refresh (the caller was told the token is bad): the object
    /// replaces its own copy, else it would hand the refused token to the
    /// next isolate that misses KV. Its refreshes are throttled like any
    /// client's, so fronts refreshing one token together make one fetch.
    Fresh,
}

/// What the coordinator answers, `'static` (it owns what it sends).
pub type Asked = Pin<Box<dyn Future<Output = Option<Result<TokenGrant, Error>>>>>;

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

    /// Stores `grant` until the freshness rule stops serving it (never less
    /// than KV's minimum TTL), with its reverse-index entry (token digest and
    /// `key`, same TTL) so that a refusal of the token can find it; a token
    /// not servable now is not stored.
    async fn write(&self, key: &str, grant: &TokenGrant, now_ms: u64) -> u64 {
        let Some(ttl) = kv::expiration_ttl(grant, now_ms, self.freshness) else {
            return 0;
        };
        let started = self.clock.now_ms();
        let reference = kv::token_ref_key(&grant.token, key);
        let value = kv::encode_value(grant);
        let (stored, indexed) = futures_util::join!(
            self.kv.put(key, &value, Some(ttl)),
            self.kv.put(&reference, "", Some(ttl)),
        );
        if let Err(e) = stored.and(indexed) {
            self.kv.warn("kv_put_failed", &e);
        }
        self.clock.now_ms().saturating_sub(started)
    }
}

impl<S: Source<Meta = ()>, H: KvHost, C: Clock> Source for KvThenUpstream<S, H, C> {
    type Request = S::Request;
    type Meta = Trace;

    /// A forced refresh: no KV read, and on failure the KV entry is deleted,
    /// since the caller reported the token as bad.
    async fn fetch_fresh(&self, request: &S::Request) -> Result<(TokenGrant, Trace), Error> {
        let key = (self.key)(request);
        let t0 = self.clock.now_ms();
        let fetched = match &self.coordinator {
            Some(ask) => ask(&key, request, Want::Fresh).await,
            None => None,
        };
        let failed = match fetched {
            Some(Ok(grant)) => return Ok(self.coordinated(grant, t0, t0)),
            Some(Err(e)) => e,
            None => match self.upstream.fetch(request).await {
                Ok((grant, ())) => return Ok(self.store_fetched(&key, grant, t0, 0).await),
                Err(e) => e,
            },
        };
        if let Err(kv_error) = self.kv.delete(&key).await {
            self.kv.warn("kv_delete_failed", &kv_error);
        }
        Err(failed)
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

/// What [`evict_refused`] did, entry by entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eviction {
    /// Entries that held exactly this token: deleted.
    pub evicted: usize,
    /// Entries that hold another token by now (a newer one): kept.
    pub replaced: usize,
    /// KV failed (logged); for those entries nothing was deleted.
    pub failed: bool,
}

/// Compare-and-delete in KV of a token Feishu refused (99991663/99991665):
/// the reverse index names every entry the token was stored under; each is
/// deleted only while it still holds exactly `token`, so a late refusal of
/// an old token never evicts its replacement. KV has no atomic
/// compare-and-delete: a replacement written between this read and the
/// delete would be lost, costing one extra fetch from Feishu (which hands
/// out the same new token again), never a bad token.
pub async fn evict_refused<H: KvHost>(kv: &H, token: &TenantAccessToken) -> Eviction {
    let mut done = Eviction::default();
    let prefix = kv::token_ref_prefix(token);
    let references = match kv.list(&prefix).await {
        Ok(r) => r,
        Err(e) => {
            kv.warn("kv_list_failed", &e);
            done.failed = true;
            return done;
        }
    };
    for reference in references {
        let Some(key) = reference.strip_prefix(&prefix) else {
            continue;
        };
        if kv::is_token_key(key) {
            match kv
                .get(key)
                .await
                .map(|t| t.as_deref().and_then(kv::decode_value))
            {
                Ok(Some(g)) if g.token == *token => match kv.delete(key).await {
                    Ok(()) => done.evicted += 1,
                    Err(e) => {
                        kv.warn("kv_delete_failed", &e);
                        done.failed = true;
                        continue;
                    }
                },
                Ok(Some(_)) => done.replaced += 1,
                Ok(None) => {}
                Err(e) => {
                    kv.warn("kv_get_failed", &e);
                    done.failed = true;
                    continue;
                }
            }
        }
        // The index entry served its one purpose (a forged one is dropped too).
        if let Err(e) = kv.delete(&reference).await {
            kv.warn("kv_delete_failed", &e);
        }
    }
    done
}

/// A managed app's ticket in KV. A failed read counts as "no ticket" (the
/// chain then asks Feishu for a resend); the resend marker spans every isolate.
pub struct KvTickets<H> {
    pub kv: H,
    pub app_id: String,
}

impl<H: KvHost> TicketStore for KvTickets<H> {
    async fn get(&self) -> Result<Option<AppTicket>, String> {
        let text = self.kv.get(&kv::ticket_key(&self.app_id)).await?;
        Ok(text.filter(|t| !t.is_empty()).map(AppTicket::new))
    }

    async fn put(&self, ticket: &AppTicket) -> Result<(), String> {
        let key = kv::ticket_key(&self.app_id);
        self.kv.put(&key, ticket.expose_secret(), None).await
    }

    async fn delete(&self) -> Result<(), String> {
        self.kv.delete(&kv::ticket_key(&self.app_id)).await
    }

    async fn claim_resend(&self, _now_ms: u64) -> bool {
        let key = kv::resend_marker_key(&self.app_id);
        if let Ok(Some(_)) = self.kv.get(&key).await {
            return false;
        }
        // KV's shortest TTL (60 s) is also the once-a-minute resend limit.
        let _ = self
            .kv
            .put(&key, "1", Some(KV_MIN_EXPIRATION_TTL_SECS))
            .await;
        true
    }
}

impl<H: KvHost> KvTickets<H> {
    /// Gives back a claim whose resend was never sent (Feishu unreachable),
    /// so the next caller may try at once.
    pub async fn release_resend(&self) {
        if let Err(why) = self.kv.delete(&kv::resend_marker_key(&self.app_id)).await {
            self.kv.warn("kv_delete_failed", &why);
        }
    }
}

#[cfg(test)]
mod tests;
