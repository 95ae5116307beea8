//! What the sign-in routes read off a URL: query parameters (percent-
//! decoded), the Worker's own origin, and a safe path to return to. Pure
//! (the `url` crate's IDNA tables cost ~100 KB: see `gateway/forward.rs`).

/// Longest query parameter value read (a `state` is a few hundred bytes).
const MAX_PARAM: usize = 2048;

/// The first `name=` parameter of `url`'s query, decoded; `None` when
/// absent, too long or not UTF-8 once decoded.
pub fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    if raw.len() > MAX_PARAM {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                (hi * 16 + lo) as u8
            }
            b => b,
        });
    }
    String::from_utf8(out).ok()
}

/// `scheme://host[:port]` of an absolute URL.
pub fn origin(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    Some(&url[..end])
}

/// Where a browser may be sent after signing in: a path on this Worker
/// (`/...`, never `//host` or `/\host`, which browsers read as another
/// site), or a page of an origin `listed` accepts (the operator's
/// `ALLOWED_ORIGINS`, each named: never "any"); else `/`. Nothing else, so
/// the sign-in is no open redirect.
pub fn return_to(wanted: Option<&str>, listed: impl Fn(&str) -> bool) -> String {
    let plain = |p: &str| p.len() <= 512 && p.bytes().all(|b| b.is_ascii_graphic());
    match wanted {
        Some(p)
            if plain(p) && p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") =>
        {
            p.to_owned()
        }
        Some(u)
            if plain(u)
                && (u.starts_with("https://") || u.starts_with("http://"))
                && origin(u).is_some_and(&listed) =>
        {
            u.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `path` with `name=value` added to its query (`value` made of URL-safe
/// characters by the caller).
pub fn with_param(path: &str, name: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{name}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_found_by_exact_name_and_decoded() {
        let url = "https://w.example/oauth/callback?xcode=1&code=a%2Fb+c&state=s.t#frag";
        assert_eq!(param(url, "code").as_deref(), Some("a/b c"));
        assert_eq!(param(url, "state").as_deref(), Some("s.t"));
        assert_eq!(param(url, "missing"), None);
        assert_eq!(param("https://w/x", "code"), None);
        assert_eq!(param("https://w/x?code=%zz", "code"), None);
        assert_eq!(param("https://w/x?code=%ff", "code"), None, "not UTF-8");
        let long = format!("https://w/x?code={}", "a".repeat(3000));
        assert_eq!(param(&long, "code"), None);
    }

    #[test]
    fn the_origin_and_the_return_path_are_the_workers_own() {
        assert_eq!(
            origin("http://127.0.0.1:8787/oauth/login?x"),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(origin("https://w.example"), Some("https://w.example"));
        let listed = |o: &str| o == "http://127.0.0.1:8080";
        assert_eq!(return_to(Some("/demo?x=1"), listed), "/demo?x=1");
        let demo = "http://127.0.0.1:8080/?x=1";
        assert_eq!(
            return_to(Some(demo), listed),
            demo,
            "an allowed origin's page"
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "http://127.0.0.1:8080.evil.example/",
            "javascript:alert(1)",
            "",
            "/a b",
        ] {
            assert_eq!(return_to(Some(bad), listed), "/", "{bad}");
        }
        assert_eq!(with_param("/", "signed_in", "ou_a"), "/?signed_in=ou_a");
        assert_eq!(
            with_param("/?x=1", "signed_in", "ou_a"),
            "/?x=1&signed_in=ou_a"
        );
    }
}
