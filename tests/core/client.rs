//! The token client over a scripted transport and a hand-moved clock.

use feishu_tenant_token::{
    AccessToken, BaseUrl, Clock, ErrorCode, Freshness, HttpRequest, HttpResponse, JoinWait, Keyed,
    RetryPolicy, Served, Source, Timer, TokenClient, TokenGrant, TokenRequest, Transport,
    TransportError, Upstream,
};
use futures::executor::block_on;
use futures::future::join_all;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

const T0: u64 = 1_700_000_000_000;

#[derive(Default)]
struct ManualClock(Cell<u64>);

impl ManualClock {
    fn at(ms: u64) -> Self {
        Self(Cell::new(ms))
    }
    fn advance_secs(&self, s: u64) {
        self.0.set(self.0.get() + s * 1000);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

type Reply = Result<HttpResponse, TransportError>;
/// Given the request and how many came before it, the answer.
type Script = Box<dyn Fn(&HttpRequest, usize) -> Reply>;

/// Answers from a script and records what it was sent. Each answer is held
/// back for one poll, so concurrent callers all get to start before any finishes.
struct Scripted {
    sent: RefCell<Vec<HttpRequest>>,
    answer: Script,
    sleeps: RefCell<Vec<u64>>,
}

impl Scripted {
    fn new(answer: impl Fn(&HttpRequest, usize) -> Reply + 'static) -> Self {
        Self {
            sent: RefCell::new(Vec::new()),
            answer: Box::new(answer),
            sleeps: RefCell::new(Vec::new()),
        }
    }
    fn calls(&self) -> usize {
        self.sent.borrow().len()
    }
}

struct YieldOnce<T>(Option<T>, bool);

impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.1 {
            self.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.0.take().expect("polled after completion"))
    }
}

impl Transport for Scripted {
    fn send(&self, request: HttpRequest) -> impl Future<Output = Reply> {
        let n = self.calls();
        let reply = (self.answer)(&request, n);
        self.sent.borrow_mut().push(request);
        YieldOnce(Some(reply), false)
    }
}

impl Timer for Scripted {
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        self.sleeps.borrow_mut().push(ms);
        std::future::ready(())
    }

    fn random(&self) -> f64 {
        0.5
    }
}

fn ok(token: &str, expire: u64) -> Reply {
    Ok(HttpResponse {
        status: 200,
        ratelimit_reset: None,
        body: format!(
            r#"{{"code":0,"msg":"ok","tenant_access_token":"{token}","expire":{expire}}}"#
        ),
    })
}

fn req(app: &str, tenant: &str) -> TokenRequest {
    TokenRequest::parse(Some(app), Some(tenant)).unwrap()
}

type Client = TokenClient<Upstream<Scripted, Rc<ManualClock>>, Rc<ManualClock>>;

fn client_with(t: Scripted, freshness: Freshness) -> Client {
    client_retrying(t, freshness, RetryPolicy::default())
}

fn client_retrying(t: Scripted, freshness: Freshness, retry: RetryPolicy) -> Client {
    let clock = Rc::new(ManualClock::at(T0));
    TokenClient::new(
        Upstream::new(t, Rc::clone(&clock), BaseUrl::default()).with_retry(retry),
        clock,
        freshness,
    )
}

fn client(t: Scripted) -> Client {
    client_with(t, Freshness::default())
}

/// A token per (call number): lets tests see which fetch a token came from.
fn numbered(expire: u64) -> Scripted {
    Scripted::new(move |_, n| ok(&format!("t-{n}"), expire))
}

#[test]
fn miss_then_hit_without_a_second_request() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    let first = block_on(c.get(&r)).unwrap();
    let second = block_on(c.get(&r)).unwrap();
    assert_eq!(first.token.expose_secret(), "t-0");
    assert_eq!(second, first);
    assert_eq!(first.expires_at_ms, T0 + 7_200_000);
    let s = c.stats();
    assert_eq!(
        (s.hits, s.misses, s.upstream_calls, s.coalesced_waits),
        (1, 1, 1, 0)
    );
}

