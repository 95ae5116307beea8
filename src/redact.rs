//! Keeps secrets out of the upstream text we retain for diagnosis.

/// Longest upstream body kept on an error, in bytes.
pub(crate) const MAX_RAW_BODY_BYTES: usize = 1024;

const REDACTED: &str = "[redacted]";

/// JSON members whose string values are secrets, wherever they appear.
const SECRET_FIELDS: [&str; 6] = [
    "\"tenant_access_token\"",
    "\"app_access_token\"",
    "\"app_secret\"",
    "\"app_ticket\"",
    // A user's tokens (OAuth answers).
    "\"access_token\"",
    "\"refresh_token\"",
];

/// A body fit to keep on an error: secret members' values replaced (works on
/// truncated or malformed JSON too), then cut to [`MAX_RAW_BODY_BYTES`] on a
/// character boundary.
pub(crate) fn diagnostic_body(body: &str) -> String {
    let mut out = body.to_owned();
    for field in SECRET_FIELDS {
        out = redact_field_values(&out, field);
    }
    truncate(out, MAX_RAW_BODY_BYTES)
}

/// Replaces `secret` everywhere in `text`. A no-op for an empty secret.
pub(crate) fn scrub_secret(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find(rest, secret) {
        out.push_str(rest.get(..at).unwrap_or_default());
        out.push_str(REDACTED);
        rest = rest.get(at + secret.len()..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let cut = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    s.truncate(cut);
    s.push_str("…[truncated]");
    s
}

/// Byte offset of the first `needle` in `hay`; never found when empty. A
/// plain scan (the texts are bounded diagnostics): `str::find` links ~1.5 KB
/// of two-way searcher into every `.wasm`. A match of a whole UTF-8 `needle`
/// starts on a character boundary.
fn find(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// After each `"field"` followed by `:` and a string, replaces the string's
/// contents up to its closing quote (or the end of the text).
fn redact_field_values(text: &str, field: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find(rest, field) {
        let after_field = rest.get(at + field.len()..).unwrap_or_default();
        out.push_str(rest.get(..at + field.len()).unwrap_or_default());
        rest = after_field;
        let Some(value) = after_field
            .trim_start()
            .strip_prefix(':')
            .map(str::trim_start)
        else {
            continue;
        };
        let Some(inner) = value.strip_prefix('"') else {
            continue;
        };
        // Keep the separator and opening quote as they were.
        let lead = after_field.len() - inner.len();
        out.push_str(after_field.get(..lead).unwrap_or_default());
        out.push_str(REDACTED);
        rest = closing_quote(inner)
            .and_then(|end| inner.get(end..))
            .unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_are_redacted_in_whole_and_broken_json() {
        let whole = r#"{"code":0,"tenant_access_token" : "t-abc\"def","expire":"x"}"#;
        let out = diagnostic_body(whole);
        assert_eq!(
            out,
            r#"{"code":0,"tenant_access_token" : "[redacted]","expire":"x"}"#
        );

        let cut = r#"{"code":0,"app_access_token":"a-12345"#;
        let out = diagnostic_body(cut);
        assert!(!out.contains("a-12345"), "{out}");
        assert!(out.ends_with("[redacted]"), "{out}");
    }

    #[test]
    fn other_text_is_kept() {
        let html = "<html><body>502 Bad Gateway</body></html>";
        assert_eq!(diagnostic_body(html), html);
        let unrelated = r#"{"tenant_access_token": 5, "msg": "tenant_access_token"}"#;
        assert_eq!(diagnostic_body(unrelated), unrelated);
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(2000);
        let out = diagnostic_body(&body);
        assert!(out.len() <= MAX_RAW_BODY_BYTES + "…[truncated]".len());
        assert!(out.ends_with("…[truncated]"));
    }

    #[test]
    fn scrub_replaces_every_occurrence() {
        assert_eq!(
            scrub_secret("x a-1 y a-1", "a-1"),
            "x [redacted] y [redacted]"
        );
        assert_eq!(scrub_secret("keep", ""), "keep");
        assert_eq!(scrub_secret("a-1", "a-1"), "[redacted]");
        assert_eq!(scrub_secret("é a-1é", "a-1"), "é [redacted]é");
    }
}
