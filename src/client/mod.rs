//! The token client: an in-memory cache with single-flight over a [`Source`].
//!
//! `get` serves a cached token while the freshness rule allows; otherwise it
//! joins the fetch already under way for the same key, or starts one. Errors
//! are shared with every waiter but never cached.

use crate::cache_key::CacheKey;
use crate::error::Error;
use crate::fast_path::KeyHashing;
use crate::freshness::{Clock, Freshness, TokenGrant};
use crate::secret::AccessToken;
use crate::source::{JoinWait, Keyed, Source};
use core::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

pub(crate) mod single_flight;
use single_flight::{Flight, Wait};

/// Counters, all since the client was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `get`s answered from the cache.
    pub hits: u64,
    /// `get`s that found no servable token (each one either fetched or waited).
    pub misses: u64,
    /// Requests actually sent upstream.
    pub upstream_calls: u64,
    /// Misses that waited for a fetch another `get` had started.
    pub coalesced_waits: u64,
    /// Answers that were a cached token past its freshness window, served
    /// because the fetch to replace it failed (stale-if-error).
    pub stale_served: u64,
}

/// How a `get` was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served<M> {
    /// From the client's memory.
    Memory,
    /// By a fetch from the source that this call started.
    Fetched(M),
    /// By a fetch from the source that another call had started.
    Joined(M),
    /// By a cached token past its freshness window (but with more than
    /// [`STALE_MIN_SECS`](crate::freshness::STALE_MIN_SECS) left), because the
    /// fetch to replace it failed.
    Stale,
}

/// What a fetch hands to every caller that shared it: the token and the
/// source's report, or `None` for a stale token served after a failure.
type SharedResult<M> = Result<(TokenGrant, Option<M>), Error>;

/// A forced refresh (see [`TokenClient::refresh_served`]) of a key whose
/// token was fetched less than this long ago is served from the cache
/// instead: forced refreshes go to Feishu, and callers must not be able to
/// turn them into a flood (at most one per key per 10 s per client).
pub const FORCED_REFRESH_MIN_INTERVAL_MS: u64 = 10_000;

enum Slot<M> {
    /// A token (servable or not yet swept), and when it was fetched.
    Cached(TokenGrant, u64),
    /// A fetch under way (joiners wait on it), and the token it replaces
    /// with its fetch time, kept for stale-if-error.
    Fetching(Rc<Flight<SharedResult<M>>>, Option<(TokenGrant, u64)>),
}

impl<M> Slot<M> {
    fn cached(&self) -> Option<&TokenGrant> {
        match self {
            Slot::Cached(g, _) => Some(g),
            Slot::Fetching(..) => None,
        }
    }
}

enum Lookup<M> {
    Hit(TokenGrant),
    Join(Wait<SharedResult<M>>),
    /// This call fetches; the epoch is the one its result must still match;
    /// `true` for a forced refresh.
    Lead(Rc<Flight<SharedResult<M>>>, u64, bool),
}

struct State<M> {
    /// One map for both states of a key: a single map keeps the `.wasm`
    /// smaller than two, and a key is never both cached and being fetched.
    slots: HashMap<CacheKey, Slot<M>, KeyHashing>,
    stats: Stats,
    /// Bumped by `invalidate`, so a fetch that started before an invalidation
    /// does not put its (possibly bad) token back into the cache.
    epoch: u64,
    /// Cache size at which the next sweep of unservable entries runs.
    sweep_at: usize,
    /// Most cached tokens kept (see [`TokenClient::capped_at`]).
    max_entries: usize,
}

/// Smallest cache size that triggers a sweep; sweeps then run each time the
/// cache doubles, keeping the amortised cost per insert constant.
const MIN_SWEEP_AT: usize = 64;

pub struct TokenClient<S: Source, C> {
    source: S,
    clock: C,
    freshness: Freshness,
    /// See [`TokenClient::revalidating_after`].
    revalidate_after_ms: Option<u64>,
    state: RefCell<State<S::Meta>>,
}

impl<S: Source, C: Clock> TokenClient<S, C> {
    pub fn new(source: S, clock: C, freshness: Freshness) -> Self {
        Self {
            source,
            clock,
            freshness,
            revalidate_after_ms: None,
            state: RefCell::new(State {
                slots: HashMap::default(),
                stats: Stats::default(),
                epoch: 0,
                sweep_at: MIN_SWEEP_AT,
                max_entries: usize::MAX,
            }),
        }
    }