#[test]
fn the_request_sent_is_the_built_one() {
    let c = client(numbered(7200));
    block_on(c.get(&req("a-1", "tenant1"))).unwrap();
    let t = &c_transport_sent(&c)[0];
    assert!(t.url.ends_with("/open-apis/auth/v3/tenant_access_token"));
    assert!(t.body_text().contains(r#""tenant_key":"tenant1""#));
}

fn c_transport_sent(c: &Client) -> Vec<HttpRequest> {
    c.source().transport().sent.borrow().clone()
}

#[test]
fn refetches_once_fewer_than_min_validity_secs_remain() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-0");
    c.clock().advance_secs(5400); // exactly 1800 s left: still served
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-0");
    c.clock().advance_secs(1); // 1799 s left: rotate
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-1");
    assert_eq!(c.stats().upstream_calls, 2);
}

#[test]
fn a_token_arriving_with_less_than_min_validity_is_returned_but_not_cached() {
    let c = client(numbered(1000));
    let r = req("a-1", "tenant1");
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-0");
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-1");
    assert_eq!(c.cached_len(), 0);
}

#[test]
fn custom_min_validity_is_honoured() {
    let c = client_with(numbered(100), Freshness::new(60));
    let r = req("a-1", "tenant1");
    block_on(c.get(&r)).unwrap();
    c.clock().advance_secs(40);
    block_on(c.get(&r)).unwrap();
    assert_eq!(c.stats().upstream_calls, 1);
    c.clock().advance_secs(1);
    block_on(c.get(&r)).unwrap();
    assert_eq!(c.stats().upstream_calls, 2);
}

#[test]
fn two_apps_for_one_tenant_never_share_a_token() {
    let c = client(numbered(7200));
    let a = block_on(c.get(&req("a-app-one", "tenant1"))).unwrap();
    let b = block_on(c.get(&req("a-app-two", "tenant1"))).unwrap();
    assert_ne!(a.token, b.token);
    assert_eq!(block_on(c.get(&req("a-app-one", "tenant1"))).unwrap(), a);
    assert_eq!(block_on(c.get(&req("a-app-two", "tenant1"))).unwrap(), b);
    assert_eq!(c.stats().upstream_calls, 2);
}

#[test]
fn two_tenants_never_share_a_token() {
    let c = client(numbered(7200));
    let a = block_on(c.get(&req("a-1", "tenant1"))).unwrap();
    let b = block_on(c.get(&req("a-1", "tenant2"))).unwrap();
    assert_ne!(a.token, b.token);
}

#[test]
fn a_hundred_concurrent_cold_gets_make_one_request() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    let results = block_on(join_all((0..100).map(|_| c.get(&r))));
    assert!(
        results
            .iter()
            .all(|g| g.as_ref().unwrap().token.expose_secret() == "t-0")
    );
    let s = c.stats();
    assert_eq!(s.upstream_calls, 1);
    assert_eq!(s.misses, 100);
    assert_eq!(s.coalesced_waits, 99);
    assert_eq!(c.source().transport().calls(), 1);
}

#[test]
fn concurrent_gets_share_an_error_and_it_is_not_cached() {
    let t = Scripted::new(|_, n| {
        if n == 0 {
            Ok(HttpResponse {
                status: 400,
                ratelimit_reset: None,
                body: r#"{"code":99991664,"msg":"invalid app_access_token"}"#.into(),
            })
        } else {
            ok("t-good", 7200)
        }
    });
    let c = client(t);
    let r = req("a-1", "tenant1");
    let results = block_on(join_all((0..10).map(|_| c.get(&r))));
    for res in &results {
        let e = res.as_ref().unwrap_err();
        assert_eq!(e.code(), ErrorCode::FeishuApiError);
        assert_eq!(e.feishu_code(), Some(99991664));
    }
    assert_eq!(c.stats().upstream_calls, 1);
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-good");
}

#[test]
fn transport_failures_map_to_network_and_timeout() {
    let t = Scripted::new(|_, n| match n {
        0 => Err(TransportError::Network("connection reset".into())),
        _ => Err(TransportError::Timeout { after_ms: 250 }),
    });
    let c = client_retrying(t, Freshness::default(), RetryPolicy::none());
    let r = req("a-1", "tenant1");
    let e = block_on(c.get(&r)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NetworkError);
    assert!(e.message().contains("connection reset"));
    let e = block_on(c.get(&r)).unwrap_err();
    assert!(e.is_timeout());
    assert!(e.message().contains("250 ms"), "{e}");
}

