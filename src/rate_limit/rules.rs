//! The limits known before Feishu refuses: built-in defaults for the APIs
//! bots and agents call most, each citing Feishu's page for it, and
//! `RATE_LIMITS` (JSON) adding to and overriding them route by route.

use super::route::route_of;
use serde_json::Value;

/// A rate: `count` calls per `per_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per_ms: u64,
}

impl Rate {
    /// `"5/s"`, `"100/min"`, `"1000/m"`, `"20/sec"`.
    pub fn parse(text: &str) -> Option<Self> {
        let (count, unit) = text.trim().split_once('/')?;
        let count: u32 = count.trim().parse().ok().filter(|&n| n > 0)?;
        let per_ms = match unit.trim() {
            "s" | "sec" | "second" => 1_000,
            "m" | "min" | "minute" => 60_000,
            _ => return None,
        };
        Some(Self { count, per_ms })
    }

    /// The spacing of calls evenly paced at this rate (rounded up: never
    /// faster than it).
    pub fn interval_ms(self) -> u64 {
        self.per_ms.div_ceil(u64::from(self.count))
    }
}

/// One rule: a method (`None`: any) and a route path (ids as `{id}`); a
/// path ending in `/` covers every route under it, any other exactly that
/// route.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    method: Option<String>,
    path: String,
    rates: Vec<Rate>,
}

impl Rule {
    /// How specific the rule is for `method` and `route_path` (longer path
    /// first, an exact path before a prefix, a named method before `*`), or
    /// `None` when it does not apply.
    fn fit(&self, method: &str, route_path: &str) -> Option<(usize, bool, bool)> {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let exact = route_path == self.path;
        let under = self.path.ends_with('/') && route_path.starts_with(&self.path);
        (exact || under).then_some((self.path.len(), exact, self.method.is_some()))
    }
}

/// Built-in limits, per app and tenant, each from Feishu's page for the API
/// (the figure it states; an API with two, such as "1000 次/分钟、50 次/秒",
/// lists both and calls are spaced at the stricter average).
pub const DEFAULT_LIMITS: &[(&str, &str, &str)] = &[
    (
        "POST /open-apis/im/v1/messages",
        "1000/min, 50/s",
        "https://open.feishu.cn/document/server-docs/im-v1/message/create (发送消息: 1000 次/分钟、50 次/秒)",
    ),
    (
        "POST /open-apis/im/v1/messages/{id}/reply",
        "1000/min, 50/s",
        "https://open.feishu.cn/document/server-docs/im-v1/message/reply (回复消息: 1000 次/分钟、50 次/秒)",
    ),
    (
        "POST /open-apis/im/v1/chats",
        "1000/min, 50/s",
        "https://open.feishu.cn/document/server-docs/group/chat/create (创建群: 1000 次/分钟、50 次/秒)",
    ),
    (
        "POST /open-apis/docx/v1/documents/{id}/blocks/{id}/children",
        "3/s",
        "https://open.feishu.cn/document/server-docs/docs/docs/docx-v1/document-block-children/create (创建块: 单个应用 3 次/秒)",
    ),
    (
        "POST /open-apis/drive/v1/files/upload_all",
        "5/s",
        "https://open.feishu.cn/document/server-docs/docs/drive-v1/upload/upload_all (上传文件: 5 次/秒)",
    ),
    (
        "POST /open-apis/bitable/v1/apps/{id}/tables/{id}/records",
        "1000/min, 50/s",
        "https://open.feishu.cn/document/server-docs/docs/bitable-v1/app-table-record/create (新增记录: 1000 次/分钟、50 次/秒)",
    ),
];

/// The limits in force: the defaults, and `RATE_LIMITS` over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    rules: Vec<Rule>,
}

impl Default for RateLimits {
    fn default() -> Self {
        let rules = DEFAULT_LIMITS
            .iter()
            .filter_map(|(route, rates, _)| parse_rule(route, rates).ok())
            .collect();
        Self { rules }
    }
}

