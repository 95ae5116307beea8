//! `POST /open-apis/auth/v3/tenant_access_token`: Feishu's own endpoint,
//! answered from the isolate's memory, then KV, then Feishu.

use crate::body::{self, Refusal};
use crate::config::Config;
use crate::reply::{self, Local};
use crate::request::{is_json, read_body, wants_refresh};
use crate::state;
use worker::{Env, Request, Response, Result};

/// Largest request body accepted: 16 KiB. Feishu's own body is
/// two short strings; even 4 KiB tokens fit with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub async fn tenant_token(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    if !is_json(&content_type) {
        return reply::local(
            Local::UnsupportedMediaType,
            "content-type must be application/json",
        );
    }
    let bytes = match read_body(&mut req, MAX_BODY_BYTES).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    let request = match body::tenant_token_request(&bytes) {
        Ok(r) => r,
        Err(Refusal::BadBody(msg)) => return reply::local(Local::BadBody, &msg),
        Err(Refusal::InvalidField(msg)) => return reply::local(Local::InvalidField, &msg),
    };
    let client = match state::pass_through(env, config) {
        Ok(c) => c,
        Err(why) => return reply::local(Local::Misconfigured, &why),
    };
    // Throttled per key by the core.
    let forced = wants_refresh(&req);
    let answer = if forced {
        client.refresh_served(&request).await
    } else {
        client.get_served(&request).await
    };
    reply::token_answer(answer, forced)
}
