//! The Worker's settings, from `wrangler.toml` vars (documented there):
//! read once per isolate into typed values, with errors naming the setting.
//! `agent_keys` (`SELF_BUILT_APPS`, `AGENT_KEYS`) and `users` (user tokens)
//! are theirs.

pub mod agent_keys;
pub mod api_keys;
pub mod brand;
pub mod events;
pub mod operators;
mod origins;
pub mod rfc3339;
pub mod self_built;
pub mod users;

use api_keys::{MIN_API_KEY_CHARS, parse_api_keys};
pub use brand::Brand;
use brand::DEFAULT_LARK_BASE_URL;
pub use origins::Origins;

use agent_keys::{AgentKey, parse_agent_keys};
use events::{AppEvents, Events, parse_subscribers};
use feishu_tenant_token::event::{DEFAULT_MAX_AGE_SECS, EventConfig};
use feishu_tenant_token::freshness::{DEFAULT_MIN_VALIDITY_SECS, MAX_MIN_VALIDITY_SECS};
use feishu_tenant_token::rate_limit::rules::RateLimits;
use feishu_tenant_token::retry::MAX_MAX_RETRIES;
use feishu_tenant_token::secret::{ApiKey, EncryptKey, VerificationToken};
use feishu_tenant_token::store_app::AppCredentials;
use feishu_tenant_token::transport::DEFAULT_TIMEOUT_MS;
use feishu_tenant_token::{BaseUrl, Freshness, RetryPolicy};
use operators::{Operators, parse_operators};
use self_built::parse_self_built_apps;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use users::{Users, parse_users};

#[derive(Clone, Debug)]
pub struct Config {
    /// The brand this copy of the settings serves (`base_url` is its).
    pub brand: Brand,
    pub base_url: BaseUrl,
    /// Lark's base URL (`LARK_BASE_URL`), what `/lark/...` goes to.
    pub lark_base_url: BaseUrl,
    pub freshness: Freshness,
    pub timeout_ms: u32,
    pub retry: RetryPolicy,
    pub allowed_origins: Origins,
    /// One JSON log line per request (`LOG_REQUESTS`, default on).
    pub log_requests: bool,
    /// How long the isolate's memory serves a token before asking KV again
    /// (`MEMORY_REVALIDATE_SECS`, default 60): a token another isolate
    /// evicted from KV (Feishu refused it) leaves this isolate's memory
    /// within that time.
    pub memory_revalidate_ms: u64,
    /// The gateway passes every other `/open-apis/*` request on to
    /// `FEISHU_BASE_URL` (`PASS_THROUGH`, default on; off: those paths 404).
    pub pass_through: bool,
    /// A passed-through call whose token Feishu refused (99991663/99991665),
    /// when the Worker handed that token out, is replayed with its key's
    /// replacement, and later calls bearing it are rewritten
    /// (`REPLACE_REFUSED`, default on; off: the refusal goes back as it came).
    pub replace_refused: bool,
    /// Store-app mode, when `FEISHU_APP_ID` and `FEISHU_APP_SECRET` are set.
    pub managed: Option<Managed>,
    /// Agent keys and the self-built apps whose secrets the Worker holds.
    pub agents: Agents,
    /// `API_KEYS`, the services' keys (store-app mode's and user tokens').
    /// Empty: the endpoints that need one refuse everyone (fail closed).
    pub api_keys: Vec<ApiKey>,
    /// User tokens (sign-in, each user's object): on with `USER_TOKEN_KEY`.
    pub users: Option<Users>,
    /// Feishu's frequency limits met at the gateway (`limits/`): the limits
    /// known before Feishu refuses (`RATE_LIMITS` over the built-in
    /// defaults, `feishu_tenant_token::rate_limit::rules`).
    pub rate_limits: RateLimits,
    /// The longest a call waits for its limits (`RATE_LIMIT_WAIT_MS`,
    /// default 10,000); past it, Feishu's own 429 goes back at once.
    pub rate_limit_wait_ms: u64,
    /// Updates to one message or card go one at a time, the newest of those
    /// waiting sent in place of the others (`COALESCE_UPDATES`, default on).
    pub coalesce_updates: bool,
    /// The admin surface and the quota's guard (`config::operators`).
    pub operators: Operators,
    /// Events at the edge: each app's checks and handlers (`config::events`).
    pub events: Events,
    /// Calls counted per app and month (`COUNT_USAGE`, default on; the
    /// counts go to the `KEY_LEDGERS` objects when bound). Off: no usage,
    /// no quota guard (its lines and `QUOTA_RESERVED`).
    pub count_usage: bool,
}

