//! Reading what a caller sent: the body within a limit, and the headers
//! every endpoint looks at.

use crate::http::reply::{self, Local};
use worker::{Request, Response, Result};

/// `Cache-Control: no-cache` (any case, among other directives): a forced
/// refresh past memory and KV, e.g. after an API answered 99991663.
pub fn wants_refresh(req: &Request) -> bool {
    req.headers()
        .get("cache-control")
        .ok()
        .flatten()
        .is_some_and(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
        })
}

/// The request body, or the answer refusing it: larger than `max` bytes
/// (by its declared length, before reading, or by what arrived) or unreadable.
pub async fn read_body(
    req: &mut Request,
    max: usize,
) -> Result<core::result::Result<Vec<u8>, Response>> {
    let too_large = || {
        reply::local(
            Local::TooLarge,
            &format!("request body is larger than {max} bytes"),
        )
    };
    let declared = req.headers().get("content-length")?;
    if declared
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l > max as u64)
    {
        return too_large().map(Err);
    }
    let Ok(bytes) = req.bytes().await else {
        return reply::local(Local::BadBody, "the request body could not be read").map(Err);
    };
    if bytes.len() > max {
        return too_large().map(Err);
    }
    Ok(Ok(bytes))
}

/// `application/json`, any case, with or without parameters.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Largest request body accepted: 16 KiB. Feishu's own body is
/// two short strings; even 4 KiB tokens fit with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The JSON body within [`MAX_BODY_BYTES`], or the answer refusing it.
pub async fn json_body(req: &mut Request) -> Result<core::result::Result<Vec<u8>, Response>> {
    // No content type is read as JSON: lark-oapi (Python) sends its token
    // requests without one. A declared other type is refused.
    let content_type = req.headers().get("content-type")?;
    if content_type.is_some_and(|ct| !is_json(&ct)) {
        return reply::local(
            Local::UnsupportedMediaType,
            "content-type must be application/json",
        )
        .map(Err);
    }
    read_body(req, MAX_BODY_BYTES).await
}