#[test]
fn an_upstream_echo_of_the_app_token_is_scrubbed() {
    let t = Scripted::new(|_, _| {
        Ok(HttpResponse {
            status: 400,
            ratelimit_reset: None,
            body: r#"{"code":10003,"msg":"bad a-very-secret-app-token"}"#.into(),
        })
    });
    let c = client(t);
    let e = block_on(c.get(&req("a-very-secret-app-token", "tenant1"))).unwrap_err();
    assert!(!format!("{e} {e:?}").contains("a-very-secret-app-token"));
}

#[test]
fn invalidate_evicts_one_tenant_for_every_app() {
    let c = client(numbered(7200));
    block_on(c.get(&req("a-1", "tenant1"))).unwrap();
    block_on(c.get(&req("a-2", "tenant1"))).unwrap();
    block_on(c.get(&req("a-1", "tenant2"))).unwrap();
    assert_eq!(c.invalidate("tenant1"), 2);
    assert_eq!(c.invalidate("tenant1"), 0);
    assert_eq!(
        block_on(c.get(&req("a-1", "tenant1")))
            .unwrap()
            .token
            .expose_secret(),
        "t-3"
    );
    assert_eq!(
        block_on(c.get(&req("a-1", "tenant2")))
            .unwrap()
            .token
            .expose_secret(),
        "t-2"
    );
}

#[test]
fn invalidating_a_token_drops_only_an_entry_that_still_holds_it() {
    let c = client(numbered(7200));
    let token = |r: &TokenRequest| block_on(c.get(r)).unwrap().token;
    let (one, two) = (req("a-1", "tenant1"), req("a-1", "tenant2"));
    let t0 = token(&one);
    let t1 = token(&two);
    // A late rejection of a token nobody holds, or of another tenant's: nothing goes.
    assert_eq!(c.invalidate_token(&AccessToken::new("t-old"), None), 0);
    assert_eq!(c.invalidate_token(&t0, Some("tenant2")), 0);
    assert_eq!(token(&one), t0, "still served from the cache");
    // The token itself: only its entry goes; the next get fetches a new one.
    assert_eq!(c.invalidate_token(&t0, Some("tenant1")), 1);
    let t2 = token(&one);
    assert_eq!(t2.expose_secret(), "t-2");
    assert_eq!(token(&two), t1);
    // The race: a rejection of t0 arriving after t2 replaced it evicts nothing.
    assert_eq!(c.invalidate_token(&t0, None), 0);
    assert_eq!(token(&one), t2);
    assert_eq!(c.stats().upstream_calls, 3);
}

#[test]
fn a_fetch_overtaken_by_invalidate_is_not_cached() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    let mut fut = Box::pin(c.get(&r));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    c.invalidate("tenant1");
    let Poll::Ready(Ok(g)) = fut.as_mut().poll(&mut cx) else {
        panic!("the fetch should have finished");
    };
    assert_eq!(g.token.expose_secret(), "t-0");
    assert_eq!(c.cached_len(), 0);
}

#[test]
fn a_cancelled_leader_releases_its_waiters_with_an_error() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut leader = Box::pin(c.get(&r));
    let mut waiter = Box::pin(c.get(&r));
    assert!(leader.as_mut().poll(&mut cx).is_pending());
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    drop(leader);
    let Poll::Ready(Err(e)) = waiter.as_mut().poll(&mut cx) else {
        panic!("the waiter should have been released");
    };
    assert_eq!(e.code(), ErrorCode::NetworkError);
    // The next get starts a new fetch rather than joining the dead one.
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-1");
}

#[test]
fn expired_entries_are_swept_as_the_cache_grows() {
    let c = client(numbered(7200));
    for i in 0..63 {
        block_on(c.get(&req("a-1", &format!("old{i}")))).unwrap();
    }
    c.clock().advance_secs(7200);
    block_on(c.get(&req("a-1", "new"))).unwrap();
    assert_eq!(c.cached_len(), 1);
}

#[test]
fn with_cached_serves_only_fresh_tokens_and_counts_hits() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    let cached = |r: &TokenRequest| c.with_cached(&r.cache_key(), |g, now| (g.clone(), now));
    assert_eq!(cached(&r), None);
    assert_eq!(
        c.stats(),
        Default::default(),
        "a miss on the fast path counts nothing"
    );
    let g = block_on(c.get(&r)).unwrap();
    assert_eq!(cached(&r), Some((g, T0)));
    assert_eq!(cached(&req("a-2", "tenant1")), None);
    c.clock().advance_secs(5401);
    assert_eq!(cached(&r), None);
    assert_eq!(c.stats().hits, 1);
}

