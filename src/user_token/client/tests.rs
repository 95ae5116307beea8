use super::*;
use crate::transport::{HttpRequest, HttpResponse, Timer, TransportError};
use crate::user_token::RefreshToken;
use core::cell::Cell;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures::FutureExt;
use futures::executor::block_on;
use futures::future::join_all;
use std::collections::VecDeque;

const T0: u64 = 1_800_000_000_000;

#[derive(Clone)]
struct Clk(Rc<Cell<u64>>);
impl Clock for Clk {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// One answer of the fake Feishu: given the refresh token sent, what it says
/// (and anything it does meanwhile, such as another process's write).
type Answer = Box<dyn FnOnce(&str) -> Result<HttpResponse, TransportError>>;

#[derive(Default)]
struct Feishu {
    answers: RefCell<VecDeque<Answer>>,
    /// Every refresh token sent, in order.
    sent: RefCell<Vec<String>>,
    /// What happens while the client waits (another process's write).
    on_sleep: RefCell<Option<Box<dyn FnOnce()>>>,
    slept: Cell<u64>,
    /// Sleeping moves this clock (a wait for a claim's lease).
    clock: RefCell<Option<Clk>>,
    /// What `random` draws (a client's claim id is made of it).
    draw: Cell<f64>,
}

/// Pending once, so that callers arriving meanwhile join the flight.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Transport for Feishu {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        YieldOnce(false).await;
        let body: serde_json::Value = serde_json::from_str(request.body_text()).unwrap();
        let token = body["refresh_token"].as_str().unwrap().to_owned();
        self.sent.borrow_mut().push(token.clone());
        let answer = self
            .answers
            .borrow_mut()
            .pop_front()
            .expect("an answer queued");
        answer(&token)
    }
}

impl Timer for Feishu {
    async fn sleep(&self, ms: u64) {
        self.slept.set(self.slept.get() + ms);
        if let Some(f) = self.on_sleep.borrow_mut().take() {
            f();
        }
        if let Some(c) = self.clock.borrow().as_ref() {
            c.0.set(c.0.get() + ms);
        }
        // Others (another client holding a claim) go on meanwhile.
        YieldOnce(false).await;
    }
    fn random(&self) -> f64 {
        self.draw.get()
    }
}

fn ok(n: u32) -> Answer {
    Box::new(move |_| {
        Ok(HttpResponse {
            status: 200,
            ratelimit_reset: None,
            body: format!(
                r#"{{"code":0,"access_token":"u-{n}","expires_in":7200,"refresh_token":"ur-{n}","refresh_token_expires_in":604800,"scope":"offline_access"}}"#
            ),
        })
    })
}