/// `SELF_BUILT_APPS` and `AGENT_KEYS` (`agents/`): agents and services
/// use an app through the Worker with a key of their own, never the app's
/// secret.
#[derive(Clone, Debug, Default)]
pub struct Agents {
    /// The self-built apps of the brand these settings serve: an app is
    /// one brand's (`SELF_BUILT_APPS`' `brand`, Feishu by default), and is
    /// neither served nor has its secret sent under the other.
    pub self_built: Vec<AppCredentials>,
    pub keys: Vec<AgentKey>,
    /// Every self-built app, with its brand.
    pub every_brand: Vec<(Brand, AppCredentials)>,
}

impl Agents {
    /// Narrows `self_built` to `brand`'s apps.
    fn serve(&mut self, brand: Brand) {
        self.self_built = self
            .every_brand
            .iter()
            .filter(|(b, _)| *b == brand)
            .map(|(_, a)| a.clone())
            .collect();
    }
}

fn parse_agents(
    get: &impl Fn(&str) -> Option<String>,
    managed: Option<&Managed>,
    events: &mut Vec<AppEvents>,
) -> Result<Agents, String> {
    let mut self_built = Vec::new();
    if let Some(text) = get("SELF_BUILT_APPS") {
        for entry in parse_self_built_apps(&text)? {
            if entry.encrypt_key.is_some() || entry.verification_token.is_some() {
                events.push(AppEvents {
                    app_id: entry.app_id.clone(),
                    brand: if entry.lark {
                        Brand::Lark
                    } else {
                        Brand::Feishu
                    },
                    check: EventConfig {
                        encrypt_key: entry.encrypt_key.clone().map(EncryptKey::new),
                        verification_token: entry
                            .verification_token
                            .clone()
                            .map(VerificationToken::new),
                        max_age_secs: DEFAULT_MAX_AGE_SECS,
                    },
                });
            }
            let names = ["SELF_BUILT_APPS app id", "SELF_BUILT_APPS secret"];
            let app = AppCredentials::parse(&entry.app_id, &entry.secret, names)
                .map_err(|e| format!("SELF_BUILT_APPS: {}", e.message()))?;
            let brand = if entry.lark {
                Brand::Lark
            } else {
                Brand::Feishu
            };
            self_built.push((brand, app));
        }
    }
    let store_app = managed.map(|m| m.app.app_id());
    let keys = match get("AGENT_KEYS") {
        Some(text) => parse_agent_keys(
            &text,
            |a| self_built.iter().any(|(_, c)| c.app_id() == a) || store_app == Some(a),
            |a| store_app == Some(a),
        )?,
        None => Vec::new(),
    };
    let mut agents = Agents {
        self_built: Vec::new(),
        keys,
        every_brand: self_built,
    };
    agents.serve(Brand::Feishu);
    Ok(agents)
}

/// Managed mode: the Worker holds one store app's credentials, receives its
/// `app_ticket`s and serves its tenants' tokens to services with an API key.
#[derive(Clone, Debug)]
pub struct Managed {
    pub app: AppCredentials,
    /// `None` when neither a Verification Token nor an Encrypt Key is set:
    /// then the events endpoint refuses everything (no unauthenticated tickets).
    pub events: Option<EventConfig>,
}

/// The setting `name` (read by `get`) as a whole number within `range`, or
/// `default` when it is unset.
fn whole<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    range: RangeInclusive<T>,
    default: T,
) -> Result<T, String>
where
    T: FromStr + PartialOrd + Display,
{
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or(format!(
                "{name} must be a whole number from {} to {}",
                range.start(),
                range.end()
            )),
    }
}

