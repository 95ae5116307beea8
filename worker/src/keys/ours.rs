//! Anything shaped as one of the Worker's own credentials (agent keys,
//! gateway tokens, API keys): it is the Worker's or nobody's, so it never
//! goes to Feishu, whatever header or field carries it.

use crate::config::agent_keys::AGENT_KEY_PREFIX;
use feishu_tenant_token::secret::{ApiKey, contains_secret};

/// Whether `text` carries anything shaped as one of the Worker's own
/// credentials: an agent key (`ftt_ak_`, any case) or a gateway token
/// (`g1.` and at least 16 base64url characters of claims, then a `.`)
/// anywhere in it. Such a value is the Worker's or nobody's: it never goes
/// to Feishu, whatever the header or field that carries it.
pub fn shaped_as_ours(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if lower.contains(AGENT_KEY_PREFIX) {
        return true;
    }
    let prefix = crate::keys::gateway_token::PREFIX;
    lower.match_indices(prefix).any(|(at, _)| {
        let rest = &text.as_bytes()[at + prefix.len()..];
        let claims = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
            .count();
        claims >= 16 && rest.get(claims) == Some(&b'.')
    })
}

/// Whether `text` (a header value, a credential field of a body) carries one
/// of the Worker's own credentials: anything [`shaped_as_ours`], or a
/// configured API key anywhere in it (each position compared in constant
/// time). None of them ever goes to Feishu.
pub fn carries_ours(text: &str, api_keys: &[ApiKey]) -> bool {
    let key = api_keys.iter().fold(false, |found, k| {
        found | contains_secret(text, k.expose_secret())
    });
    key || shaped_as_ours(text)
}
