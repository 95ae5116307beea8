//! Each app's event log (class `EventLog`, binding `EVENT_LOGS`, named
//! `events:v1:<brand>:<app_id>`; `events::log` has its rules): an event
//! recorded once (its `event_id`, and a received message's `message_id`,
//! remembered as long as the event is kept, 72 hours), numbered in the
//! order received; the object's alarm pushes each to every handler in
//! `EVENT_SUBSCRIBERS` in that order, one handler's failure holding only
//! its own later events, retried with backoff for 72 hours, then a dead
//! letter. Its input gate runs one question at a time, so two fronts given
//! the same event record it once.

use crate::cache::object_store::ObjectStore;
use crate::config::Brand;
use crate::config::events::Subscriber;
use crate::events::card::CARD_ACTION;
use crate::events::handler::hand_on;
use crate::events::log::{Dead, Failed, KEEP_MS, Kept, Meta};
use crate::events::pull::{MAX_EVENTS, Pull};
use crate::events::recent::{MARKS_PER_GENERATION, Recent};
use crate::events::record::Arrived;
use crate::events::{DEAD_PATH, PULL_PATH, RECORD_PATH, REPLAY_PATH};
use crate::http::reply;
use crate::http::request::read_body;
use crate::log;
use crate::sources::clients::{Net, transport};
use crate::sources::state::config_for;
use core::cell::{Cell, RefCell};
use feishu_tenant_token::Clock;
use feishu_tenant_token::event::EventConfig;
use feishu_tenant_token::host::JsClock;
use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Delay, DurableObject, Env, Request, Response, State, durable_object};

/// An event is at most the body Feishu may send, opened.
const MAX_QUESTION_BYTES: usize = 256 * 1024;
/// Pushes per handler per alarm (the alarm runs again at once for more).
const PUSHES_PER_ALARM: usize = 50;
/// How often a waiting pull looks for a new event.
const PULL_POLL_MS: u64 = 100;
/// Old events dropped per alarm.
const DROPS_PER_ALARM: usize = 100;
const META: &str = "meta";

fn event_key(seq: u64) -> String {
    format!("ev:{seq:012}")
}

#[durable_object(alarm)]
pub struct EventLog {
    env: Env,
    store: ObjectStore,
    /// The log's numbers, once read: the one copy every question and the
    /// alarm change in place. A push awaits its handler with the input gate
    /// open, so events are recorded meanwhile: a copy held across that
    /// await and written back would number two events alike.
    meta: RefCell<Option<Meta>>,
    /// The marks recorded or found lately: a retry known without a read.
    recent: RefCell<Recent>,
    /// When the alarm is set for (the time it started while it runs; its
    /// run ends by setting the next from the log): a record that finds it
    /// due already sets none.
    alarm_at: Cell<Option<u64>>,
}

impl EventLog {
    /// Reads the numbers once; then `f` over the one copy.
    async fn with_meta<T>(&self, f: impl FnOnce(&mut Meta) -> T) -> worker::Result<T> {
        if self.meta.borrow().is_none() {
            let stored = self
                .store
                .get(META)
                .await?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_else(Meta::new);
            self.meta.borrow_mut().get_or_insert(stored);
        }
        let mut slot = self.meta.borrow_mut();
        Ok(f(slot.get_or_insert_with(Meta::new)))
    }

    async fn save(&self) -> worker::Result<()> {
        let text = self
            .with_meta(|m| serde_json::to_string(m).unwrap_or_default())
            .await?;
        self.store.put(META, &text).await
    }