    /// A cached token fetched (or last confirmed) more than `ms` ago is
    /// asked of the source again before it is served, as on a miss (its
    /// stale fallback kept). For a source with a shared layer (the Worker's
    /// KV) that is one read per key per `ms`, and it is how a token another
    /// isolate evicted from KV (Feishu refused it) leaves this one's memory.
    pub fn revalidating_after(mut self, ms: u64) -> Self {
        self.revalidate_after_ms = Some(ms);
        self
    }

    /// Keeps at most `n` cached tokens (at least 1): past that, the token
    /// fetched or last confirmed longest ago goes first. With
    /// [`Self::revalidating_after`] every key in use is confirmed once per
    /// interval, so this is least-recently-used at that granularity. For
    /// hosts whose memory a traffic pattern must not grow without bound.
    pub fn capped_at(self, n: usize) -> Self {
        self.state.borrow_mut().max_entries = n.max(1);
        self
    }

    /// Whether a token cached at `at` may still be served without asking the source.
    fn trusted(&self, at: u64, now: u64) -> bool {
        self.revalidate_after_ms
            .is_none_or(|ms| now.saturating_sub(at) < ms)
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// A token for `request` with at least `min_validity` left, or the token of a
    /// fresh fetch (which may have less, if the source handed out one that close
    /// to expiry; it is then not cached).
    pub async fn get(&self, request: &S::Request) -> Result<TokenGrant, Error> {
        self.get_served(request).await.map(|(grant, _)| grant)
    }

    /// As [`Self::get`], also saying how the answer came about.
    pub async fn get_served(
        &self,
        request: &S::Request,
    ) -> Result<(TokenGrant, Served<S::Meta>), Error> {
        self.serve::<false>(request, None).await
    }

    /// A forced refresh, e.g. after an API answered 99991663 "tenant token
    /// invalid": past every cache (the source's too, via
    /// [`Source::fetch_fresh`]), with no stale fallback, and the result
    /// replaces what was cached. Throttled: a token fetched less than
    /// [`FORCED_REFRESH_MIN_INTERVAL_MS`] ago is served as by `get`.
    pub async fn refresh_served(
        &self,
        request: &S::Request,
    ) -> Result<(TokenGrant, Served<S::Meta>), Error> {
        self.serve::<true>(request, None).await
    }

    /// Replaces `bad`, a token the caller got from this client and that
    /// Feishu has since refused (e.g. 99991664 for an app token): fetched
    /// past every cache, unless the cached token is no longer `bad` (another
    /// call replaced it already; that one is served). Not throttled: `bad`
    /// must be a token this client handed out, and each is replaced once.
    pub async fn replace(
        &self,
        request: &S::Request,
        bad: &AccessToken,
    ) -> Result<TokenGrant, Error> {
        self.serve::<true>(request, Some(bad))
            .await
            .map(|(grant, _)| grant)
    }

    /// `FORCE` is a const so that hosts without forced refreshes (the npm
    /// module) do not carry their code.
    async fn serve<const FORCE: bool>(
        &self,
        request: &S::Request,
        bad: Option<&AccessToken>,
    ) -> Result<(TokenGrant, Served<S::Meta>), Error> {
        let key = request.cache_key();
        let (flight, epoch, forced) = match self.lookup(&key, FORCE, bad) {
            Lookup::Hit(grant) => return Ok((grant, Served::Memory)),
            Lookup::Join(wait) => {
                let shared = match self.source.join_wait() {
                    JoinWait::Wake => wait.await,
                    JoinWait::Poll {
                        every_ms,
                        at_most_ms,
                    } => self.poll_join(&wait, every_ms, at_most_ms).await,
                };
                return self.served(shared, Served::Joined);
            }
            Lookup::Lead(flight, epoch, forced) => (flight, epoch, forced),
        };

        let leader = Leader {
            state: &self.state,
            key,
            flight,
        };
        let result = if let (true, Some(bad)) = (forced, bad) {
            self.source.fetch_replacing(request, bad).await
        } else if forced {
            self.source.fetch_fresh(request).await
        } else {
            self.source.fetch(request).await
        };
        let shared = leader.finish(result, epoch, self.freshness, self.clock.now_ms());
        self.served(shared, Served::Fetched)
    }

    fn served(
        &self,
        shared: SharedResult<S::Meta>,
        how: fn(S::Meta) -> Served<S::Meta>,
    ) -> Result<(TokenGrant, Served<S::Meta>), Error> {
        let (grant, meta) = shared?;
        match meta {
            Some(m) => Ok((grant, how(m))),
            None => {
                self.state.borrow_mut().stats.stale_served += 1;
                Ok((grant, Served::Stale))
            }
        }
    }

    async fn poll_join(
        &self,
        wait: &Wait<SharedResult<S::Meta>>,
        every_ms: u32,
        at_most_ms: u32,
    ) -> SharedResult<S::Meta> {
        let mut waited: u32 = 0;
        loop {
            if let Some(result) = wait.ready() {
                return result;
            }
            if waited >= at_most_ms {
                return Err(Error::timeout(u64::from(waited)));
            }
            self.source.sleep(every_ms).await;
            waited = waited.saturating_add(every_ms.max(1));
        }
    }

    /// `f(grant, now_ms)` on the cached token under `key` (a request's
    /// [`Keyed::cache_key`], which the caller may have memoised) if the
    /// freshness rule allows serving it (counted as a hit); `None`, counting
    /// nothing, otherwise. A synchronous fast path for hosts where spawning a
    /// future costs more than the lookup; `f` runs without copying the grant.
    pub fn with_cached<R>(
        &self,
        key: &CacheKey,
        f: impl FnOnce(&TokenGrant, u64) -> R,
    ) -> Option<R> {
        let now = self.clock.now_ms();
        let mut st = self.state.borrow_mut();
        let out = match st.slots.get(key) {
            Some(Slot::Cached(g, at))
                if self.freshness.is_servable(g, now) && self.trusted(*at, now) =>
            {
                f(g, now)
            }
            _ => return None,
        };
        st.stats.hits += 1;
        Some(out)
    }

    /// Decides, under one borrow that ends before any await, whether this `get`
    /// is a hit, joins a fetch under way, or leads a new one.
    fn lookup(&self, key: &CacheKey, force: bool, bad: Option<&AccessToken>) -> Lookup<S::Meta> {
        let mut st = self.state.borrow_mut();
        let now = self.clock.now_ms();
        let force = force
            && match bad {
                // Replacing a refused token: unless it was replaced already.
                Some(bad) => {
                    !matches!(st.slots.get(key), Some(Slot::Cached(g, _)) if g.token != *bad)
                }
                // A forced refresh of a token fetched moments ago is throttled into a plain get.
                None => !matches!(st.slots.get(key), Some(Slot::Cached(_, at))
                    if now.saturating_sub(*at) < FORCED_REFRESH_MIN_INTERVAL_MS),
            };
        match st.slots.get(key) {
            Some(Slot::Cached(g, at))
                if !force && self.freshness.is_servable(g, now) && self.trusted(*at, now) =>
            {
                let g = g.clone();
                st.stats.hits += 1;
                return Lookup::Hit(g);
            }
            Some(Slot::Fetching(f, _)) => {
                let wait = f.wait();
                st.stats.misses += 1;
                st.stats.coalesced_waits += 1;
                return Lookup::Join(wait);
            }
            _ => {}
        }
        st.stats.misses += 1;
        let flight = Flight::new();
        // A forced refresh distrusts the cached token: no stale fallback to it.
        let previous = match st.slots.remove(key) {
            Some(Slot::Cached(g, at)) if !force => Some((g, at)),
            _ => None,
        };
        st.slots
            .insert(key.clone(), Slot::Fetching(Rc::clone(&flight), previous));
        st.stats.upstream_calls += 1;
        Lookup::Lead(flight, st.epoch, force)
    }

    /// Drops every cached token of `tenant_key` (for all apps), for example
    /// after a downstream API said the token is invalid (99991663). Returns how
    /// many entries went.
    pub fn invalidate(&self, tenant_key: &str) -> usize {
        self.drop_cached(|k| k.tenant.as_str() == tenant_key)
    }

    /// Drops the cached token of exactly `request`'s key (a client with one
    /// key, like a self-built app's). Returns how many entries went (0 or 1).
    pub fn invalidate_request(&self, request: &S::Request) -> usize {
        let key = request.cache_key();
        self.drop_cached(|k| *k == key)
    }

    fn drop_cached(&self, hit: impl Fn(&CacheKey) -> bool) -> usize {
        let mut st = self.state.borrow_mut();
        st.epoch += 1;
        let before = st.slots.len();
        // A fetch under way stays: the epoch keeps its result out of the cache.
        st.slots
            .retain(|k, slot| !hit(k) || slot.cached().is_none());
        before - st.slots.len()
    }

    /// Compare-and-invalidate: drops a cached entry only while it holds
    /// exactly `token` (of `tenant_key`, when given), so a late "token
    /// invalid" answer about an old token never evicts its replacement. A
    /// fetch under way keeps going (it brings a new token) but loses `token`
    /// as its stale-if-error fallback. Returns how many entries went.
    pub fn invalidate_token(&self, token: &AccessToken, tenant_key: Option<&str>) -> usize {
        let mut st = self.state.borrow_mut();
        let mut dropped = 0;
        st.slots.retain(|k, slot| {
            if tenant_key.is_some_and(|t| k.tenant.as_str() != t) {
                return true;
            }
            match slot {
                Slot::Cached(g, _) if g.token == *token => {
                    dropped += 1;
                    false
                }
                Slot::Fetching(_, previous) => {
                    if previous.as_ref().is_some_and(|(g, _)| g.token == *token) {
                        *previous = None;
                    }
                    true
                }
                Slot::Cached(..) => true,
            }
        });
        dropped
    }

    pub fn stats(&self) -> Stats {
        self.state.borrow().stats
    }

    /// Tokens currently held (servable or not yet swept).
    pub fn cached_len(&self) -> usize {
        let st = self.state.borrow();
        st.slots.values().filter(|s| s.cached().is_some()).count()
    }
}

/// The `get` that fetches. If its future is dropped before the fetch ends, the
/// waiters are released with an error instead of hanging.
struct Leader<'a, M: Clone> {
    state: &'a RefCell<State<M>>,
    key: CacheKey,
    flight: Rc<Flight<SharedResult<M>>>,
}

