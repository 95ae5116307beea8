//! Whether an API answer says Feishu refused the access token (99991663,
//! 99991665), read the same way by the npm clients' `fetch` and the
//! Worker's gateway: only answers `api_call::worth_inspecting` allows, from
//! a copy (the caller's answer is untouched), and at most
//! [`MAX_INSPECTED_BYTES`] of it, the copy cancelled past that, so a large
//! answer of unknown length is never held.

use crate::api_call::{self, MAX_INSPECTED_BYTES};
use crate::host::stream::read_within;
use crate::json::ReadJson;
use web_sys::Response;

/// Anything unexpected (not JSON, too large, unreadable) counts as "not refused".
pub async fn refuses_token(response: &Response, json: &impl ReadJson) -> bool {
    answer_code(response, json)
        .await
        .is_some_and(api_call::refuses_token)
}

/// Feishu's `code` in an answer worth inspecting, read from a bounded copy:
/// the one reading behind every refusal check (tenant, app and user tokens
/// alike), whether the answer declared its length or came chunked. `None`
/// for anything unexpected (not JSON, too large, unreadable).
pub async fn answer_code(response: &Response, json: &impl ReadJson) -> Option<i64> {
    if !api_call::may_refuse(response.status()) {
        return None;
    }
    let h = response.headers();
    let (ct, len) = (
        h.get("content-type").ok().flatten(),
        h.get("content-length").ok().flatten(),
    );
    if !api_call::worth_inspecting(response.status(), ct.as_deref(), len.as_deref()) {
        return None;
    }
    let stream = response.clone().ok().and_then(|copy| copy.body())?;
    let bytes = read_within(&stream, MAX_INSPECTED_BYTES).await.ok()?;
    core::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| api_call::answer_code(json, text))
}
