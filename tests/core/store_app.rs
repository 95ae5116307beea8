//! The store-app chain (ticket -> app token -> tenant tokens) over a fake
//! Feishu that keeps state like the real one, with a hand-moved clock.
#![cfg(feature = "store-app")]

use feishu_tenant_token::secret::AppTicket;
use feishu_tenant_token::store_app::{
    AppCredentials, MemoryChain, MemoryTicketStore, StoreAppBuilder, StoreAppRequest,
    TICKET_RETRY_AFTER_SECS, TicketStore,
};
use feishu_tenant_token::{
    BaseUrl, Clock, ErrorCode, Freshness, HttpRequest, HttpResponse, TenantKey, Timer, Transport,
    TransportError,
};
use futures::executor::block_on;
use futures::future::join_all;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

const T0: u64 = 1_700_000_000_000;
const SECRET: &str = "app-secret-value";

#[derive(Clone)]
struct Clk(Rc<Cell<u64>>);
impl Clock for Clk {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// Feishu's three endpoints for one app, with switches for the error paths.
#[derive(Default)]
struct FakeFeishu {
    ticket: RefCell<String>,
    app_tokens_issued: Cell<u32>,
    valid_app_token: RefCell<String>,
    resend_answer: RefCell<Option<String>>,
    calls: RefCell<Vec<String>>,
}

impl FakeFeishu {
    fn count(&self, path_end: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|p| p.ends_with(path_end))
            .count()
    }

