//! Input checks that run before any request is built: a rejected input never
//! reaches the network.

use crate::error::Error;
use crate::secret::AppAccessToken;
use core::fmt;

/// Feishu (China).
pub const FEISHU_BASE_URL: &str = "https://open.feishu.cn";
/// Lark (international).
pub const LARK_BASE_URL: &str = "https://open.larksuite.com";

/// Longest accepted token. Feishu's newer JWT-like tokens have no fixed length;
/// reserving at least 4 KiB covers them; we allow twice that.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest accepted `tenant_key` (Feishu's are 16 hex digits; leave room).
pub const MAX_TENANT_KEY_BYTES: usize = 128;
/// Longest accepted base URL.
pub const MAX_BASE_URL_BYTES: usize = 2048;

/// A `tenant_key`: the tenant's id on Feishu. Not a secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantKey(String);

impl TenantKey {
    pub fn parse(value: &str) -> Result<Self, Error> {
        check_field("tenant_key", Some(value), MAX_TENANT_KEY_BYTES).map(|v| Self(v.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn empty() -> Self {
        Self(String::new())
    }
}

impl fmt::Display for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const WIRE_FIELD_NAMES: [&str; 2] = ["app_access_token", "tenant_key"];

/// A validated request for one tenant's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub app_access_token: AppAccessToken,
    pub tenant_key: TenantKey,
}

impl TokenRequest {
    /// Checks both fields; `None` stands for a missing field.
    pub fn parse(app_access_token: Option<&str>, tenant_key: Option<&str>) -> Result<Self, Error> {
        Self::parse_as(app_access_token, tenant_key, WIRE_FIELD_NAMES)
    }

    /// As [`Self::parse`], with errors naming the fields as the caller knows
    /// them (the JS API says `appAccessToken`, the wire says `app_access_token`).
    /// Takes `String`s without copying them.
    pub fn parse_as<S: AsRef<str> + Into<String>>(
        app_access_token: Option<S>,
        tenant_key: Option<S>,
        [app_name, tenant_name]: [&str; 2],
    ) -> Result<Self, Error> {
        let app = check_field(app_name, app_access_token, MAX_TOKEN_BYTES)?;
        let tenant = check_field(tenant_name, tenant_key, MAX_TENANT_KEY_BYTES)?;
        Ok(Self {
            app_access_token: AppAccessToken::new(app),
            tenant_key: TenantKey(tenant.into()),
        })
    }
}

/// Messages name the field and the rule, never the value (it may be a secret).
pub(crate) fn check_field<S: AsRef<str>>(
    name: &str,
    value: Option<S>,
    max: usize,
) -> Result<S, Error> {
    let Some(owned) = value else {
        return Err(Error::invalid_input(&format!("{name} is missing")));
    };
    let value = owned.as_ref();
    if value.chars().all(char::is_whitespace) {
        return Err(Error::invalid_input(&format!("{name} is empty")));
    }
    if value.len() > max {
        return Err(Error::invalid_input(&format!(
            "{name} is too long ({} bytes; at most {max})",
            value.len()
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid_input(&format!(
            "{name} may hold only visible ASCII characters (no spaces, control characters or non-ASCII)"
        )));
    }
    Ok(owned)
}

/// Where the auth endpoints live: `https://open.feishu.cn`, `https://open.larksuite.com`,
/// or a proxy / sandbox. Plain `http` is accepted only for loopback hosts, since
/// the request body carries a bearer secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(value: &str) -> Result<Self, Error> {
        let bad = |why: &str| Err(Error::invalid_input(&format!("baseUrl {why}")));
        if value.len() > MAX_BASE_URL_BYTES {
            return bad("is too long");
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return bad("may hold only visible ASCII characters");
        }
        let (https, rest) = if let Some(r) = value.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = value.strip_prefix("http://") {
            (false, r)
        } else {
            return bad("must start with https:// (or http:// for a loopback host)");
        };
        if value.contains(['?', '#']) {
            return bad("must not have a query or fragment");
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return bad("has no host");
        }
        if authority.contains('@') {
            return bad("must not carry credentials");
        }
        if !https && !is_loopback(authority) {
            return bad("must use https:// unless the host is loopback");
        }
        Ok(Self(value.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self` followed by `path` (which starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// `scheme://host[:port]`, without any path prefix.
    pub fn origin(&self) -> &str {
        // Checked to start with `https://` or `http://` (prefix tests: a
        // `str` pattern search links ~1.5 KB of searcher into every .wasm).
        let rest = ["https://", "http://"]
            .iter()
            .find_map(|scheme| self.0.strip_prefix(scheme))
            .unwrap_or(&self.0);
        let after_scheme = self.0.len() - rest.len();
        let end = rest.find('/').map_or(self.0.len(), |i| after_scheme + i);
        self.0.get(..end).unwrap_or(&self.0)
    }
}

impl Default for BaseUrl {
    fn default() -> Self {
        Self(FEISHU_BASE_URL.to_owned())
    }
}

fn is_loopback(authority: &str) -> bool {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost") || host == "::1" || is_ipv4_loopback(host)
}

/// `127.a.b.c` with four decimal octets.
fn is_ipv4_loopback(host: &str) -> bool {
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn rejected(app: Option<&str>, tenant: Option<&str>) -> String {
        match TokenRequest::parse(app, tenant) {
            Ok(_) => panic!("accepted {app:?} / {tenant:?}"),
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::InvalidInput);
                e.message().to_owned()
            }
        }
    }

    #[test]
    fn accepts_feishu_shaped_values_and_long_tokens() {
        let r = TokenRequest::parse(
            Some("a-32bd8551db2f081cbfd26293f27516390b9feb04"),
            Some("73658811060f175d"),
        )
        .unwrap();
        assert_eq!(r.tenant_key.as_str(), "73658811060f175d");
        let jwt_like = format!(
            "eyJ{}.{}.{}",
            "a".repeat(3000),
            "b".repeat(1000),
            "c".repeat(100)
        );
        assert!(jwt_like.len() > 4096);
        assert!(TokenRequest::parse(Some(&jwt_like), Some("t1")).is_ok());
    }

    #[test]
    fn rejects_missing_empty_blank_and_odd_characters() {
        assert!(rejected(None, Some("t")).contains("app_access_token is missing"));
        assert!(rejected(Some("a-1"), None).contains("tenant_key is missing"));
        assert!(rejected(Some(""), Some("t")).contains("app_access_token is empty"));
        assert!(rejected(Some("a-1"), Some(" \t\n")).contains("tenant_key is empty"));
        for bad in ["a-1\n", "a 1", "a-1\u{0}", "a-\u{7f}", "a-ü", "\u{200b}a"] {
            let msg = rejected(Some(bad), Some("t"));
            assert!(msg.contains("visible ASCII"), "{bad:?}: {msg}");
        }
    }

    #[test]
    fn rejects_absurd_lengths_without_echoing_the_value() {
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        let msg = rejected(Some(&huge), Some("t"));
        assert!(msg.contains("too long"), "{msg}");
        assert!(!msg.contains("aaaa"), "{msg}");
        let msg = rejected(Some("a-1"), Some(&"k".repeat(MAX_TENANT_KEY_BYTES + 1)));
        assert!(msg.contains("tenant_key is too long"), "{msg}");
    }

    #[test]
    fn base_urls() {
        assert_eq!(BaseUrl::default().as_str(), FEISHU_BASE_URL);
        assert_eq!(
            BaseUrl::parse("https://open.larksuite.com/")
                .unwrap()
                .as_str(),
            LARK_BASE_URL
        );
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:8788").unwrap().join("/x"),
            "http://127.0.0.1:8788/x"
        );
        assert!(BaseUrl::parse("http://localhost:1").is_ok());
        assert!(BaseUrl::parse("http://[::1]:80/p").is_ok());
        assert!(BaseUrl::parse("http://127.1.2.3").is_ok());
        assert!(BaseUrl::parse("https://proxy.example/feishu").is_ok());
        for bad in [
            "http://open.feishu.cn",
            "http://127.0.0.1.evil.example",
            "http://127.0.0.256",
            "http://127.0.0",
            "http://[::2]",
            "ftp://x",
            "open.feishu.cn",
            "https://",
            "https://u:p@host",
            "https://host/?q=1",
            "https://ho st",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
