//! The isolate's view of the agent keys: `AGENT_KEYS` merged with the key
//! registry's (`config::agent_keys::registry`, kept by the one
//! `KeyRegistry` object). A key's use reads the view in memory; when the
//! view is older than [`VIEW_MAX_AGE_MS`] and the credential is one this
//! Worker made (a known key, a tagged key, a gateway token it signed), the
//! registry is asked what changed first. So a key revoked anywhere is
//! refused everywhere within a second of the next use, a key made in
//! another isolate works here at once, and a made-up credential never
//! costs an object question. Without the binding: `AGENT_KEYS` alone.

use crate::agents::grants::Settings;
use crate::cache::ask::Want;
use crate::config::agent_keys::AgentKey;
use crate::config::agent_keys::registry::Registry;
use crate::config::{Agents, Brand, Config};
use crate::coordinator::KEY_REGISTRY_BINDING;
use crate::coordinator::ask::{post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::http::reply::{self, Local};
use crate::log;
use core::cell::{Cell, RefCell};
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use std::rc::Rc;
use worker::{Delay, Env, ObjectNamespace};

/// The registry's questions (to its object only).
pub const VIEW_PATH: &str = "/registry/view";
pub const CHANGE_PATH: &str = "/registry/change";
pub const AUDIT_PATH: &str = "/registry/audit";
/// The one object's name.
pub const REGISTRY_NAME: &str = "registry:v1";
/// The view's answer when nothing changed since the version asked about.
pub const SAME: &str = "same";

/// What the admin endpoints send the registry: a change (or none), and the
/// audit line that records it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Asked {
    #[serde(default)]
    pub change: Option<crate::config::agent_keys::registry::Change>,
    pub audit: serde_json::Value,
}

/// How old the view may be when a key is used: a revocation reaches every
/// isolate within this (the "refused everywhere within 1 s").
pub const VIEW_MAX_AGE_MS: u64 = 1000;

/// The registry as last read, and its merge with each brand's settings.
struct Held {
    read_ms: u64,
    registry: Rc<Registry>,
    /// Per brand (Feishu, Lark): the version merged and the keys.
    merged: [Option<(u64, Rc<Agents>)>; 2],
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    /// Whether the binding is there (bindings do not change in an isolate's
    /// life): asked once.
    static BOUND: Cell<Option<bool>> = const { Cell::new(None) };
    static LAST_FAULT_MS: Cell<u64> = const { Cell::new(0) };
    /// A read of the registry is under way: the calls meanwhile decide with
    /// the view they have (one read per isolate at a time, however many
    /// calls find the view a second old together).
    static READING: Cell<bool> = const { Cell::new(false) };
}

/// How long a call with a key the view lacks waits for another call's
/// read: steps of 2 ms, at most a second.
const WAIT_STEP_MS: u64 = 2;
const WAIT_STEPS: u32 = 500;

/// Marks a read under way for as long as it lives (a dropped request's
/// read included).
struct Reading;

impl Reading {
    fn start() -> Option<Self> {
        (!READING.with(|r| r.replace(true))).then_some(Self)
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READING.with(|r| r.set(false));
    }
}

/// The keys a decision reads.
pub struct Keys(Option<Rc<Agents>>);

impl Keys {
    pub fn agents<'a>(&'a self, config: &'a Config) -> &'a Agents {
        self.0.as_deref().unwrap_or(&config.agents)
    }
}

/// The registry as last read (empty before the first read).
pub fn last_read() -> Rc<Registry> {
    HELD.with(|h| {
        h.borrow()
            .as_ref()
            .map(|h| h.registry.clone())
            .unwrap_or_default()
    })
}

/// The registry's object, when bound.
pub fn namespace(env: &Env) -> Option<ObjectNamespace> {
    env.durable_object(KEY_REGISTRY_BINDING).ok()
}

fn bound(env: &Env) -> bool {
    BOUND.with(|b| match b.get() {
        Some(known) => known,
        None => {
            let bound = namespace(env).is_some();
            b.set(Some(bound));
            bound
        }
    })
}

/// The keys as this isolate knows them (no I/O).
pub fn current(config: &Config) -> Keys {
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        let Some(held) = h.as_mut() else {
            return Keys(None);
        };
        let slot = &mut held.merged[config.brand as usize];
        if let Some((v, agents)) = slot
            && *v == held.registry.version
        {
            return Keys(Some(agents.clone()));
        }
        let agents = Rc::new(merge(config, &held.registry));
        *slot = Some((held.registry.version, agents.clone()));
        Keys(Some(agents))
    })
}

fn merge(config: &Config, registry: &Registry) -> Agents {
    let holds = |a: &str| config.held_app(a).is_some();
    let is_store = |a: &str| config.is_store_app(a);
    let (keys, skipped) = registry.merged(&config.agents.keys, &holds, &is_store, JsClock.now_ms());
    for why in skipped {
        log::warn("registry_key_skipped", &why);
    }
    Agents {
        keys,
        ..config.agents.clone()
    }
}