impl<M: Clone> Leader<'_, M> {
    /// Settles the key's slot and publishes what every caller gets: the
    /// fetched token (cached if servable), or after a failure the token it was
    /// replacing if that may be served stale, or the error.
    fn finish(
        self,
        result: Result<(TokenGrant, M), Error>,
        epoch: u64,
        freshness: Freshness,
        now: u64,
    ) -> SharedResult<M> {
        let shared = {
            let mut st = self.state.borrow_mut();
            let previous = match st.slots.remove(&self.key) {
                Some(Slot::Fetching(_, previous)) => previous,
                _ => None,
            };
            // An `invalidate` during the fetch bumps the epoch: then neither the
            // new token nor the old one may go (back) into the cache.
            let current = st.epoch == epoch;
            match result {
                Ok((grant, meta)) => {
                    if current && freshness.is_servable(&grant, now) {
                        st.slots
                            .insert(self.key.clone(), Slot::Cached(grant.clone(), now));
                        sweep_if_due(&mut st, freshness, now);
                        evict_if_over_cap(&mut st);
                    }
                    Ok((grant, Some(meta)))
                }
                Err(e) => {
                    match previous.filter(|(g, _)| current && freshness.is_stale_servable(g, now)) {
                        Some((stale, at)) => {
                            st.slots
                                .insert(self.key.clone(), Slot::Cached(stale.clone(), at));
                            Ok((stale, None))
                        }
                        None => Err(e),
                    }
                }
            }
        };
        self.flight.complete(shared.clone());
        shared
    }
}