#[test]
fn get_served_says_how_each_answer_came_about() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    let answers = block_on(join_all((0..3).map(|_| c.get_served(&r))));
    let served: Vec<_> = answers.into_iter().map(|a| a.unwrap().1).collect();
    assert_eq!(
        served,
        [Served::Fetched(()), Served::Joined(()), Served::Joined(())]
    );
    assert_eq!(block_on(c.get_served(&r)).unwrap().1, Served::Memory);
}

/// Upstream, but joiners poll on their own timer (the Worker's mode).
struct Polling<T>(Upstream<T, Rc<ManualClock>>);

impl<T: Transport> Source for Polling<T> {
    type Request = TokenRequest;
    type Meta = ();
    fn fetch(
        &self,
        request: &TokenRequest,
    ) -> impl Future<Output = Result<(TokenGrant, ()), feishu_tenant_token::Error>> {
        self.0.fetch(request)
    }
    fn join_wait(&self) -> JoinWait {
        JoinWait::Poll {
            every_ms: 10,
            at_most_ms: 30,
        }
    }
    fn sleep(&self, _ms: u32) -> impl Future<Output = ()> {
        YieldOnce(Some(()), false)
    }
}

fn polling_client<T: Transport>(t: T) -> TokenClient<Polling<T>, Rc<ManualClock>> {
    let clock = Rc::new(ManualClock::at(T0));
    TokenClient::new(
        Polling(Upstream::new(t, Rc::clone(&clock), BaseUrl::default())),
        clock,
        Freshness::default(),
    )
}

#[test]
fn polling_joiners_get_the_leaders_result_without_being_woken() {
    let c = polling_client(numbered(7200));
    let r = req("a-1", "tenant1");
    let results = block_on(join_all((0..5).map(|_| c.get_served(&r))));
    for (i, res) in results.into_iter().enumerate() {
        let (g, served) = res.unwrap();
        assert_eq!(g.token.expose_secret(), "t-0");
        assert_eq!(
            served,
            if i == 0 {
                Served::Fetched(())
            } else {
                Served::Joined(())
            }
        );
    }
    assert_eq!(c.stats().upstream_calls, 1);
}