    async fn kept(&self, seq: u64) -> worker::Result<Option<Kept>> {
        Ok(self
            .store
            .get(&event_key(seq))
            .await?
            .and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Records one event, or says it was seen.
    async fn record(&self, arrived: Arrived) -> worker::Result<Response> {
        let seen_id = format!("id:{}", arrived.event_id);
        let seen_message = arrived.message_id.as_ref().map(|m| format!("msg:{m}"));
        let marks: Vec<&str> = core::iter::once(seen_id.as_str())
            .chain(seen_message.as_deref())
            .collect();
        let held = {
            let recent = self.recent.borrow();
            marks.iter().any(|m| recent.holds(m))
        };
        if held || self.store.any_kept(&marks).await? {
            self.hold(&marks);
            return reply::json_response(200, "duplicate".to_owned());
        }
        let handlers = self.target_count(&arrived.app_id, brand_named(&arrived.brand));
        let now = JsClock.now_ms();
        // Numbered in one step on the one copy (no await in between).
        let (seq, first, meta) = self
            .with_meta(|m| {
                m.app_id.clone_from(&arrived.app_id);
                m.brand.clone_from(&arrived.brand);
                for i in 0..handlers {
                    m.place(i);
                }
                let seq = m.take_seq();
                (
                    seq,
                    m.first_seq,
                    serde_json::to_string(m).unwrap_or_default(),
                )
            })
            .await?;
        let kept = Kept {
            seq,
            at_ms: now,
            event_id: arrived.event_id,
            event_type: arrived.event_type,
            message_id: arrived.message_id,
            plaintext: arrived.plaintext,
        };
        let (key, value, number) = (
            event_key(seq),
            serde_json::to_string(&kept).unwrap_or_default(),
            seq.to_string(),
        );
        // The event, its marks and the log's numbers: one write.
        let mut entries = vec![(key.as_str(), value.as_str()), (META, meta.as_str())];
        entries.extend(marks.iter().map(|m| (*m, number.as_str())));
        self.hold(&marks);
        self.store.put_all(&entries).await?;
        if handlers > 0 && self.alarm_at.get().is_none_or(|at| at > now) {
            self.alarm_at.set(Some(now));
            self.schedule(now).await;
        } else if seq == first {
            self.schedule(now + KEEP_MS).await;
        }
        reply::json_response(200, "recorded".to_owned())
    }

    /// Sets the object's one alarm at `at_ms`.
    async fn schedule(&self, at_ms: u64) {
        if self.store.set_alarm(at_ms).await.is_err() {
            log::warn("event_log_alarm_failed", "setAlarm refused");
        }
    }

    fn hold(&self, marks: &[&str]) {
        let mut recent = self.recent.borrow_mut();
        for m in marks {
            recent.hold((*m).to_owned());
        }
    }

    /// How many places the app's events go (its settings may change
    /// between runs): its handlers, and the queue when bound.
    fn target_count(&self, app_id: &str, brand: Brand) -> usize {
        let handlers = config_for(&self.env, brand)
            .map(|c| c.events.subscribers(app_id).len())
            .unwrap_or_default();
        handlers + usize::from(self.queue().is_some())
    }

    /// Where the app's events go: its handlers, then the `EVENTS` queue
    /// when bound (each with its own place in the log).
    fn targets(&self, handlers: &[Subscriber]) -> Vec<Target> {
        let mut targets: Vec<Target> = handlers.iter().cloned().map(Target::Handler).collect();
        targets.extend(self.queue().map(Target::Queue));
        targets
    }

    /// The `EVENTS` Queue producer binding, when bound.
    fn queue(&self) -> Option<JsValue> {
        Reflect::get(&self.env, &JsValue::from_str(EVENTS_QUEUE))
            .ok()
            .filter(JsValue::is_object)
    }

    /// Hands one event to a target: whether it took it.
    async fn hand(
        &self,
        target: &Target,
        net: Option<&Net>,
        check: Option<&EventConfig>,
        app_id: &str,
        event: &Kept,
    ) -> bool {
        match (target, net, check) {
            // A handler took it when it answered 2xx.
            (Target::Handler(sub), Some(net), Some(check)) => {
                hand_on(net, check, &sub.url, &event.plaintext)
                    .await
                    .is_some_and(|r| (200..300).contains(&r.status))
            }
            (Target::Handler(_), _, _) => false,
            (Target::Queue(queue), _, _) => send_to_queue(queue, app_id, event).await,
        }
    }
}

/// The optional Queue producer binding: one message per event.
pub const EVENTS_QUEUE: &str = "EVENTS";

/// A place events go.
enum Target {
    Handler(Subscriber),
    /// A Cloudflare Queue (its binding, used through its JS `send`).
    Queue(JsValue),
}

impl Target {
    fn takes(&self, event_type: &str) -> bool {
        match self {
            Target::Handler(s) => s.takes(event_type),
            Target::Queue(_) => event_type != CARD_ACTION,
        }
    }
}

/// One message on the queue: the app, the event's place and ids, and
/// Feishu's event as JSON.
async fn send_to_queue(queue: &JsValue, app_id: &str, event: &Kept) -> bool {
    #[derive(Serialize)]
    struct Message<'a> {
        app_id: &'a str,
        seq: u64,
        event_id: &'a str,
        event_type: &'a str,
        event: serde_json::Value,
    }
    let message = Message {
        app_id,
        seq: event.seq,
        event_id: &event.event_id,
        event_type: &event.event_type,
        event: serde_json::from_str(&event.plaintext).unwrap_or_default(),
    };
    let text = serde_json::to_string(&message).unwrap_or_default();
    let Ok(body) = js_sys::JSON::parse(&text) else {
        return false;
    };
    let Ok(send) =
        Reflect::get(queue, &JsValue::from_str("send")).and_then(|f| f.dyn_into::<Function>())
    else {
        return false;
    };
    let Ok(promise) = send
        .call1(queue, &body)
        .and_then(|p| p.dyn_into::<Promise>())
    else {
        return false;
    };
    JsFuture::from(promise).await.is_ok()
}

fn brand_named(name: &str) -> Brand {
    if name == Brand::Lark.name() {
        Brand::Lark
    } else {
        Brand::Feishu
    }
}

impl DurableObject for EventLog {
    fn new(state: State, env: Env) -> Self {
        let store = ObjectStore::of(&state);
        Self {
            env,
            store,
            meta: RefCell::new(None),
            recent: RefCell::new(Recent::new(MARKS_PER_GENERATION)),
            alarm_at: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        let Ok(body) = read_body(&mut req, MAX_QUESTION_BYTES).await? else {
            return reply::json_response(400, String::new());
        };
        if path.ends_with(DEAD_PATH) {
            return self.dead_letters().await;
        }
        if path.ends_with(REPLAY_PATH) {
            let seq = core::str::from_utf8(&body)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            return self.replay(seq).await;
        }
        if path.ends_with(PULL_PATH) {
            return match serde_json::from_slice::<Pull>(&body) {
                Ok(pull) => self.pull(pull).await,
                Err(_) => reply::json_response(400, String::new()),
            };
        }
        if !path.ends_with(RECORD_PATH) {
            return reply::json_response(404, String::new());
        }
        match serde_json::from_slice::<Arrived>(&body) {
            Ok(arrived) => self.record(arrived).await,
            Err(_) => reply::json_response(400, String::new()),
        }
    }

    /// Pushes what is due to each handler, in order; drops events past
    /// 72 hours that every handler is past; sets the next alarm.
    async fn alarm(&self) -> worker::Result<Response> {
        // Running: what is recorded meanwhile is seen by this run's end.
        self.alarm_at.set(Some(JsClock.now_ms()));
        let (app_id, brand) = self
            .with_meta(|m| (m.app_id.clone(), brand_named(&m.brand)))
            .await?;
        let config = match config_for(&self.env, brand) {
            Ok(c) => c,
            Err(why) => {
                log::warn("event_log_misconfigured", &why);
                return reply::json_response(200, String::new());
            }
        };
        let subscribers = self.targets(config.events.subscribers(&app_id));
        let check = config.events.app(&app_id, brand).map(|a| a.check.clone());
        let net = transport(&config).ok();
        let mut more = false;
        for (i, sub) in subscribers.iter().enumerate() {
            let mut pushed = 0;
            loop {
                let now = JsClock.now_ms();
                let due = self.with_meta(|m| {
                    m.place(i);
                    m.due(i, now).then(|| m.places[i].next_seq)
                });
                let Some(seq) = due.await? else {
                    break;
                };
                if pushed == PUSHES_PER_ALARM {
                    more = true;
                    break;
                }
                let event = match self.kept(seq).await? {
                    Some(e) if sub.takes(&e.event_type) => e,
                    // Dropped already (past 72 hours), or not this handler's type.
                    _ => {
                        self.with_meta(|m| m.places[i].delivered()).await?;
                        continue;
                    }
                };
                pushed += 1;
                let ok = self
                    .hand(sub, net.as_ref(), check.as_ref(), &app_id, &event)
                    .await;
                let now = JsClock.now_ms();
                let retry_ms = config.events.retry_ms;
                let outcome = self
                    .with_meta(|m| {
                        (!ok)
                            .then(|| m.places[i].failed(event.at_ms, now, retry_ms))
                            .or_else(|| {
                                m.places[i].delivered();
                                None
                            })
                    })
                    .await?;
                let Some(outcome) = outcome else {
                    continue;
                };
                #[derive(Serialize)]
                struct Line<'a> {
                    event: &'static str,
                    app: &'a str,
                    handler: usize,
                    seq: u64,
                    event_type: &'a str,
                    dead_letter: bool,
                }
                let dead = outcome == Failed::Dead;
                log::warn_line(&Line {
                    event: "event_push_failed",
                    app: &app_id,
                    handler: i,
                    seq,
                    event_type: &event.event_type,
                    dead_letter: dead,
                });
                if !dead {
                    break;
                }
                self.bury(i, &event, now).await?;
            }
        }
        let dropped = self.drop_old(subscribers.len()).await?;
        self.save().await?;
        let now = JsClock.now_ms();
        let (first, due) = self
            .with_meta(|m| (m.first_seq, m.next_due(subscribers.len())))
            .await?;
        let oldest = self.kept(first).await?.map(|e| e.at_ms + KEEP_MS);
        let next = if more || dropped == DROPS_PER_ALARM {
            Some(now)
        } else {
            match (due, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        self.alarm_at.set(next.map(|at| at.max(now)));
        if let Some(at) = next {
            self.schedule(at.max(now)).await;
        }
        reply::json_response(200, String::new())
    }
}

/// One event as a pull hands it out.
#[derive(Serialize)]
struct Pulled {
    seq: u64,
    event_id: String,
    event_type: String,
    event: serde_json::Value,
}

#[derive(Serialize)]
struct PullAnswer {
    events: Vec<Pulled>,
    next_cursor: String,
}

fn dead_key(handler: usize, seq: u64) -> String {
    format!("dead:{handler}:{seq:012}")
}

impl EventLog {
    /// Keeps `event` as handler `i`'s dead letter (a copy: the log drops
    /// its events after 72 hours).
    async fn bury(&self, i: usize, event: &Kept, now: u64) -> worker::Result<()> {
        self.store
            .put(
                &dead_key(i, event.seq),
                &serde_json::to_string(event).unwrap_or_default(),
            )
            .await?;
        let dead = Dead {
            handler: i,
            seq: event.seq,
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            died_ms: now,
        };
        let gone = self.with_meta(|m| m.bury(dead, now)).await?;
        for d in gone {
            self.store.delete(&dead_key(d.handler, d.seq)).await?;
        }
        Ok(())
    }

    /// `/events/dead`: the dead letters, oldest first.
    async fn dead_letters(&self) -> worker::Result<Response> {
        let dead = self.with_meta(|m| m.dead.clone()).await?;
        reply::json_response(200, serde_json::json!({ "dead_letters": dead }).to_string())
    }

    /// `/events/replay`: each dead letter (of `seq` only, when given) pushed
    /// again to its handler now; those taken leave the list.
    async fn replay(&self, seq: Option<u64>) -> worker::Result<Response> {
        let (app_id, brand) = self
            .with_meta(|m| (m.app_id.clone(), brand_named(&m.brand)))
            .await?;
        let config = match config_for(&self.env, brand) {
            Ok(c) => c,
            Err(why) => return reply::local(crate::http::reply::Local::Misconfigured, &why),
        };
        let targets = self.targets(config.events.subscribers(&app_id));
        let check = config.events.app(&app_id, brand).map(|a| a.check.clone());
        let net = transport(&config).ok();
        let chosen: Vec<Dead> = self
            .with_meta(|m| {
                m.dead
                    .iter()
                    .filter(|d| seq.is_none_or(|s| s == d.seq))
                    .cloned()
                    .collect()
            })
            .await?;
        let (mut replayed, mut failed) = (0, 0);
        for d in chosen {
            let copy = self.store.get(&dead_key(d.handler, d.seq)).await?;
            let event = copy.and_then(|t| serde_json::from_str::<Kept>(&t).ok());
            let taken = match (event, targets.get(d.handler)) {
                (Some(e), Some(target)) => {
                    self.hand(target, net.as_ref(), check.as_ref(), &app_id, &e)
                        .await
                }
                _ => false,
            };
            if taken {
                replayed += 1;
                self.store.delete(&dead_key(d.handler, d.seq)).await?;
                self.with_meta(|m| {
                    m.dead
                        .retain(|x| !(x.handler == d.handler && x.seq == d.seq))
                })
                .await?;
            } else {
                failed += 1;
            }
        }
        self.save().await?;
        reply::json_response(
            200,
            serde_json::json!({ "replayed": replayed, "failed": failed }).to_string(),
        )
    }

    /// The first event a pull takes: the group's place, or the one after the
    /// caller's cursor (the oldest kept without one).
    async fn start_of(&self, pull: &Pull) -> worker::Result<u64> {
        let first = self.with_meta(|m| m.first_seq.max(1)).await?;
        let start = match &pull.group {
            Some(g) => self
                .store
                .get(&format!("group:{g}"))
                .await?
                .and_then(|t| t.parse().ok())
                .unwrap_or(first),
            None => pull.cursor.map_or(first, |c| c.saturating_add(1)),
        };
        Ok(start.max(first))
    }

    /// Events from the pull's place on, waiting up to its `wait_ms` for one.
    async fn pull(&self, pull: Pull) -> worker::Result<Response> {
        let deadline = JsClock.now_ms() + pull.wait_ms;
        loop {
            let start = self.start_of(&pull).await?;
            let next = self.with_meta(|m| m.next_seq).await?;
            if start < next || JsClock.now_ms() >= deadline {
                break;
            }
            // The input gate is open while waiting: events are recorded meanwhile.
            Delay::from(core::time::Duration::from_millis(PULL_POLL_MS)).await;
        }
        // From here on only storage is awaited (the input gate closed): two
        // instances of one group never take the same events.
        let start = self.start_of(&pull).await?;
        let next = self.with_meta(|m| m.next_seq).await?;
        let end = next.min(start + MAX_EVENTS as u64);
        let mut events = Vec::new();
        for seq in start..end {
            if let Some(e) = self.kept(seq).await?
                && pull
                    .types
                    .as_ref()
                    .is_none_or(|t| t.contains(&e.event_type))
            {
                events.push(Pulled {
                    seq,
                    event_id: e.event_id,
                    event_type: e.event_type,
                    event: serde_json::from_str(&e.plaintext).unwrap_or_default(),
                });
            }
        }
        if let Some(g) = &pull.group {
            self.store
                .put(&format!("group:{g}"), &end.to_string())
                .await?;
        }
        let answer = PullAnswer {
            events,
            next_cursor: end.saturating_sub(1).to_string(),
        };
        reply::json_response(200, serde_json::to_string(&answer).unwrap_or_default())
    }

    /// Events past 72 hours that every handler is past, dropped with the ids
    /// that kept their repeats out; how many.
    async fn drop_old(&self, handlers: usize) -> worker::Result<usize> {
        let now = JsClock.now_ms();
        let mut dropped = 0;
        while dropped < DROPS_PER_ALARM {
            let (first, below) = self
                .with_meta(|m| (m.first_seq, m.delivered_below(handlers)))
                .await?;
            if first >= below {
                break;
            }
            if let Some(e) = self.kept(first).await? {
                if now.saturating_sub(e.at_ms) < KEEP_MS {
                    break;
                }
                let id = format!("id:{}", e.event_id);
                self.store.delete(&id).await?;
                self.recent.borrow_mut().forget(&id);
                if let Some(m) = &e.message_id {
                    let mark = format!("msg:{m}");
                    self.store.delete(&mark).await?;
                    self.recent.borrow_mut().forget(&mark);
                }
                self.store.delete(&event_key(e.seq)).await?;
            }
            self.with_meta(|m| m.first_seq = first + 1).await?;
            dropped += 1;
        }
        Ok(dropped)
    }
}