    fn answer(&self, req: &HttpRequest) -> HttpResponse {
        let body = req.body_text();
        let reply = |status: u16, body: String| HttpResponse {
            status,
            ratelimit_reset: None,
            body,
        };
        self.calls.borrow_mut().push(req.url.clone());
        if req.url.ends_with("/app_ticket/resend") {
            let custom = self.resend_answer.borrow().clone();
            return reply(
                200,
                custom.unwrap_or_else(|| r#"{"code":0,"msg":"ok"}"#.into()),
            );
        }
        if req.url.ends_with("/app_access_token") {
            if !body.contains(&format!(r#""app_secret":"{SECRET}""#)) {
                return reply(400, r#"{"code":10003,"msg":"invalid app_secret"}"#.into());
            }
            if !body.contains(&format!(r#""app_ticket":"{}""#, self.ticket.borrow())) {
                return reply(
                    400,
                    r#"{"code":10012,"msg":"app_ticket is invalid"}"#.into(),
                );
            }
            self.app_tokens_issued.set(self.app_tokens_issued.get() + 1);
            let token = format!("a-{}", self.app_tokens_issued.get());
            *self.valid_app_token.borrow_mut() = token.clone();
            return reply(
                200,
                format!(r#"{{"code":0,"msg":"ok","app_access_token":"{token}","expire":7200}}"#),
            );
        }
        let app = self.valid_app_token.borrow().clone();
        if app.is_empty() || !body.contains(&format!(r#""app_access_token":"{app}""#)) {
            return reply(
                400,
                r#"{"code":99991664,"msg":"invalid app access token"}"#.into(),
            );
        }
        let tenant = body
            .split(r#""tenant_key":""#)
            .nth(1)
            .unwrap_or("")
            .trim_end_matches("\"}");
        reply(
            200,
            format!(
                r#"{{"code":0,"msg":"ok","tenant_access_token":"t-{tenant}-{app}","expire":7200}}"#
            ),
        )
    }
}

#[derive(Clone)]
struct Net(Rc<FakeFeishu>);
impl Transport for Net {
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        std::future::ready(Ok(self.0.answer(&request)))
    }
}

impl Timer for Net {
    fn sleep(&self, _ms: u64) -> impl Future<Output = ()> {
        std::future::ready(())
    }

    fn random(&self) -> f64 {
        0.5
    }
}

type Chain = MemoryChain<Net, Clk, Rc<MemoryTicketStore>>;

struct World {
    feishu: Rc<FakeFeishu>,
    clock: Rc<Cell<u64>>,
    tickets: Rc<MemoryTicketStore>,
    chain: Chain,
}

fn world(secret: &str) -> World {
    let feishu = Rc::new(FakeFeishu::default());
    *feishu.ticket.borrow_mut() = "tkt-1".into();
    let clock = Rc::new(Cell::new(T0));
    let clk = Clk(clock.clone());
    let net = Net(feishu.clone());
    let base = BaseUrl::parse("http://127.0.0.1:1").unwrap();
    let creds = AppCredentials::parse("cli_test", secret, ["appId", "appSecret"]).unwrap();
    let tickets = Rc::new(MemoryTicketStore::default());
    let chain = StoreAppBuilder::new(net, clk, base, creds, tickets.clone())
        .freshness(Freshness::default())
        .build();
    World {
        feishu,
        clock,
        tickets,
        chain,
    }
}

impl World {
    fn tenant(&self, t: &str) -> StoreAppRequest {
        self.chain.request(TenantKey::parse(t).unwrap())
    }
    fn get(&self, t: &str) -> Result<String, feishu_tenant_token::Error> {
        block_on(self.chain.tenants().get(&self.tenant(t)))
            .map(|g| g.token.expose_secret().to_owned())
    }
    fn give_ticket(&self, t: &str) {
        block_on(self.tickets.put(&AppTicket::new(t))).unwrap();
    }
    fn advance_secs(&self, s: u64) {
        self.clock.set(self.clock.get() + s * 1000);
    }
}

#[test]
fn the_whole_chain_with_each_token_cached() {
    let w = world(SECRET);
    w.give_ticket("tkt-1");
    assert_eq!(w.get("tenant-a").unwrap(), "t-tenant-a-a-1");
    assert_eq!(w.get("tenant-b").unwrap(), "t-tenant-b-a-1");
    assert_eq!(w.get("tenant-a").unwrap(), "t-tenant-a-a-1");
    assert_eq!(
        w.feishu.count("/app_access_token"),
        1,
        "one app token for both tenants"
    );
    assert_eq!(
        w.feishu.count("/tenant_access_token"),
        2,
        "one fetch per tenant"
    );
    assert_eq!(w.feishu.count("/resend"), 0);
}

#[test]
fn a_cold_stampede_makes_one_app_call_and_one_call_per_tenant() {
    let w = world(SECRET);
    w.give_ticket("tkt-1");
    let reqs: Vec<_> = (0..60).map(|i| w.tenant(&format!("t{}", i % 3))).collect();
    let results = block_on(join_all(reqs.iter().map(|r| w.chain.tenants().get(r))));
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(w.feishu.count("/app_access_token"), 1);
    assert_eq!(w.feishu.count("/tenant_access_token"), 3);
}

#[test]
fn no_ticket_asks_for_a_resend_once_a_minute_and_says_when_to_retry() {
    let w = world(SECRET);
    let e = w.get("t").unwrap_err();
    assert_eq!(e.code(), ErrorCode::AppTicketMissing);
    assert_eq!(e.retry_after_secs(), Some(TICKET_RETRY_AFTER_SECS));
    assert_eq!(w.feishu.count("/resend"), 1);
    w.advance_secs(30);
    assert_eq!(w.get("t").unwrap_err().code(), ErrorCode::AppTicketMissing);
    assert_eq!(w.feishu.count("/resend"), 1, "still within the minute");
    w.advance_secs(31);
    assert_eq!(w.get("t").unwrap_err().code(), ErrorCode::AppTicketMissing);
    assert_eq!(w.feishu.count("/resend"), 2);
    // The pushed ticket arrives: the chain works without further ado.
    w.give_ticket("tkt-1");
    assert!(w.get("t").is_ok());
    assert_eq!(
        w.feishu.count("/tenant_access_token"),
        1,
        "nothing sent without an app token"
    );
}

#[test]
fn an_invalid_ticket_is_dropped_and_resent() {
    let w = world(SECRET);
    w.give_ticket("tkt-old");
    let e = w.get("t").unwrap_err();
    assert_eq!(e.code(), ErrorCode::AppTicketMissing, "{e}");
    assert!(e.message().contains("10012"), "{e}");
    assert_eq!(block_on(w.tickets.get()).unwrap(), None, "dropped");
    assert_eq!(w.feishu.count("/resend"), 1);
    assert_eq!(
        w.feishu.count("/app_access_token"),
        1,
        "10012 is not retried"
    );
}

#[test]
fn a_refused_app_token_is_replaced_once_and_the_call_retried() {
    let w = world(SECRET);
    w.give_ticket("tkt-1");
    assert_eq!(w.get("t1").unwrap(), "t-t1-a-1");
    // Feishu stops accepting a-1 long before its expiry.
    *w.feishu.valid_app_token.borrow_mut() = "a-other".into();
    w.feishu.app_tokens_issued.set(1);
    assert_eq!(w.get("t2").unwrap(), "t-t2-a-2");
    assert_eq!(w.feishu.count("/app_access_token"), 2);
    assert_eq!(
        w.feishu.count("/tenant_access_token"),
        3,
        "t1, t2 refused, t2 again"
    );
    // The replacement is cached: the next tenant uses it directly.
    assert_eq!(w.get("t3").unwrap(), "t-t3-a-2");
    assert_eq!(w.feishu.count("/app_access_token"), 2);
}

#[test]
fn refusals_that_a_retry_cannot_fix_are_reported_as_feishu_said() {
    let w = world("wrong-secret");
    w.give_ticket("tkt-1");
    let e = w.get("t").unwrap_err();
    assert_eq!(
        (e.code(), e.feishu_code()),
        (ErrorCode::FeishuApiError, Some(10003))
    );
    assert_eq!(w.feishu.count("/app_access_token"), 1);
    assert!(!format!("{e} {e:?}").contains("wrong-secret"));

    // A resend refused for bad credentials beats "ticket missing".
    let w = world("wrong-secret");
    *w.feishu.resend_answer.borrow_mut() =
        Some(r#"{"code":10003,"msg":"bad app_secret wrong-secret"}"#.into());
    let e = w.get("t").unwrap_err();
    assert_eq!(e.feishu_code(), Some(10003));
    assert!(!format!("{e} {e:?}").contains("wrong-secret"), "{e}");
}

#[test]
fn app_and_tenant_tokens_follow_the_freshness_rule() {
    let w = world(SECRET);
    w.give_ticket("tkt-1");
    w.get("t").unwrap();
    // 1 h 31 min later both tokens have < 30 min left: both are fetched again.
    w.advance_secs(91 * 60);
    w.get("t").unwrap();
    assert_eq!(w.feishu.count("/app_access_token"), 2);
    assert_eq!(w.feishu.count("/tenant_access_token"), 2);
}

#[test]
fn errors_never_carry_the_ticket_or_secret() {
    let w = world(SECRET);
    w.give_ticket("tkt-secret-ticket");
    let e = w.get("t").unwrap_err();
    let shown = format!("{e} {e:?} {:?}", e.raw_body());
    assert!(
        !shown.contains("tkt-secret-ticket") && !shown.contains(SECRET),
        "{shown}"
    );
}