/// The keys to decide with. `made_by_us` says, of the keys as known, whether
/// the credential at hand is this Worker's (`Some`), and whether the view
/// knows its key (`Some(true)`): only for the Worker's own, and only when
/// the view is older than a second, is the registry asked what changed.
/// While another call reads it, a known key is decided with the view at
/// hand; an unknown one waits for the read.
pub async fn keys(
    env: &Env,
    config: &Config,
    made_by_us: impl FnOnce(&Agents) -> Option<bool>,
) -> Keys {
    let known = current(config);
    if !bound(env) {
        return known;
    }
    let now = JsClock.now_ms();
    let fresh = HELD.with(|h| {
        h.borrow()
            .as_ref()
            .is_some_and(|h| now.saturating_sub(h.read_ms) < VIEW_MAX_AGE_MS)
    });
    if fresh {
        return known;
    }
    let Some(in_view) = made_by_us(known.agents(config)) else {
        return known;
    };
    let Some(_reading) = Reading::start() else {
        if !in_view {
            // Another call is reading: this key may be in what it reads.
            for _ in 0..WAIT_STEPS {
                Delay::from(core::time::Duration::from_millis(WAIT_STEP_MS)).await;
                if !READING.with(Cell::get) {
                    break;
                }
            }
            return current(config);
        }
        return known;
    };
    refresh(env).await;
    current(config)
}

/// The entry of agent key `key` presented as a bearer (its own usage, its
/// app's events), with the view as fresh as a key's use wants it: a key the
/// view knows, or (with `app_id`) one this Worker made for that app, reads
/// the registry when the view is a second old. `Err`: the refusal of a key
/// that is not (or no longer) one of this Worker's.
pub async fn presented(
    env: &Env,
    config: &Config,
    key: &str,
    app_id: Option<&str>,
) -> worker::Result<Result<AgentKey, worker::Response>> {
    let now = JsClock.now_ms();
    let keys = keys(env, config, |agents| {
        let settings = settings_with(config, agents);
        match app_id {
            Some(app) => settings.key_made_by_us(key, app),
            None => settings.key_entry(key, now).map(|_| true),
        }
    })
    .await;
    match settings_with(config, keys.agents(config)).key_entry(key, now) {
        Some(entry) => Ok(Ok(entry.clone())),
        None => reply::local(
            Local::Unauthorized,
            "not an agent key of this Worker (unknown, revoked or expired)",
        )
        .map(Err),
    }
}

/// Reads the registry's changes into this isolate (a fault is logged at
/// most once a minute; the view read before stays, for another second).
pub async fn refresh(env: &Env) {
    let now = JsClock.now_ms();
    let since = HELD.with(|h| h.borrow().as_ref().map(|h| h.registry.version));
    let answer = match namespace(env) {
        Some(ns) => {
            ask(
                &ns,
                VIEW_PATH,
                &since.map_or(String::new(), |v| v.to_string()),
            )
            .await
        }
        None => return,
    };
    let read = match answer {
        Ok(text) if text == SAME => None,
        Ok(text) => match serde_json::from_str::<Registry>(&text) {
            Ok(r) => Some(r),
            Err(_) => {
                fault("the key registry's view could not be read");
                None
            }
        },
        Err(why) => {
            fault(&why);
            None
        }
    };
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        match (h.as_mut(), read) {
            (Some(held), None) => held.read_ms = now,
            (_, Some(registry)) => {
                *h = Some(Held {
                    read_ms: now,
                    registry: Rc::new(registry),
                    merged: [None, None],
                });
            }
            (None, None) => {
                *h = Some(Held {
                    read_ms: now,
                    registry: Rc::default(),
                    merged: [None, None],
                });
            }
        }
    });
}

/// `body` to the registry's object at `path`: its answer's text (`Err`
/// for anything but 200).
pub async fn ask(ns: &ObjectNamespace, path: &str, body: &str) -> Result<String, String> {
    let stub = stub(ns, REGISTRY_NAME)?;
    let url = format!("{OBJECT_ORIGIN}{path}");
    match post(&stub, &url, body, Want::Servable).await {
        Ok(a) if a.status == 200 => Ok(a.body),
        Ok(a) => Err(format!(
            "the key registry answered HTTP {}: {}",
            a.status, a.body
        )),
        Err(e) => Err(format!("the key registry could not be asked: {e}")),
    }
}

fn fault(why: &str) {
    let now = JsClock.now_ms();
    if now.saturating_sub(LAST_FAULT_MS.with(Cell::get)) >= 60_000 {
        LAST_FAULT_MS.with(|c| c.set(now));
        log::warn("key_registry_failed", why);
    }
}

/// The decisions' view of the settings, for this request's brand, with
/// `keys` ([`keys`]).
pub fn settings<'a>(config: &'a Config, keys: &'a Keys) -> Settings<'a> {
    settings_with(config, keys.agents(config))
}

/// The decisions' view over `agents` (a registry view being read).
pub fn settings_with<'a>(config: &'a Config, agents: &'a Agents) -> Settings<'a> {
    Settings {
        agents,
        store_app: config.managed_here().map(|m| &m.app),
        lark: config.brand == Brand::Lark,
    }
}