/// `EVENT_RETRY_SECS`: events are kept 72 hours, so retried at most that long.
const MAX_EVENT_RETRY_SECS: u64 = 72 * 3600;

/// Longest accepted `EVENT_MAX_AGE_SECS` (the replay window).
const MAX_EVENT_MAX_AGE_SECS: u64 = 3600;

fn parse_managed(get: impl Fn(&str) -> Option<String>) -> Result<Option<Managed>, String> {
    let (id, secret) = match (get("FEISHU_APP_ID"), get("FEISHU_APP_SECRET")) {
        (None, None) => return Ok(None),
        (Some(id), Some(secret)) => (id, secret),
        _ => return Err("set both FEISHU_APP_ID and FEISHU_APP_SECRET, or neither".to_owned()),
    };
    let app = AppCredentials::parse(&id, &secret, ["FEISHU_APP_ID", "FEISHU_APP_SECRET"])
        .map_err(|e| e.message().to_owned())?;
    let max_age_secs = whole(
        &get,
        "EVENT_MAX_AGE_SECS",
        1..=MAX_EVENT_MAX_AGE_SECS,
        DEFAULT_MAX_AGE_SECS,
    )?;
    let encrypt_key = get("FEISHU_ENCRYPT_KEY").map(EncryptKey::new);
    let verification_token = get("FEISHU_VERIFICATION_TOKEN").map(VerificationToken::new);
    let events = (encrypt_key.is_some() || verification_token.is_some()).then_some(EventConfig {
        encrypt_key,
        verification_token,
        max_age_secs,
    });
    Ok(Some(Managed { app, events }))
}

/// One KV read per key per isolate per minute: what it costs for a token
/// evicted elsewhere to leave every isolate's memory within a minute (KV
/// itself may take up to 60 s to show the eviction in other locations).
const DEFAULT_MEMORY_REVALIDATE_SECS: u64 = 60;
/// Beyond an hour the memory would outlive most of a token's freshness window anyway.
const MAX_MEMORY_REVALIDATE_SECS: u64 = 3600;

/// `RATE_LIMIT_WAIT_MS`: how long a call may wait for Feishu's frequency
/// limits by default (a window of one second, reopened several times), and
/// at most (a minute's window, Feishu's longest).
const DEFAULT_RATE_LIMIT_WAIT_MS: u64 = 10_000;
const MAX_RATE_LIMIT_WAIT_MS: u64 = 60_000;

/// Longest accepted `UPSTREAM_TIMEOUT_MS`: Workers' own subrequest limits make
/// anything longer moot.
const MAX_TIMEOUT_MS: u32 = 60_000;

