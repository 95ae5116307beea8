//! The KV layer's rules over an in-memory KV and a hand-moved clock.

use super::*;
use crate::cache::ask::Asked;
use crate::cache::evict::{Eviction, evict_refused};
use crate::cache::tickets::KvTickets;
use feishu_tenant_token::kv::KV_MIN_EXPIRATION_TTL_SECS;
use feishu_tenant_token::secret::AppTicket;
use feishu_tenant_token::store_app::TicketStore;
use feishu_tenant_token::{AccessToken, AppAccessToken, CacheKey, Keyed, TenantKey, TokenRequest};
use futures::executor::block_on;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

const T0: u64 = 1_700_000_000_000;

#[derive(Clone)]
struct Clk(Rc<Cell<u64>>);
impl Clock for Clk {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// Workers KV as far as the layer sees it, with switches for its failures.
#[derive(Default)]
struct FakeKv {
    entries: RefCell<HashMap<String, (String, Option<u64>)>>,
    fail_reads: Cell<bool>,
    fail_writes: Cell<bool>,
    warnings: RefCell<Vec<&'static str>>,
    deletes: RefCell<Vec<String>>,
}

impl KvHost for Rc<FakeKv> {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        if self.fail_reads.get() {
            return Err("KV GET failed: 503".into());
        }
        Ok(self.entries.borrow().get(key).map(|(v, _)| v.clone()))
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), String> {
        if self.fail_writes.get() {
            return Err("KV PUT failed: 429".into());
        }
        self.entries
            .borrow_mut()
            .insert(key.to_owned(), (value.to_owned(), ttl));
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), String> {
        self.deletes.borrow_mut().push(key.to_owned());
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
    async fn sleep(&self, _ms: u32) {}
    fn warn(&self, event: &'static str, _error: &str) {
        self.warnings.borrow_mut().push(event);
    }
}

/// Feishu: hands out `t-<n>` living `expire` seconds, or fails.
struct FakeUpstream {
    calls: Cell<u32>,
    expire_secs: Cell<u64>,
    failing: Cell<bool>,
    clock: Clk,
}

impl Source for FakeUpstream {
    type Request = TokenRequest;
    type Meta = ();
    async fn fetch(&self, _r: &TokenRequest) -> Result<(TokenGrant, ()), Error> {
        self.calls.set(self.calls.get() + 1);
        if self.failing.get() {
            return Err(Error::network("connection refused"));
        }
        let token = AccessToken::new(format!("t-{}", self.calls.get()));
        Ok((
            TokenGrant::new(token, self.clock.now_ms(), self.expire_secs.get()),
            (),
        ))
    }
}

struct World {
    kv: Rc<FakeKv>,
    clock: Rc<Cell<u64>>,
    layer: KvThenUpstream<FakeUpstream, Rc<FakeKv>, Clk>,
}

fn world() -> World {
    let clock = Rc::new(Cell::new(T0));
    let clk = Clk(clock.clone());
    let kv = Rc::new(FakeKv::default());
    let upstream = FakeUpstream {
        calls: Cell::new(0),
        expire_secs: Cell::new(7200),
        failing: Cell::new(false),
        clock: clk.clone(),
    };
    let layer = KvThenUpstream::new(
        kv.clone(),
        upstream,
        Box::new(|r: &TokenRequest| kv::kv_key(&r.cache_key())),
        Freshness::default(),
        clk,
        1_000,
    );
    World { kv, clock, layer }
}

/// A second layer over the same KV whose upstream hands out the same first
/// token (`t-1`), stored under `key`.
fn world_sharing(w: &World, key: &'static str) -> KvThenUpstream<FakeUpstream, Rc<FakeKv>, Clk> {
    let clk = Clk(w.clock.clone());
    let upstream = FakeUpstream {
        calls: Cell::new(0),
        expire_secs: Cell::new(7200),
        failing: Cell::new(false),
        clock: clk.clone(),
    };
    KvThenUpstream::new(
        w.kv.clone(),
        upstream,
        Box::new(move |_: &TokenRequest| key.to_owned()),
        Freshness::default(),
        clk,
        1_000,
    )
}

fn request() -> TokenRequest {
    TokenRequest::parse(Some("a-app"), Some("tenant-1")).unwrap()
}

fn key() -> String {
    kv::kv_key(&CacheKey::new(
        &AppAccessToken::new("a-app"),
        &TenantKey::parse("tenant-1").unwrap(),
    ))
}

impl World {
    fn upstream(&self) -> &FakeUpstream {
        &self.layer.upstream
    }
    fn fetch(&self) -> Result<(String, Trace), Error> {
        block_on(self.layer.fetch(&request())).map(|(g, t)| (g.token.expose_secret().into(), t))
    }
    fn refresh(&self) -> Result<(String, Trace), Error> {
        block_on(self.layer.fetch_fresh(&request()))
            .map(|(g, t)| (g.token.expose_secret().into(), t))
    }
    fn advance_secs(&self, s: u64) {
        self.clock.set(self.clock.get() + s * 1000);
    }
    fn stored_ttl(&self) -> Option<u64> {
        self.kv
            .entries
            .borrow()
            .get(&key())
            .and_then(|(_, ttl)| *ttl)
    }
}

#[test]
fn a_miss_fetches_and_stores_until_the_freshness_window_closes() {
    let w = world();
    let (token, trace) = w.fetch().unwrap();
    assert_eq!(token, "t-1");
    assert_eq!(trace.layer, Layer::Upstream);
    // 7200 s of life, served while 1800 s remain: 5400 s in KV.
    assert_eq!(w.stored_ttl(), Some(5400));
    let (token, trace) = w.fetch().unwrap();
    assert_eq!((token.as_str(), trace.layer), ("t-1", Layer::Kv));
    assert_eq!(w.upstream().calls.get(), 1, "the second read came from KV");
}

#[test]
fn ttl_is_clamped_to_kv_minimum_and_unservable_tokens_are_not_stored() {
    let w = world();
    // 1830 s of life: 30 s servable, stored for KV's minimum of 60 s.
    w.upstream().expire_secs.set(1830);
    w.fetch().unwrap();
    assert_eq!(w.stored_ttl(), Some(KV_MIN_EXPIRATION_TTL_SECS));
    // Fresh from Feishu but already inside the window: handed out, not stored.
    let w = world();
    w.upstream().expire_secs.set(1700);
    assert_eq!(w.fetch().unwrap().0, "t-1");
    assert!(w.kv.entries.borrow().is_empty());
}

#[test]
fn a_kv_token_past_the_window_is_replaced_or_served_stale_if_feishu_fails() {
    let w = world();
    w.fetch().unwrap();
    // 5401 s later: 1799 s left, not servable, but stale-servable.
    w.advance_secs(5401);
    w.upstream().failing.set(true);
    let (token, trace) = w.fetch().unwrap();
    assert_eq!((token.as_str(), trace.layer), ("t-1", Layer::StaleKv));
    // Once Feishu answers again (its third call), the stale token is replaced.
    w.upstream().failing.set(false);
    let (token, trace) = w.fetch().unwrap();
    assert_eq!((token.as_str(), trace.layer), ("t-3", Layer::Upstream));
}

#[test]
fn stale_if_error_stops_a_minute_before_expiry() {
    let w = world();
    w.fetch().unwrap();
    w.advance_secs(7200 - 60);
    w.upstream().failing.set(true);
    assert_eq!(
        w.fetch().unwrap_err().code(),
        feishu_tenant_token::ErrorCode::NetworkError
    );
}

#[test]
fn a_forced_refresh_skips_kv_and_overwrites_it() {
    let w = world();
    w.fetch().unwrap();
    let (token, trace) = w.refresh().unwrap();
    assert_eq!((token.as_str(), trace.layer), ("t-2", Layer::Upstream));
    assert_eq!(trace.kv_ms, 0);
    let (token, _) = w.fetch().unwrap();
    assert_eq!(token, "t-2", "KV now holds the refreshed token");
}

#[test]
fn a_failed_forced_refresh_deletes_nothing() {
    // Only Feishu's acceptance of the caller's credentials may replace a
    // key's token: a caller with made-up credentials costs no KV delete.
    let w = world();
    w.fetch().unwrap();
    w.upstream().failing.set(true);
    assert!(w.refresh().is_err());
    assert!(w.kv.deletes.borrow().is_empty());
    assert!(w.kv.entries.borrow().contains_key(&key()));
}

#[test]
fn kv_failures_are_logged_and_never_fail_the_request() {
    let w = world();
    w.kv.fail_reads.set(true);
    w.kv.fail_writes.set(true);
    assert_eq!(w.fetch().unwrap().0, "t-1");
    assert_eq!(
        *w.kv.warnings.borrow(),
        vec!["kv_get_failed", "kv_put_failed"]
    );
}

#[test]
fn damaged_entries_read_as_absent() {
    let w = world();
    w.kv.entries
        .borrow_mut()
        .insert(key(), ("{\"v\":9}".into(), None));
    assert_eq!(w.fetch().unwrap().0, "t-1");
    assert_eq!(w.upstream().calls.get(), 1);
}

#[test]
fn join_waits_poll_for_longer_than_the_longest_fetch() {
    let w = world();
    assert_eq!(
        w.layer.join_wait(),
        JoinWait::Poll {
            every_ms: JOIN_POLL_MS,
            at_most_ms: 1_000 + JOIN_SLACK_MS
        }
    );
}

#[test]
fn tickets_live_under_their_key_and_resends_are_claimed_once_a_minute() {
    let kv = Rc::new(FakeKv::default());
    let t = KvTickets {
        kv: kv.clone(),
        app_id: "cli_a".into(),
    };
    block_on(t.put(&AppTicket::new("tkt-1"))).unwrap();
    assert_eq!(
        kv.entries.borrow().get("ticket:v1:cli_a"),
        Some(&("tkt-1".to_owned(), None))
    );
    assert_eq!(
        block_on(t.get())
            .unwrap()
            .map(|t| t.expose_secret().to_owned()),
        Some("tkt-1".into())
    );
    assert!(block_on(t.claim_resend(T0)));
    assert!(
        !block_on(t.claim_resend(T0)),
        "the marker holds off a second resend"
    );
    assert_eq!(
        kv.entries
            .borrow()
            .get("resend:v1:cli_a")
            .map(|(_, ttl)| *ttl),
        Some(Some(KV_MIN_EXPIRATION_TTL_SECS))
    );
    block_on(t.release_resend());
    assert!(
        block_on(t.claim_resend(T0)),
        "a released claim can be made again"
    );
    block_on(t.delete()).unwrap();
    assert_eq!(block_on(t.get()).unwrap(), None);
}

/// The eviction (at the top level, Feishu's), its `until_ms` checked by
/// the tests that are about it and left out of the others' comparisons.
fn evict(w: &World, token: &str) -> Eviction {
    Eviction {
        until_ms: None,
        ..evict_with_until(w, token, false)
    }
}

fn evict_with_until(w: &World, token: &str, lark: bool) -> Eviction {
    block_on(evict_refused(&w.kv, &AccessToken::new(token), lark))
}

fn evicted(keys: &[&str]) -> Eviction {
    Eviction {
        evicted: keys.len(),
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        ..Eviction::default()
    }
}

#[test]
fn each_stored_token_is_indexed_by_its_digest_until_the_token_expires() {
    let w = world();
    w.fetch().unwrap();
    let entries = w.kv.entries.borrow();
    let reference = kv::token_ref_key(&AccessToken::new("t-1"));
    // The token is served for 5400 s, but clients may hold it for all 7200.
    assert_eq!(entries.get(&key()).map(|(_, ttl)| *ttl), Some(Some(5400)));
    let (named, ttl) = entries.get(&reference).cloned().unwrap();
    assert_eq!(ttl, Some(7200));
    assert_eq!(kv::ref_keys(&named).collect::<Vec<_>>(), [key()]);
    assert_eq!(
        kv::ref_until(&named),
        Some(T0 + 7_200_000),
        "the token's own expiry"
    );
    assert!(!reference.contains(":t-1"), "the token is not in the index");
    assert_eq!(entries.len(), 2, "the token's entry and its index entry");
}

#[test]
fn a_refused_token_is_deleted_from_kv_and_the_next_read_fetches() {
    let w = world();
    w.fetch().unwrap();
    assert_eq!(evict(&w, "t-1"), evicted(&[&key()]));
    let reference = kv::token_ref_key(&AccessToken::new("t-1"));
    assert_eq!(
        w.kv.entries.borrow().keys().collect::<Vec<_>>(),
        vec![&reference],
        "the entry is gone, its index entry kept for later refusals"
    );
    let (token, trace) = w.fetch().unwrap();
    assert_eq!((token.as_str(), trace.layer), ("t-2", Layer::Upstream));
    // A client still holding t-1 is refused again: its key now holds t-2.
    let found = evict(&w, "t-1");
    assert_eq!((found.evicted, found.replaced), (0, 1));
    assert_eq!(found.newer.map(|g| g.token), Some(AccessToken::new("t-2")));
}

#[test]
fn a_token_stored_under_several_keys_is_deleted_under_each() {
    // One token, two entries (a tenant token fetched with two app tokens,
    // or a self-built app's token of both kinds).
    let w = world();
    w.fetch().unwrap();
    let second = world_sharing(&w, "tat:v1:internal:cli_a:x");
    block_on(second.fetch(&request())).unwrap();
    assert_eq!(
        evict(&w, "t-1"),
        evicted(&[&key(), "tat:v1:internal:cli_a:x"])
    );
    assert_eq!(w.kv.entries.borrow().len(), 1, "the index entry alone");
}

#[test]
fn a_late_refusal_never_evicts_the_replacement() {
    let w = world();
    w.fetch().unwrap();
    w.refresh().unwrap();
    let kept = evict(&w, "t-1");
    assert_eq!((kept.evicted, kept.replaced), (0, 1));
    assert_eq!(kept.newer.map(|g| g.token), Some(AccessToken::new("t-2")));
    let (token, trace) = w.fetch().unwrap();
    assert_eq!((token.as_str(), trace.layer), ("t-2", Layer::Kv));
    assert!(!w.kv.deletes.borrow().contains(&key()));
    assert_eq!(evict(&w, "t-2"), evicted(&[&key()]));
}

#[test]
fn an_eviction_states_the_tokens_own_expiry_and_touches_only_its_brand() {
    let w = world();
    w.fetch().unwrap();
    let found = evict_with_until(&w, "t-1", true);
    assert_eq!(found.until_ms, Some(T0 + 7_200_000));
    assert_eq!(
        (found.evicted, found.keys.len()),
        (0, 0),
        "Lark's refusal of a Feishu token names and deletes nothing"
    );
    assert!(w.kv.entries.borrow().contains_key(&key()));
    let found = evict_with_until(&w, "t-1", false);
    assert_eq!((found.evicted, found.keys.len()), (1, 1));
}

#[test]
fn unknown_tokens_and_forged_index_entries_delete_nothing() {
    let w = world();
    w.fetch().unwrap();
    w.kv.deletes.borrow_mut().clear();
    assert_eq!(evict(&w, "t-never-issued"), Eviction::default());
    assert!(
        w.kv.deletes.borrow().is_empty(),
        "a token never stored deletes nothing"
    );
    // An index entry naming something that is not a token entry is ignored.
    let forged = kv::token_ref_key(&AccessToken::new("t-forged"));
    let mut entries = w.kv.entries.borrow_mut();
    entries.insert("ticket:v1:cli_a".into(), ("tkt".into(), None));
    entries.insert(forged.clone(), ("ticket:v1:cli_a".into(), None));
    drop(entries);
    assert_eq!(evict(&w, "t-forged"), Eviction::default());
    assert!(w.kv.entries.borrow().contains_key("ticket:v1:cli_a"));
    assert!(w.kv.deletes.borrow().is_empty(), "nothing at all");
}

#[test]
fn kv_trouble_during_an_eviction_is_logged_and_deletes_nothing() {
    let w = world();
    w.fetch().unwrap();
    w.kv.fail_reads.set(true);
    let failed = Eviction {
        failed: true,
        ..Eviction::default()
    };
    assert_eq!(evict(&w, "t-1"), failed);
    assert_eq!(*w.kv.warnings.borrow(), vec!["kv_get_failed"]);
    assert!(w.kv.deletes.borrow().is_empty());
}

/// The questions a coordinator was asked: the keys they named, what for.
type Questions = Rc<RefCell<Vec<(String, Want)>>>;

/// A coordinator answering `answer` (None: a fault), counting the questions.
fn coordinated(answer: Option<Result<TokenGrant, Error>>) -> (World, Questions) {
    let w = world();
    let asked = Rc::new(RefCell::new(Vec::new()));
    let seen = asked.clone();
    let ask: Ask<TokenRequest> = Box::new(move |key: &str, _r: &TokenRequest, want| -> Asked {
        seen.borrow_mut().push((key.to_owned(), want));
        let answer = answer.clone();
        Box::pin(async move { answer })
    });
    let World { kv, clock, layer } = w;
    let layer = layer.coordinated_by(Some(ask));
    (World { kv, clock, layer }, asked)
}

fn the_request() -> TokenRequest {
    TokenRequest::parse(Some("a-1"), Some("tenant-1")).unwrap()
}

#[test]
fn a_kv_miss_asks_the_coordinator_not_feishu_and_leaves_kv_to_it() {
    let grant = TokenGrant::new(AccessToken::new("t-object"), T0, 7200);
    let (w, asked) = coordinated(Some(Ok(grant)));
    let (got, trace) = block_on(w.layer.fetch(&the_request())).unwrap();
    assert_eq!(got.token.expose_secret(), "t-object");
    assert_eq!(trace.layer, Layer::Coordinator);
    assert_eq!(w.layer.upstream.calls.get(), 0, "Feishu not asked");
    assert_eq!(
        *asked.borrow(),
        vec![(kv::kv_key(&the_request().cache_key()), Want::Servable)]
    );
    assert!(
        w.kv.entries.borrow().is_empty(),
        "the object writes KV, not the front"
    );
}

#[test]
fn a_kv_hit_never_asks_the_coordinator() {
    let (w, asked) = coordinated(None);
    block_on(w.layer.fetch(&the_request())).unwrap(); // fault: fetched and stored by the front
    let (_, trace) = block_on(w.layer.fetch(&the_request())).unwrap();
    assert_eq!(trace.layer, Layer::Kv);
    assert_eq!(asked.borrow().len(), 1);
}

#[test]
fn a_coordinator_fault_falls_back_to_fetching_and_storing_here() {
    let (w, asked) = coordinated(None);
    let (got, trace) = block_on(w.layer.fetch(&the_request())).unwrap();
    assert_eq!(asked.borrow().len(), 1);
    assert_eq!(trace.layer, Layer::Upstream);
    assert_eq!(got.token.expose_secret(), "t-1");
    assert_eq!(w.layer.upstream.calls.get(), 1);
    let key = kv::kv_key(&the_request().cache_key());
    assert!(
        w.kv.entries.borrow().contains_key(&key),
        "stored by the front"
    );
}

#[test]
fn feishus_refusal_through_the_coordinator_is_the_answer_or_stale_kv() {
    let refusal = Error::feishu_api(99_991_663, "invalid".into(), 400);
    let (w, _) = coordinated(Some(Err(refusal.clone())));
    assert_eq!(
        block_on(w.layer.fetch(&the_request())).unwrap_err(),
        refusal
    );
    assert_eq!(
        w.layer.upstream.calls.get(),
        0,
        "no second call for a refusal"
    );
    // With a stale token in KV (past the window, over a minute left): served.
    let key = kv::kv_key(&the_request().cache_key());
    let old = TokenGrant::new(AccessToken::new("t-old"), T0 - 7_000_000, 7200);
    w.kv.entries
        .borrow_mut()
        .insert(key, (kv::encode_value(&old), None));
    let (got, trace) = block_on(w.layer.fetch(&the_request())).unwrap();
    assert_eq!(got.token.expose_secret(), "t-old");
    assert_eq!(trace.layer, Layer::StaleKv);
}

/// KV holding the request's token with `secs_left` of life, under `w`.
fn seed_kv(w: &World, token: &str, secs_left: u64) {
    let key = kv::kv_key(&the_request().cache_key());
    let g = TokenGrant::new(AccessToken::new(token), w.clock.get(), secs_left);
    w.kv.entries
        .borrow_mut()
        .insert(key, (kv::encode_value(&g), None));
}

#[test]
fn a_kv_token_in_its_last_minutes_is_confirmed_with_the_coordinator() {
    let min = Freshness::default().min_validity_secs();
    let renewed = TokenGrant::new(AccessToken::new("t-renewed"), T0, 7200);
    let (w, asked) = coordinated(Some(Ok(renewed)));
    // Well inside the window: KV answers, the object is not asked.
    seed_kv(&w, "t-kv", min + COORDINATOR_NOTICE_MS / 1000 + 60);
    let (got, trace) = block_on(w.layer.fetch(&the_request())).unwrap();
    assert_eq!(
        (got.token.expose_secret(), trace.layer),
        ("t-kv", Layer::Kv)
    );
    assert!(asked.borrow().is_empty());
    // In the last stretch: the object is asked (and learns the key is hot).
    seed_kv(&w, "t-kv", min + 60);
    let (got, trace) = block_on(w.layer.fetch(&the_request())).unwrap();
    assert_eq!(
        (got.token.expose_secret(), trace.layer),
        ("t-renewed", Layer::Coordinator)
    );
    assert_eq!(asked.borrow().len(), 1);
    assert_eq!(w.layer.upstream.calls.get(), 0);
}

#[test]
fn a_coordinator_fault_while_confirming_serves_kvs_token() {
    let min = Freshness::default().min_validity_secs();
    for answer in [None, Some(Err(Error::network("down")))] {
        let (w, asked) = coordinated(answer);
        seed_kv(&w, "t-kv", min + 60);
        let (got, trace) = block_on(w.layer.fetch(&the_request())).unwrap();
        assert_eq!(
            (got.token.expose_secret(), trace.layer),
            ("t-kv", Layer::Kv)
        );
        assert_eq!(asked.borrow().len(), 1);
        assert_eq!(
            w.layer.upstream.calls.get(),
            0,
            "no Feishu call for a servable token"
        );
    }
}

#[test]
fn a_forced_refresh_goes_through_the_coordinator_so_its_copy_is_replaced_too() {
    let grant = TokenGrant::new(AccessToken::new("t-object-new"), T0, 7200);
    let (w, asked) = coordinated(Some(Ok(grant)));
    seed_kv(&w, "t-refused", 7000);
    let (got, trace) = block_on(w.layer.fetch_fresh(&the_request())).unwrap();
    assert_eq!(
        (got.token.expose_secret(), trace.layer),
        ("t-object-new", Layer::Coordinator)
    );
    let key = kv::kv_key(&the_request().cache_key());
    assert_eq!(*asked.borrow(), vec![(key, Want::Fresh)]);
    assert_eq!(w.layer.upstream.calls.get(), 0, "the object fetched it");
}

#[test]
fn a_forced_refresh_the_coordinator_cannot_serve_is_fetched_here_or_refused() {
    // A fault: fetched and stored here.
    let (w, asked) = coordinated(None);
    let (got, trace) = block_on(w.layer.fetch_fresh(&the_request())).unwrap();
    assert_eq!(
        (got.token.expose_secret(), trace.layer),
        ("t-1", Layer::Upstream)
    );
    assert_eq!(asked.borrow().len(), 1);
    assert_eq!(w.layer.upstream.calls.get(), 1);
    // Feishu's refusal relayed: the answer; nothing deleted.
    let refusal = Error::feishu_api(99_991_663, "invalid".into(), 400);
    let (w, _) = coordinated(Some(Err(refusal.clone())));
    seed_kv(&w, "t-refused", 7000);
    assert_eq!(
        block_on(w.layer.fetch_fresh(&the_request())).unwrap_err(),
        refusal
    );
    assert_eq!(w.layer.upstream.calls.get(), 0);
    assert!(w.kv.deletes.borrow().is_empty(), "nothing deleted");
}
