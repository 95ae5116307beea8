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
    let h = response.headers();
    let (ct, len) = (
        h.get("content-type").ok().flatten(),
        h.get("content-length").ok().flatten(),
    );
    if !api_call::worth_inspecting(response.status(), ct.as_deref(), len.as_deref()) {
        return false;
    }
    let Some(stream) = response.clone().ok().and_then(|copy| copy.body()) else {
        return false;
    };
    let Ok(bytes) = read_within(&stream, MAX_INSPECTED_BYTES).await else {
        return false;
    };
    core::str::from_utf8(&bytes).is_ok_and(|text| api_call::token_refused(json, text))
}