impl Config {
    /// `var(name)` reads one setting; a missing or empty one takes its default.
    pub fn parse(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let base_url = base_url_of(&get, "FEISHU_BASE_URL", None)?;
        let lark_base_url = base_url_of(&get, "LARK_BASE_URL", Some(DEFAULT_LARK_BASE_URL))?;
        let min_validity = whole(
            &get,
            "MIN_VALIDITY_SECS",
            0..=MAX_MIN_VALIDITY_SECS,
            DEFAULT_MIN_VALIDITY_SECS,
        )?;
        let timeout_ms = whole(
            &get,
            "UPSTREAM_TIMEOUT_MS",
            1..=MAX_TIMEOUT_MS,
            DEFAULT_TIMEOUT_MS,
        )?;
        let memory_revalidate_secs = whole(
            &get,
            "MEMORY_REVALIDATE_SECS",
            1..=MAX_MEMORY_REVALIDATE_SECS,
            DEFAULT_MEMORY_REVALIDATE_SECS,
        )?;
        let retry = retry_policy(&get)?;
        let allowed_origins = Origins::parse(get("ALLOWED_ORIGINS").as_deref());
        let switch = |name: &str| switch(&get, name);
        let log_requests = switch("LOG_REQUESTS")?;
        let pass_through = switch("PASS_THROUGH")?;
        let replace_refused = switch("REPLACE_REFUSED")?;
        let managed = parse_managed(get)?;
        let mut app_events = Vec::new();
        let agents = parse_agents(&get, managed.as_ref(), &mut app_events)?;
        if let Some(m) = &managed
            && let Some(check) = &m.events
        {
            // Store-app mode's app is served at the top level only.
            app_events.push(AppEvents {
                app_id: m.app.app_id().to_owned(),
                brand: Brand::Feishu,
                check: check.clone(),
            });
        }
        let events = Events {
            retry_ms: whole(
                &get,
                "EVENT_RETRY_SECS",
                1..=MAX_EVENT_RETRY_SECS,
                MAX_EVENT_RETRY_SECS,
            )? * 1000,
            apps: app_events,
            subscribers: match get("EVENT_SUBSCRIBERS") {
                Some(text) => parse_subscribers(&text)?,
                None => Vec::new(),
            },
        };
        let api_keys = parse_api_keys(&get("API_KEYS").unwrap_or_default(), MIN_API_KEY_CHARS)?;
        let users = parse_users(&get)?;
        let rate_limits = match get("RATE_LIMITS") {
            Some(text) => RateLimits::parse(&text)?,
            None => RateLimits::default(),
        };
        let rate_limit_wait_ms = whole(
            &get,
            "RATE_LIMIT_WAIT_MS",
            0..=MAX_RATE_LIMIT_WAIT_MS,
            DEFAULT_RATE_LIMIT_WAIT_MS,
        )?;
        let coalesce_updates = switch("COALESCE_UPDATES")?;
        let operators = parse_operators(&get)?;
        let count_usage = switch("COUNT_USAGE")?;
        Ok(Self {
            events,
            count_usage,
            operators,
            rate_limits,
            rate_limit_wait_ms,
            coalesce_updates,
            api_keys,
            users,
            brand: Brand::Feishu,
            lark_base_url,
            managed,
            agents,
            log_requests,
            pass_through,
            replace_refused,
            memory_revalidate_ms: memory_revalidate_secs * 1000,
            base_url,
            freshness: Freshness::new(min_validity),
            timeout_ms,
            retry,
            allowed_origins,
        })
    }
}

/// The base URL set as `name`, or `default` (Feishu's when `None`).
fn base_url_of(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: Option<&str>,
) -> Result<BaseUrl, String> {
    let named = |e: feishu_tenant_token::Error| format!("{name}: {}", e.message());
    match (get(name), default) {
        (Some(u), _) => BaseUrl::parse(&u).map_err(named),
        (None, Some(d)) => BaseUrl::parse(d).map_err(named),
        (None, None) => Ok(BaseUrl::default()),
    }
}

/// `UPSTREAM_RETRIES` and `UPSTREAM_DEADLINE_MS` over the core's defaults.
fn retry_policy(get: &impl Fn(&str) -> Option<String>) -> Result<RetryPolicy, String> {
    let defaults = RetryPolicy::default();
    Ok(RetryPolicy {
        max_retries: whole(
            get,
            "UPSTREAM_RETRIES",
            0..=MAX_MAX_RETRIES,
            defaults.max_retries,
        )?,
        deadline_ms: whole(
            get,
            "UPSTREAM_DEADLINE_MS",
            0..=u64::from(MAX_TIMEOUT_MS) * 10,
            defaults.deadline_ms,
        )?,
        ..defaults
    })
}