#[test]
fn polling_joiners_give_up_after_at_most_ms() {
    struct Never;
    impl Transport for Never {
        fn send(&self, _: HttpRequest) -> impl Future<Output = Reply> {
            std::future::pending()
        }
    }

    impl Timer for Never {
        fn sleep(&self, _: u64) -> impl Future<Output = ()> {
            std::future::ready(())
        }

        fn random(&self) -> f64 {
            0.5
        }
    }
    let c = polling_client(Never);
    let r = req("a-1", "tenant1");
    let mut leader = Box::pin(c.get(&r));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(leader.as_mut().poll(&mut cx).is_pending());
    let e = block_on(c.get(&r)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(e.message().contains("30 ms"), "{e}");
}

fn status(status: u16, body: &str, reset: Option<&str>) -> Reply {
    Ok(HttpResponse {
        status,
        ratelimit_reset: reset.map(str::to_owned),
        body: body.to_owned(),
    })
}

fn sleeps(c: &Client) -> Vec<u64> {
    c.source().transport().sleeps.borrow().clone()
}

#[test]
fn transient_failures_are_retried_with_backoff_then_succeed() {
    let c = client(Scripted::new(|_, n| match n {
        0 => Err(TransportError::Network("reset".into())),
        1 => status(503, "busy", None),
        _ => ok("t-after-retries", 7200),
    }));
    let g = block_on(c.get(&req("a-1", "tenant1"))).unwrap();
    assert_eq!(g.token.expose_secret(), "t-after-retries");
    assert_eq!(c.source().transport().calls(), 3);
    // Full jitter with random() = 0.5: half of 100 ms, then half of 200 ms.
    assert_eq!(sleeps(&c), [50, 100]);
    assert_eq!(
        c.stats().upstream_calls,
        1,
        "one fetch, however many attempts"
    );
}

#[test]
fn retries_stop_after_two() {
    let c = client(Scripted::new(|_, _| {
        Err(TransportError::Timeout { after_ms: 5 })
    }));
    let e = block_on(c.get(&req("a-1", "tenant1"))).unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(c.source().transport().calls(), 3);
    assert_eq!(sleeps(&c).len(), 2);
}

#[test]
fn api_errors_are_never_retried() {
    let c = client(Scripted::new(|_, _| {
        status(400, r#"{"code":10003,"msg":"invalid param"}"#, None)
    }));
    let e = block_on(c.get(&req("a-1", "tenant1"))).unwrap_err();
    assert_eq!(e.feishu_code(), Some(10003));
    assert_eq!(c.source().transport().calls(), 1);
    assert!(sleeps(&c).is_empty());
}

#[test]
fn a_rate_limit_waits_the_reset_seconds_when_they_fit() {
    let limited = r#"{"code":99991400,"msg":"request trigger frequency limit"}"#;
    let c = client(Scripted::new(move |_, n| match n {
        0 => status(429, limited, Some("1")),
        _ => ok("t-after-wait", 7200),
    }));
    let g = block_on(c.get(&req("a-1", "tenant1"))).unwrap();
    assert_eq!(g.token.expose_secret(), "t-after-wait");
    assert_eq!(sleeps(&c), [1000]);
}

#[test]
fn a_rate_limit_beyond_the_deadline_fails_fast_with_the_wait() {
    let limited = r#"{"code":99991400,"msg":"request trigger frequency limit"}"#;
    let c = client(Scripted::new(move |_, _| status(429, limited, Some("60"))));
    let e = block_on(c.get(&req("a-1", "tenant1"))).unwrap_err();
    assert!(e.is_rate_limited());
    assert_eq!(e.retry_after_secs(), Some(60));
    assert_eq!(c.source().transport().calls(), 1);
    assert!(sleeps(&c).is_empty());
}

/// First a token for 7200 s, then every attempt fails.
fn then_failing() -> Scripted {
    Scripted::new(|_, n| match n {
        0 => ok("t-first", 7200),
        _ => Err(TransportError::Network("refused".into())),
    })
}

#[test]
fn a_failed_refresh_serves_the_stale_token_while_it_has_over_a_minute() {
    let c = client_retrying(then_failing(), Freshness::default(), RetryPolicy::none());
    let r = req("a-1", "tenant1");
    block_on(c.get(&r)).unwrap();
    c.clock().advance_secs(5401); // 1799 s left: past the freshness window
    let (g, served) = block_on(c.get_served(&r)).unwrap();
    assert_eq!(g.token.expose_secret(), "t-first");
    assert_eq!(served, Served::Stale);
    assert_eq!(c.stats().stale_served, 1);
    assert_eq!(c.source().transport().calls(), 2, "it did try to refresh");
    // Every later get tries again (single-flight), and still falls back.
    assert_eq!(block_on(c.get_served(&r)).unwrap().1, Served::Stale);
    assert_eq!(c.source().transport().calls(), 3);
    c.clock().advance_secs(1740); // 59 s left: too close to expiry to serve
    let e = block_on(c.get(&r)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NetworkError);
}

#[test]
fn concurrent_callers_share_the_stale_answer() {
    let c = client_retrying(then_failing(), Freshness::default(), RetryPolicy::none());
    let r = req("a-1", "tenant1");
    block_on(c.get(&r)).unwrap();
    c.clock().advance_secs(6000);
    let all = block_on(join_all((0..5).map(|_| c.get_served(&r))));
    assert!(all.iter().all(|a| a.as_ref().unwrap().1 == Served::Stale));
    assert_eq!(c.stats().stale_served, 5);
    assert_eq!(c.source().transport().calls(), 2);
}

#[test]
fn an_invalidated_token_is_never_served_stale() {
    let c = client_retrying(then_failing(), Freshness::default(), RetryPolicy::none());
    let r = req("a-1", "tenant1");
    block_on(c.get(&r)).unwrap();
    c.clock().advance_secs(6000);
    assert_eq!(c.invalidate("tenant1"), 1);
    assert_eq!(
        block_on(c.get(&r)).unwrap_err().code(),
        ErrorCode::NetworkError
    );
    // Invalidated while the refresh was under way: the old token stays out too.
    let c = client_retrying(then_failing(), Freshness::default(), RetryPolicy::none());
    block_on(c.get(&r)).unwrap();
    c.clock().advance_secs(6000);
    let mut fut = Box::pin(c.get(&r));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    c.invalidate("tenant1");
    let Poll::Ready(Err(e)) = fut.as_mut().poll(&mut cx) else {
        panic!("expected the fetch error");
    };
    assert_eq!(e.code(), ErrorCode::NetworkError);
    assert_eq!(c.cached_len(), 0);
}

#[test]
fn a_forced_refresh_goes_upstream_but_at_most_once_per_ten_seconds() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    block_on(c.get(&r)).unwrap();
    // Fetched moments ago: the forced refresh is throttled into a plain hit.
    let (g, served) = block_on(c.refresh_served(&r)).unwrap();
    assert_eq!((g.token.expose_secret(), served), ("t-0", Served::Memory));
    c.clock().advance_secs(10);
    let (g, served) = block_on(c.refresh_served(&r)).unwrap();
    assert_eq!(
        (g.token.expose_secret(), served),
        ("t-1", Served::Fetched(()))
    );
    // The refreshed token replaced the old one, and restarted the throttle.
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-1");
    assert_eq!(block_on(c.refresh_served(&r)).unwrap().1, Served::Memory);
    assert_eq!(c.source().transport().calls(), 2);
}

#[test]
fn a_failed_forced_refresh_drops_the_distrusted_token() {
    let c = client_retrying(then_failing(), Freshness::default(), RetryPolicy::none());
    let r = req("a-1", "tenant1");
    block_on(c.get(&r)).unwrap();
    c.clock().advance_secs(6000); // stale-servable, were it a plain get
    assert!(block_on(c.refresh_served(&r)).is_err(), "no stale fallback");
    assert_eq!(c.cached_len(), 0);
    assert!(
        block_on(c.get(&r)).is_err(),
        "and it is gone for plain gets too"
    );
}

#[test]
fn a_revalidating_client_asks_its_source_again_once_the_interval_has_passed() {
    // The source answers the same token (as the Worker's KV does while it
    // holds it), then a new one (as after another isolate evicted it).
    let t = Scripted::new(|_, n| ok(if n < 2 { "t-same" } else { "t-new" }, 7200));
    let c = client(t).revalidating_after(60_000);
    let r = req("a-1", "tenant1");
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-same");
    c.clock().advance_secs(59);
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-same");
    assert_eq!(c.stats().upstream_calls, 1, "within the interval: a hit");
    assert!(c.with_cached(&r.cache_key(), |_, _| ()).is_some());
    c.clock().advance_secs(2);
    assert!(
        c.with_cached(&r.cache_key(), |_, _| ()).is_none(),
        "the fast path defers too"
    );
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-same");
    assert_eq!(c.stats().upstream_calls, 2, "past it: asked again");
    c.clock().advance_secs(30);
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-same");
    assert_eq!(
        c.stats().upstream_calls,
        2,
        "the answer restarts the interval"
    );
    c.clock().advance_secs(31);
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-new");
}

#[test]
fn without_revalidation_a_cached_token_is_served_until_it_leaves_the_window() {
    let c = client(numbered(7200));
    let r = req("a-1", "tenant1");
    block_on(c.get(&r)).unwrap();
    c.clock().advance_secs(3600);
    assert_eq!(block_on(c.get(&r)).unwrap().token.expose_secret(), "t-0");
    assert_eq!(c.stats().upstream_calls, 1);
}

#[test]
fn a_capped_cache_drops_the_tokens_fetched_longest_ago() {
    let c = client(numbered(7200)).capped_at(8);
    for i in 0..20 {
        block_on(c.get(&req("a-1", &format!("tenant{i}")))).unwrap();
        c.clock().advance_secs(1);
    }
    assert!(c.cached_len() <= 8, "{} cached", c.cached_len());
    let calls = c.source().transport().calls();
    // The latest tenants are still cached; the first ones were dropped.
    block_on(c.get(&req("a-1", "tenant19"))).unwrap();
    assert_eq!(
        c.source().transport().calls(),
        calls,
        "a recent key is a hit"
    );
    block_on(c.get(&req("a-1", "tenant0"))).unwrap();
    assert_eq!(
        c.source().transport().calls(),
        calls + 1,
        "the oldest key was dropped"
    );
}
