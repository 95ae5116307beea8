//! Reading what a caller sent: the body within a limit, and the headers
//! every endpoint looks at.

use crate::http::reply::{self, Local};
use feishu_tenant_token::host::{Unread, read_within};
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
/// (by its declared length, before reading, or by what arrives: counted as
/// it streams in, and refused as soon as the limit is passed, so an
/// undeclared body of any size costs at most `max` bytes of memory) or
/// unreadable.
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
    let Some(stream) = req.inner().body() else {
        return Ok(Ok(Vec::new()));
    };
    match read_within(&stream, max as u64).await {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(Unread::TooLarge) => too_large().map(Err),
        Err(Unread::Broken) => {
            reply::local(Local::BadBody, "the request body could not be read").map(Err)
        }
    }
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