/// An on/off setting: on unless set to `0`, `false` or `off`.
fn switch(get: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, String> {
    match get(name).as_deref() {
        None | Some("1" | "true" | "on") => Ok(true),
        Some("0" | "false" | "off") => Ok(false),
        Some(_) => Err(format!("{name} must be true or false")),
    }
}

impl Config {
    /// The settings as they serve `brand`. Store-app mode's app belongs to
    /// `FEISHU_BASE_URL`'s brand: under `/lark` its API keys are still
    /// never passed on, but nothing of it is served (`managed_here`).
    pub fn for_brand(&self, brand: Brand) -> Config {
        let mut c = self.clone();
        c.brand = brand;
        c.agents.serve(brand);
        if brand == Brand::Lark {
            c.base_url = self.lark_base_url.clone();
        }
        c
    }

    /// Every app the Worker holds a secret for, of both brands (the
    /// self-built apps, then store-app mode's).
    pub fn held_apps(&self) -> impl Iterator<Item = &AppCredentials> {
        self.agents
            .every_brand
            .iter()
            .map(|(_, c)| c)
            .chain(self.managed.as_ref().map(|m| &m.app))
    }

    /// The credentials of `app_id` when the Worker holds them (either brand).
    pub fn held_app(&self, app_id: &str) -> Option<&AppCredentials> {
        self.held_apps().find(|c| c.app_id() == app_id)
    }

    /// Whether `app_id` is store-app mode's app.
    pub fn is_store_app(&self, app_id: &str) -> bool {
        self.managed
            .as_ref()
            .is_some_and(|m| m.app.app_id() == app_id)
    }

    /// Store-app mode, where it serves: at the top level only.
    pub fn managed_here(&self) -> Option<&Managed> {
        self.managed
            .as_ref()
            .filter(|_| self.brand == Brand::Feishu)
    }
}

#[cfg(test)]
mod tests {
    const K1: &str = "k1-0123456789abcdef0123456789abcdef";
    const K2: &str = "k2-0123456789abcdef0123456789abcdef";

    #[test]
    fn api_keys_shorter_than_32_characters_are_refused_by_position_never_shown() {
        let short = "short-key-0123456789";
        let e = super::Config::parse(|n| match n {
            "FEISHU_APP_ID" => Some("cli_a".into()),
            "FEISHU_APP_SECRET" => Some("s3cret".into()),
            "API_KEYS" => Some(format!("{K1},{short}")),
            _ => None,
        })
        .unwrap_err();
        assert!(
            e.contains("API_KEYS") && e.contains("key 2") && !e.contains(short),
            "{e}"
        );
    }

    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::parse(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.base_url.as_str(), "https://open.feishu.cn");
        assert_eq!(c.freshness.min_validity_secs(), 1800);
        assert_eq!(c.timeout_ms, 10_000);
        assert_eq!(c.retry, RetryPolicy::default());
        assert!(c.log_requests);
        assert!(!c.allowed_origins.allows("http://localhost:8080"));
    }

    #[test]
    fn values_and_errors() {
        let c = parse(&[
            ("FEISHU_BASE_URL", "http://127.0.0.1:8790"),
            ("MIN_VALIDITY_SECS", "60"),
            ("UPSTREAM_TIMEOUT_MS", "500"),
            (
                "ALLOWED_ORIGINS",
                "http://127.0.0.1:8080/, https://demo.example",
            ),
        ])
        .unwrap();
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8790");
        assert_eq!(c.freshness.min_validity_secs(), 60);
        assert_eq!(c.timeout_ms, 500);
        assert!(c.allowed_origins.allows("http://127.0.0.1:8080"));
        assert!(c.allowed_origins.allows("https://demo.example"));
        assert!(!c.allowed_origins.allows("https://evil.example"));
        assert!(
            parse(&[("ALLOWED_ORIGINS", "*")])
                .unwrap()
                .allowed_origins
                .allows("x")
        );
        assert!(parse(&[("FEISHU_BASE_URL", "http://open.feishu.cn")]).is_err());
        assert!(parse(&[("MIN_VALIDITY_SECS", "7201")]).is_err());
        assert!(parse(&[("MIN_VALIDITY_SECS", "abc")]).is_err());
        assert!(parse(&[("UPSTREAM_TIMEOUT_MS", "0")]).is_err());
        let r = parse(&[("UPSTREAM_RETRIES", "0"), ("UPSTREAM_DEADLINE_MS", "1500")]).unwrap();
        assert_eq!((r.retry.max_retries, r.retry.deadline_ms), (0, 1500));
        assert!(parse(&[("UPSTREAM_RETRIES", "6")]).is_err());
        assert!(!parse(&[("LOG_REQUESTS", "false")]).unwrap().log_requests);
        assert!(parse(&[("LOG_REQUESTS", "maybe")]).is_err());
        assert!(parse(&[]).unwrap().pass_through, "on by default");
        assert_eq!(parse(&[]).unwrap().memory_revalidate_ms, 60_000);
        let r = parse(&[("MEMORY_REVALIDATE_SECS", "5")]).unwrap();
        assert_eq!(r.memory_revalidate_ms, 5_000);
        for bad in ["0", "3601", "-1", "1.5", "soon"] {
            assert!(parse(&[("MEMORY_REVALIDATE_SECS", bad)]).is_err(), "{bad}");
        }
        assert!(!parse(&[("PASS_THROUGH", "off")]).unwrap().pass_through);
        assert!(parse(&[]).unwrap().replace_refused, "on by default");
        let lark = parse(&[]).unwrap().for_brand(super::Brand::Lark);
        assert_eq!(lark.base_url.as_str(), "https://open.larksuite.com");
        let set = parse(&[("LARK_BASE_URL", "http://127.0.0.1:9/")]).unwrap();
        assert_eq!(
            set.for_brand(super::Brand::Lark).base_url.as_str(),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            set.for_brand(super::Brand::Feishu).base_url.as_str(),
            "https://open.feishu.cn"
        );
        let e = parse(&[("LARK_BASE_URL", "http://open.larksuite.com")]).unwrap_err();
        assert!(e.starts_with("LARK_BASE_URL:"), "{e}");
        assert!(!parse(&[("REPLACE_REFUSED", "0")]).unwrap().replace_refused);
        assert!(parse(&[("REPLACE_REFUSED", "maybe")]).is_err());
        assert!(parse(&[("PASS_THROUGH", "no")]).is_err());
        assert!(parse(&[("UPSTREAM_DEADLINE_MS", "-1")]).is_err());
    }

    #[test]
    fn each_self_built_app_is_served_under_its_own_brand_only() {
        let c = parse(&[(
            "SELF_BUILT_APPS",
            r#"{"cli_f":"s1","cli_l":{"secret":"s2","brand":"lark"}}"#,
        )])
        .unwrap();
        let ids = |c: &Config| {
            c.agents
                .self_built
                .iter()
                .map(|a| a.app_id().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&c), ["cli_f"]);
        assert_eq!(ids(&c.for_brand(Brand::Lark)), ["cli_l"]);
        assert_eq!(
            ids(&c.for_brand(Brand::Lark).for_brand(Brand::Feishu)),
            ["cli_f"]
        );
    }

    #[test]
    fn managed_mode() {
        assert!(parse(&[]).unwrap().managed.is_none());
        assert!(parse(&[("FEISHU_APP_ID", "cli_a")]).is_err());
        assert!(parse(&[("FEISHU_APP_SECRET", "s")]).is_err());
        let m = parse(&[("FEISHU_APP_ID", "cli_a"), ("FEISHU_APP_SECRET", "s3cret")])
            .unwrap()
            .managed
            .unwrap();
        assert_eq!(m.app.app_id(), "cli_a");
        assert!(
            m.events.is_none(),
            "no way to authenticate events: none accepted"
        );
        let c = parse(&[("FEISHU_APP_ID", "cli_a"), ("FEISHU_APP_SECRET", "s3cret")]).unwrap();
        assert!(c.api_keys.is_empty(), "no keys: no one served");
        let c = parse(&[
            ("FEISHU_APP_ID", "cli_a"),
            ("FEISHU_APP_SECRET", "s3cret"),
            ("FEISHU_ENCRYPT_KEY", "ek"),
            ("EVENT_MAX_AGE_SECS", "60"),
            ("API_KEYS", &format!(" {K1}, ,{K2} ")),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret") && !format!("{c:?}").contains(K1));
        assert_eq!(c.api_keys, vec![ApiKey::new(K1), ApiKey::new(K2)]);
        let m = c.managed.unwrap();
        let ev = m.events.unwrap();
        assert_eq!(ev.max_age_secs, 60);
        assert!(ev.encrypt_key.is_some() && ev.verification_token.is_none());
        let bad_age = [
            ("FEISHU_APP_ID", "a"),
            ("FEISHU_APP_SECRET", "s"),
            ("EVENT_MAX_AGE_SECS", "0"),
        ];
        assert!(parse(&bad_age).is_err());
        assert!(parse(&[("FEISHU_APP_ID", "a b"), ("FEISHU_APP_SECRET", "s")]).is_err());
    }
}