impl<M: Clone> Drop for Leader<'_, M> {
    fn drop(&mut self) {
        if self.flight.is_complete() {
            return;
        }
        if let Ok(mut st) = self.state.try_borrow_mut() {
            // Put back the token the fetch was replacing, if any.
            if let Some(Slot::Fetching(_, Some((previous, at)))) = st.slots.remove(&self.key) {
                st.slots
                    .insert(self.key.clone(), Slot::Cached(previous, at));
            }
        }
        self.flight.complete(Err(Error::network(
            "the fetch this call was waiting for was cancelled",
        )));
    }
}

fn sweep_if_due<M>(st: &mut State<M>, freshness: Freshness, now: u64) {
    if st.slots.len() < st.sweep_at {
        return;
    }
    st.slots
        .retain(|_, slot| slot.cached().is_none_or(|g| freshness.is_servable(g, now)));
    st.sweep_at = (st.slots.len() * 2).max(MIN_SWEEP_AT);
}

/// Past the cap, drops the cached token fetched or confirmed longest ago
/// (fetches under way are never dropped). One scan per insert past the cap:
/// inserts are rare (each follows a token Feishu issued), hits never scan.
fn evict_if_over_cap<M>(st: &mut State<M>) {
    while st.slots.len() > st.max_entries {
        let oldest = st
            .slots
            .iter()
            .filter_map(|(k, slot)| match slot {
                Slot::Cached(_, at) => Some((*at, k)),
                Slot::Fetching(..) => None,
            })
            .min_by_key(|(at, _)| *at)
            .map(|(_, k)| k.clone());
        match oldest {
            Some(key) => st.slots.remove(&key),
            None => return,
        };
    }
}