fn refused(code: i64) -> Answer {
    Box::new(move |_| {
        Ok(HttpResponse {
            status: 400,
            ratelimit_reset: None,
            body: format!(r#"{{"code":{code},"error":"invalid_grant"}}"#),
        })
    })
}

fn grant(n: u32, expires_at_ms: u64) -> UserGrant {
    UserGrant {
        access_token: AccessToken::new(format!("u-{n}")),
        expires_at_ms,
        refresh_token: Some(RefreshToken::new(format!("ur-{n}"))),
        refresh_expires_at_ms: Some(T0 + 7 * 86_400_000),
        scope: "offline_access".into(),
        claim: None,
    }
}

struct World {
    feishu: Rc<Feishu>,
    clock: Clk,
    tokens: UserTokens<Rc<Feishu>, Clk, Rc<MemoryStore>>,
    store: Rc<MemoryStore>,
}

impl UserStore for Rc<MemoryStore> {
    fn get(&self, user: &str) -> impl Future<Output = Result<Option<Versioned>, Error>> {
        (**self).get(user)
    }
    fn put(
        &self,
        user: &str,
        expected: Option<u64>,
        grant: &UserGrant,
    ) -> impl Future<Output = Result<bool, Error>> {
        (**self).put(user, expected, grant)
    }
    fn delete(&self, user: &str) -> impl Future<Output = Result<(), Error>> {
        (**self).delete(user)
    }
}

/// Alice signed in with grant 1, which is due for a refresh (5 minutes
/// left, 30 wanted). Claims on, as a client sharing a store runs.
fn world() -> World {
    world_with(true)
}

/// A client over `store`, drawing `draw` for its claim id.
fn client(
    feishu: &Rc<Feishu>,
    clock: &Clk,
    store: &Rc<MemoryStore>,
    draw: f64,
) -> UserTokens<Rc<Feishu>, Clk, Rc<MemoryStore>> {
    feishu.draw.set(draw);
    let app = AppCredentials::parse("cli_a", "s3cret", ["appId", "appSecret"]).unwrap();
    let base = BaseUrl::parse("https://open.feishu.cn").unwrap();
    UserTokens::new(
        Rc::clone(feishu),
        clock.clone(),
        base,
        app,
        Rc::clone(store),
        1800,
    )
}

/// `claims` off: the store's only refresher (the Worker's user objects),
/// or a foreign writer that claims nothing.
fn world_with(claims: bool) -> World {
    let feishu = Rc::new(Feishu::default());
    let clock = Clk(Rc::new(Cell::new(T0)));
    *feishu.clock.borrow_mut() = Some(clock.clone());
    let store = Rc::new(MemoryStore::default());
    let tokens = client(&feishu, &clock, &store, 0.5);
    let tokens = if claims {
        tokens
    } else {
        tokens.without_claims()
    };
    block_on(tokens.signed_in("alice", &grant(1, T0 + 300_000))).unwrap();
    World {
        feishu,
        clock,
        tokens,
        store,
    }
}

fn stored(w: &World) -> Option<UserGrant> {
    block_on(w.store.get("alice")).unwrap().map(|v| v.grant)
}

fn token_of(o: &Outcome) -> &str {
    o.as_ref().unwrap().token.expose_secret()
}

#[test]
fn a_fresh_token_is_served_from_the_store_without_a_refresh() {
    let w = world();
    block_on(w.tokens.signed_in("alice", &grant(1, T0 + 7_200_000))).unwrap();
    assert_eq!(token_of(&block_on(w.tokens.access_token("alice"))), "u-1");
    assert!(w.feishu.sent.borrow().is_empty());
}

#[test]
fn many_callers_at_expiry_make_one_refresh_stored_before_anyone_is_answered() {
    let w = world();
    let store = Rc::clone(&w.store);
    w.feishu.answers.borrow_mut().push_back(Box::new(move |t| {
        assert_eq!(t, "ur-1");
        let now = store.get("alice").now_or_never().unwrap().unwrap().unwrap();
        let g = now.grant;
        assert_eq!(
            g.refresh_token.unwrap().expose_secret(),
            "ur-1",
            "nothing stored yet"
        );
        assert!(
            g.claim.is_some(),
            "claimed before the refresh token is sent"
        );
        ok(2)(t)
    }));
    let all = block_on(join_all((0..200).map(|_| w.tokens.access_token("alice"))));
    assert!(all.iter().all(|o| token_of(o) == "u-2"));
    assert_eq!(
        *w.feishu.sent.borrow(),
        vec!["ur-1"],
        "one refresh, the token sent once"
    );
    let g = stored(&w).unwrap();
    assert_eq!(
        g.refresh_token.unwrap().expose_secret(),
        "ur-2",
        "the rotated token is stored"
    );
    assert_eq!(g.claim, None, "and the claim gone with it");
    // Served from the store from now on.
    assert_eq!(token_of(&block_on(w.tokens.access_token("alice"))), "u-2");
    assert_eq!(w.feishu.sent.borrow().len(), 1);
}

#[test]
fn a_lost_race_re_reads_the_store_and_serves_the_winners_grant() {
    let w = world_with(false);
    let store = Rc::clone(&w.store);
    // Another process refreshes with ur-1 first and stores grant 3.
    w.feishu.answers.borrow_mut().push_back(Box::new(move |t| {
        let winner = grant(3, T0 + 7_200_000);
        let put = store.put("alice", Some(1), &winner);
        assert!(put.now_or_never().unwrap().unwrap());
        refused(20064)(t)
    }));
    assert_eq!(token_of(&block_on(w.tokens.access_token("alice"))), "u-3");
    assert_eq!(
        *w.feishu.sent.borrow(),
        vec!["ur-1"],
        "ur-1 never sent again"
    );
}

#[test]
fn a_revoked_or_expired_grant_signs_the_user_out_once_without_a_loop() {
    for code in [20064, 20073, 20037, 20026] {
        let w = world();
        w.feishu.answers.borrow_mut().push_back(refused(code));
        match block_on(w.tokens.access_token("alice")) {
            Err(UserTokenFailure::SignedOut { feishu_code }) => assert_eq!(feishu_code, Some(code)),
            other => panic!("{code}: {other:?}"),
        }
        assert!(stored(&w).is_none(), "{code}: the dead grant is deleted");
        assert_eq!(w.feishu.sent.borrow().len(), 1, "{code}: one request");
        assert!(matches!(
            block_on(w.tokens.access_token("alice")),
            Err(UserTokenFailure::SignedOut { feishu_code: None })
        ));
        assert_eq!(w.feishu.sent.borrow().len(), 1, "{code}: and none after");
    }
}

#[test]
fn a_server_error_is_retried_once_then_the_grant_is_kept() {
    let w = world();
    w.feishu
        .answers
        .borrow_mut()
        .extend([refused(20050), ok(2)]);
    assert_eq!(token_of(&block_on(w.tokens.access_token("alice"))), "u-2");
    let w = world();
    w.feishu
        .answers
        .borrow_mut()
        .extend([refused(20050), refused(20050)]);
    assert!(matches!(
        block_on(w.tokens.access_token("alice")),
        Err(UserTokenFailure::Failed(_))
    ));
    assert_eq!(
        stored(&w).unwrap().refresh_token.unwrap().expose_secret(),
        "ur-1",
        "kept: Feishu never consumed it"
    );
    let network: Answer = Box::new(|_| Err(TransportError::Network("reset".into())));
    w.feishu.answers.borrow_mut().push_back(network);
    assert!(matches!(
        block_on(w.tokens.access_token("alice")),
        Err(UserTokenFailure::Failed(_))
    ));
    assert!(stored(&w).is_some());
}

#[test]
fn no_refresh_token_or_an_expired_one_signs_out_without_asking_feishu() {
    let w = world();
    let mut g = grant(1, T0 + 300_000);
    g.refresh_token = None;
    block_on(w.tokens.signed_in("alice", &g)).unwrap();
    assert!(matches!(
        block_on(w.tokens.access_token("alice")),
        Err(UserTokenFailure::SignedOut { .. })
    ));
    let w = world();
    w.clock.0.set(T0 + 8 * 86_400_000);
    assert!(matches!(
        block_on(w.tokens.access_token("alice")),
        Err(UserTokenFailure::SignedOut { .. })
    ));
    assert!(w.feishu.sent.borrow().is_empty());
    assert!(matches!(
        block_on(w.tokens.access_token("nobody")),
        Err(UserTokenFailure::SignedOut { feishu_code: None })
    ));
}

#[test]
fn a_refused_token_is_replaced_once_for_every_caller_refused_with_it() {
    let w = world();
    // A fresh token that Feishu nevertheless refused (revoked by the user).
    block_on(w.tokens.signed_in("alice", &grant(1, T0 + 7_200_000))).unwrap();
    w.feishu.answers.borrow_mut().push_back(ok(2));
    let refused_token = AccessToken::new("u-1");
    let all = block_on(join_all(
        (0..50).map(|_| w.tokens.replacing("alice", &refused_token)),
    ));
    assert!(all.iter().all(|o| token_of(o) == "u-2"));
    assert_eq!(*w.feishu.sent.borrow(), vec!["ur-1"], "one refresh");
    // A caller refused with the old token after the replacement gets the new one.
    let late = block_on(w.tokens.replacing("alice", &refused_token));
    assert_eq!(token_of(&late), "u-2");
    assert_eq!(w.feishu.sent.borrow().len(), 1, "no second refresh");
}

#[test]
fn a_rotation_refreshes_a_fresh_grant_once() {
    let w = world();
    block_on(w.tokens.signed_in("alice", &grant(1, T0 + 7_200_000))).unwrap();
    w.feishu.answers.borrow_mut().push_back(ok(2));
    let both = block_on(join_all([
        w.tokens.rotate("alice"),
        w.tokens.rotate("alice"),
    ]));
    assert!(both.iter().all(|o| token_of(o) == "u-2"));
    assert_eq!(*w.feishu.sent.borrow(), vec!["ur-1"]);
    let g = block_on(w.tokens.grant("alice")).unwrap().unwrap();
    assert_eq!(g.refresh_token.unwrap().expose_secret(), "ur-2");
}

#[test]
fn a_winner_still_storing_is_waited_for_once_before_signing_out() {
    let w = world_with(false);
    w.feishu.answers.borrow_mut().push_back(refused(20064));
    let store = Rc::clone(&w.store);
    // The other process stores its grant only while this one waits.
    *w.feishu.on_sleep.borrow_mut() = Some(Box::new(move || {
        let winner = grant(3, T0 + 7_200_000);
        let put = store.put("alice", Some(1), &winner);
        assert!(put.now_or_never().unwrap().unwrap());
    }));
    assert_eq!(token_of(&block_on(w.tokens.access_token("alice"))), "u-3");
    assert_eq!(w.feishu.slept.get(), RACE_GRACE_MS);
    assert_eq!(*w.feishu.sent.borrow(), vec!["ur-1"]);
}

#[test]
fn two_clients_over_one_store_send_the_refresh_token_once() {
    let w = world();
    let other = client(&w.feishu, &w.clock, &w.store, 0.25);
    w.feishu.answers.borrow_mut().push_back(ok(2));
    let here = (0..100).map(|_| w.tokens.access_token("alice").boxed_local());
    let there = (0..100).map(|_| other.access_token("alice").boxed_local());
    let all = block_on(join_all(here.chain(there)));
    assert!(all.iter().all(|o| token_of(o) == "u-2"));
    assert_eq!(
        *w.feishu.sent.borrow(),
        vec!["ur-1"],
        "one refresh between both"
    );
    assert!(
        w.clock.0.get() - T0 < DEFAULT_CLAIM_LEASE_MS,
        "the waiter read the store, never waited out the lease"
    );
}

#[test]
fn a_claim_whose_holder_died_is_taken_over_after_its_lease() {
    let w = world();
    let dead = UserGrant {
        claim: Some(Claim {
            by: "dead".into(),
            until_ms: T0 + 3_000,
        }),
        ..grant(1, T0 + 300_000)
    };
    assert!(block_on(w.store.put("alice", Some(1), &dead)).unwrap());
    w.feishu.answers.borrow_mut().push_back(ok(2));
    assert_eq!(token_of(&block_on(w.tokens.access_token("alice"))), "u-2");
    assert!(w.clock.0.get() >= T0 + 3_000, "not before the lease ended");
    assert!(w.clock.0.get() < T0 + 4_000, "nor long after");
    assert_eq!(*w.feishu.sent.borrow(), vec!["ur-1"]);
}

#[test]
fn a_failed_refresh_releases_its_claim_and_keeps_the_grant() {
    let w = world();
    for _ in 0..2 {
        w.feishu.answers.borrow_mut().push_back(refused(20050));
    }
    assert!(block_on(w.tokens.access_token("alice")).is_err());
    let g = stored(&w).unwrap();
    assert_eq!(g.refresh_token.unwrap().expose_secret(), "ur-1", "kept");
    assert_eq!(g.claim, None, "released: the next caller need not wait");
}

/// A store whose `put` fails: nothing is sent, nothing lost.
struct FailingPuts(Rc<MemoryStore>);
impl UserStore for FailingPuts {
    async fn get(&self, user: &str) -> Result<Option<Versioned>, Error> {
        self.0.get(user).await
    }
    async fn put(&self, _: &str, _: Option<u64>, _: &UserGrant) -> Result<bool, Error> {
        Err(Error::invalid_input("store.put threw"))
    }
    async fn delete(&self, user: &str) -> Result<(), Error> {
        self.0.delete(user).await
    }
}

#[test]
fn a_store_whose_put_fails_sends_nothing_and_loses_nothing() {
    let w = world();
    let app = AppCredentials::parse("cli_a", "s3cret", ["appId", "appSecret"]).unwrap();
    let base = BaseUrl::parse("https://open.feishu.cn").unwrap();
    let failing = UserTokens::new(
        Rc::clone(&w.feishu),
        w.clock.clone(),
        base,
        app,
        FailingPuts(Rc::clone(&w.store)),
        1800,
    );
    let Err(UserTokenFailure::Failed(e)) = block_on(failing.access_token("alice")) else {
        panic!("a failure")
    };
    assert!(e.message().contains("store.put"), "{}", e.message());
    assert!(
        w.feishu.sent.borrow().is_empty(),
        "the refresh token unsent"
    );
    let g = stored(&w).unwrap();
    assert_eq!(g.refresh_token.unwrap().expose_secret(), "ur-1");
}