fn parse_rule(route: &str, rates: &str) -> Result<Rule, String> {
    let (method, path) = route
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("{route:?}: \"<METHOD or *> <path under /open-apis/>\""))?;
    let path = path.trim();
    if !path.starts_with("/open-apis/") || path.contains(['?', '#', ' ']) {
        return Err(format!(
            "{route:?}: the path must start with /open-apis/ and have no query"
        ));
    }
    let method = match method.to_ascii_uppercase().as_str() {
        "*" => None,
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE") => Some(m.to_owned()),
        m => {
            return Err(format!(
                "{route:?}: no method {m:?} (GET, POST, PUT, PATCH, DELETE or *)"
            ));
        }
    };
    let rates = rates
        .split(',')
        .map(|r| {
            Rate::parse(r)
                .ok_or_else(|| format!("{route:?}: {rates:?} is not \"<n>/s\" or \"<n>/min\""))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The path as a route (ids written literally are replaced as in a call's).
    let route_path = route_of("GET", path)
        .split_once(' ')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    let path = if path.ends_with('/') && !route_path.ends_with('/') {
        format!("{route_path}/")
    } else {
        route_path
    };
    Ok(Rule {
        method,
        path,
        rates,
    })
}

impl RateLimits {
    /// `RATE_LIMITS`: a JSON object of `"<METHOD or *> <path>": "<rate>[,
    /// <rate>]"`, over the defaults (the same route replaces its default).
    /// Errors name the entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|_| "RATE_LIMITS: not JSON: an object such as {\"POST /open-apis/im/v1/messages\": \"5/s\"}".to_owned())?;
        let Value::Object(entries) = value else {
            return Err(
                "RATE_LIMITS: must be a JSON object of \"<METHOD or *> <path>\": \"<n>/s\""
                    .to_owned(),
            );
        };
        let mut limits = Self::default();
        for (route, rates) in entries {
            let Value::String(rates) = rates else {
                return Err(format!("RATE_LIMITS[{route:?}]: a string such as \"5/s\""));
            };
            let rule = parse_rule(&route, &rates).map_err(|e| format!("RATE_LIMITS: {e}"))?;
            limits
                .rules
                .retain(|r| !(r.method == rule.method && r.path == rule.path));
            limits.rules.push(rule);
        }
        Ok(limits)
    }

    /// The spacing of calls on `route` (from [`route_of`]) under the most
    /// specific rule that applies, or `None`: no known limit.
    pub fn interval_ms(&self, route: &str) -> Option<u64> {
        let (method, path) = route.split_once(' ')?;
        self.rules
            .iter()
            .filter_map(|r| Some((r.fit(method, path)?, r)))
            .max_by_key(|(fit, _)| *fit)
            .and_then(|(_, r)| r.rates.iter().map(|rate| rate.interval_ms()).max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_per_second_and_per_minute() {
        assert_eq!(
            Rate::parse("5/s"),
            Some(Rate {
                count: 5,
                per_ms: 1_000
            })
        );
        assert_eq!(
            Rate::parse(" 100 / min "),
            Some(Rate {
                count: 100,
                per_ms: 60_000
            })
        );
        for bad in ["0/s", "5", "5/h", "-1/s", "x/s", ""] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
        assert_eq!(Rate::parse("3/s").unwrap().interval_ms(), 334);
        assert_eq!(Rate::parse("1000/min").unwrap().interval_ms(), 60);
    }

    #[test]
    fn the_defaults_cover_sends_and_each_cites_its_source() {
        let l = RateLimits::default();
        assert_eq!(
            l.interval_ms("POST /open-apis/im/v1/messages"),
            Some(60),
            "1000/min is stricter than 50/s"
        );
        assert_eq!(
            l.interval_ms("POST /open-apis/im/v1/messages/{id}/reply"),
            Some(60)
        );
        assert_eq!(l.interval_ms("GET /open-apis/im/v1/messages"), None);
        assert_eq!(
            l.interval_ms("GET /open-apis/contact/v3/users/{id}"),
            None,
            "no known limit: nothing"
        );
        for (route, rates, source) in DEFAULT_LIMITS {
            assert!(parse_rule(route, rates).is_ok(), "{route}");
            assert!(
                source.starts_with("https://open.feishu.cn/document/"),
                "{route}"
            );
        }
    }

    #[test]
    fn rate_limits_add_and_override_route_by_route() {
        let l = RateLimits::parse(r#"{"POST /open-apis/im/v1/messages": "5/s", "* /open-apis/drive/": "5/s", "PATCH /open-apis/im/v1/messages/{id}": "10/s"}"#).unwrap();
        assert_eq!(
            l.interval_ms("POST /open-apis/im/v1/messages"),
            Some(200),
            "overridden"
        );
        assert_eq!(
            l.interval_ms("POST /open-apis/im/v1/messages/{id}/reply"),
            Some(60),
            "a default kept"
        );
        assert_eq!(
            l.interval_ms("GET /open-apis/drive/v1/files/{id}/download"),
            Some(200),
            "a prefix, any method"
        );
        assert_eq!(l.interval_ms("GET /open-apis/drivex/v1"), None);
        assert_eq!(
            l.interval_ms("PATCH /open-apis/im/v1/messages/{id}"),
            Some(100)
        );
        // A literal id in a rule is read as the route's placeholder.
        let l = RateLimits::parse(r#"{"PATCH /open-apis/im/v1/messages/om_1a": "2/s"}"#).unwrap();
        assert_eq!(
            l.interval_ms("PATCH /open-apis/im/v1/messages/{id}"),
            Some(500)
        );
        // The more specific rule wins.
        let l = RateLimits::parse(r#"{"* /open-apis/im/": "100/s", "POST /open-apis/im/": "10/s", "POST /open-apis/im/v1/messages": "1/s"}"#).unwrap();
        assert_eq!(l.interval_ms("GET /open-apis/im/v1/chats"), Some(10));
        assert_eq!(l.interval_ms("POST /open-apis/im/v1/pins"), Some(100));
        assert_eq!(
            l.interval_ms("POST /open-apis/im/v1/chats"),
            Some(60),
            "a default more specific than a prefix stays"
        );
        assert_eq!(l.interval_ms("POST /open-apis/im/v1/messages"), Some(1_000));
    }

    #[test]
    fn bad_settings_name_the_entry() {
        for (text, says) in [
            ("[]", "JSON object"),
            ("nope", "not JSON"),
            (r#"{"POST /open-apis/im/v1/messages": 5}"#, "a string"),
            (r#"{"POST /im/v1/messages": "5/s"}"#, "/open-apis/"),
            (r#"{"FETCH /open-apis/im/": "5/s"}"#, "no method"),
            (r#"{"POST /open-apis/im/": "fast"}"#, "is not"),
            (r#"{"/open-apis/im/": "5/s"}"#, "METHOD"),
        ] {
            let e = RateLimits::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
