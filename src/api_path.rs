//! The one reading of an API call's path that every allow-list check and
//! every gateway call goes through: what the Worker matches must be what
//! Feishu (or any server in between) will act on.
//!
//! A path is refused, not repaired, when it could be read two ways: an
//! escaped separator or dot (`%2F`, `%5C`, `%2E`, and `%25` for an escape
//! escaped again), a backslash, a control character, an overlong UTF-8
//! lead byte (`%C0`, `%C1`: `%C0%AE` is a dot to some decoders), or a
//! segment that is `.` or `..` once its `;` parameters are removed
//! (`..;`: servers of the Tomcat / Spring family read it as `..`). What
//! remains is normalised for matching: an escaped unreserved character
//! (`%63` for `c`) is decoded, any other escape (`%40` in a calendar id,
//! non-ASCII) is kept as written, and a full URL (`HTTPS://host/...`, the
//! scheme in any case) is cut to its path.

/// Why a path is refused (said to the caller; never echoes the path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathRefusal {
    /// `%2F`, `%5C`, `%2E`, `%25`, `%3B`, `%3F`, `%23`, `%C0`/`%C1`, an
    /// escaped control character, or a malformed escape.
    EscapedSeparator,
    /// A backslash, which some servers read as `/`.
    Backslash,
    /// A segment that is `.` or `..` (after removing `;` parameters).
    DotSegment,
    /// A control character or a space.
    Control,
}

impl PathRefusal {
    pub fn message(self) -> &'static str {
        match self {
            PathRefusal::EscapedSeparator => {
                "the path carries an escaped separator, dot or escape (%2F, %5C, %2E, %25, ...): refused, as it could be read two ways"
            }
            PathRefusal::Backslash => "the path carries a backslash: refused",
            PathRefusal::DotSegment => "the path has a `.` or `..` segment (also `..;`): refused",
            PathRefusal::Control => "the path carries a control character or a space: refused",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986's unreserved characters, less `.` (an escaped dot is refused).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'~'
}

/// What an escape may not stand for: a character that separates or
/// ends a path or a segment (`/`, `\\`, `.`, `;`, `?`, `#`), an escape (`%`,
/// read again by a second decoder), a control character, or an overlong
/// UTF-8 lead byte (`%C0%AE` is a dot to some decoders).
fn disguised(b: u8) -> bool {
    matches!(
        b,
        b'/' | b'\\' | b'.' | b';' | b'?' | b'#' | b'%' | 0xc0 | 0xc1
    ) || b < 0x20
        || b == 0x7f
}

/// The path (no query) as it is matched against an allow-list, or why it
/// is refused. `path` may also be a full URL (any scheme case); the query
/// and fragment, if any, are cut off first.
pub fn normalised(path: &str) -> Result<String, PathRefusal> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = match path.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && !scheme.contains('/') => {
            rest.find('/').map_or("/", |i| &rest[i..])
        }
        _ => path,
    };
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' => return Err(PathRefusal::Backslash),
            0..=0x20 | 0x7f => return Err(PathRefusal::Control),
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathRefusal::EscapedSeparator);
                };
                let decoded = hi * 16 + lo;
                if unreserved(decoded) {
                    out.push(decoded);
                } else if disguised(decoded) {
                    // A separator, dot, escape, parameter or control
                    // character in disguise, or an overlong lead byte.
                    return Err(PathRefusal::EscapedSeparator);
                } else {
                    // Anything else (`%40` in a calendar id, a UTF-8 byte of
                    // a non-ASCII character): kept as written.
                    out.extend_from_slice(&bytes[i..i + 3]);
                }
                i += 3;
                continue;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    // Only ASCII was decoded, and escapes of other bytes kept as written.
    let text = String::from_utf8(out).map_err(|_| PathRefusal::EscapedSeparator)?;
    for segment in text.split('/') {
        let bare = segment.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return Err(PathRefusal::DotSegment);
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass_as_they_are() {
        for p in [
            "/open-apis/im/v1/messages",
            "/open-apis/im/v1/chats/oc_123/members",
            "/open-apis/calendar/v4/calendars/feishu.cn_abc@group.calendar.feishu.cn/events",
            "/open-apis/drive/v1/files/boxcn123?type=docx",
            "/open-apis/bitable/v1/apps/bascn/tables/tbl/records",
            "/open-apis/",
            "/",
            "",
            "/open-apis/im/v1/chats/",
        ] {
            let want = p.split('?').next().unwrap();
            assert_eq!(normalised(p).as_deref(), Ok(want), "{p}");
        }
    }

    #[test]
    fn escaped_unreserved_characters_and_full_urls_are_normalised() {
        assert_eq!(
            normalised("/open-apis/%63alendar/v4").as_deref(),
            Ok("/open-apis/calendar/v4")
        );
        assert_eq!(
            normalised("HTTPS://open.feishu.cn/open-apis/im/v1/chats").as_deref(),
            Ok("/open-apis/im/v1/chats")
        );
        assert_eq!(
            normalised("https://host").as_deref(),
            Ok("/"),
            "no path is the root"
        );
        assert_eq!(
            normalised("/open-apis/im/v1/chats/%E4%B8%AD").as_deref(),
            Ok("/open-apis/im/v1/chats/%E4%B8%AD"),
            "non-ASCII stays escaped"
        );
        assert_eq!(
            normalised("/open-apis/calendar/v4/calendars/feishu.cn_x%40group.calendar.feishu.cn")
                .as_deref(),
            Ok("/open-apis/calendar/v4/calendars/feishu.cn_x%40group.calendar.feishu.cn"),
            "other escapes (an escaped @ in a calendar id) stay as written"
        );
    }

    /// At least a hundred hostile paths, each refused: the payloads under
    /// every allowed-looking prefix, plus ones of their own.
    #[test]
    fn a_hundred_hostile_paths_are_refused() {
        let prefixes = [
            "/open-apis/calendar/v4/",
            "/open-apis/im/v1/chats/",
            "/open-apis/im/v1/messages/",
            "HTTPS://open.feishu.cn/open-apis/im/v1/chats/",
            "/lark-ish/open-apis/drive/v1/",
        ];
        let payloads = [
            "..%2F..%2Fauthen/v1/user_info",
            "..%2f..%2fauthen/v1/user_info",
            "x%2F..%2F..%2Fauthen",
            "..%5C..%5Cauthen",
            "..%5cauthen",
            "%2e%2e/authen",
            "%2E%2E/%2E%2E/authen",
            ".%2e/authen",
            "%2e./authen",
            "%252e%252e/authen",
            "%252F..%252Fauthen",
            "..;/messages",
            "..;/..;/authen/v1/user_info",
            "..;x=1/authen",
            ".;/authen",
            "./authen",
            "../authen",
            "../../authen/v1/user_info",
            "a/../../authen",
            "..\\..\\authen",
            "a\\b",
            "%c0%ae%c0%ae/authen",
            "%C0%AE%C0%AE%C0%AFauthen",
            "%c1%9c",
            "oc_1%00/authen",
            "oc_1%0a/authen",
            "oc_1%0D%0AX-Injected:1",
            "oc_1%3b/../authen",
            "oc_1%3F/authen",
            "oc_1%23/authen",
            "%2",
            "%zz",
            "oc_1\t/authen",
            "oc 1",
        ];
        let mut refused = 0;
        for prefix in prefixes {
            for payload in payloads {
                let path = format!("{prefix}{payload}");
                assert!(normalised(&path).is_err(), "{path:?} was not refused");
                refused += 1;
            }
        }
        for path in [
            "/open-apis/im/v1/chats/..",
            "/open-apis/im/v1/chats/.",
            "/open-apis/im/v1/chats/..;",
            "/open-apis/im/v1/chats/..;jsessionid=1",
            "/..;/open-apis",
            "..",
            "/open-apis/im/v1/chats/%2F",
            "/open-apis/im/v1/chats/\u{7f}",
        ] {
            assert!(normalised(path).is_err(), "{path:?} was not refused");
            refused += 1;
        }
        assert!(refused >= 100, "only {refused} hostile paths");
    }

    #[test]
    fn each_refusal_says_why() {
        assert_eq!(normalised("/a/..%2Fb"), Err(PathRefusal::EscapedSeparator));
        assert_eq!(normalised("/a/..;/b"), Err(PathRefusal::DotSegment));
        assert_eq!(normalised("/a\\b"), Err(PathRefusal::Backslash));
        assert_eq!(normalised("/a\nb"), Err(PathRefusal::Control));
        assert!(PathRefusal::DotSegment.message().contains(".."));
    }
}
