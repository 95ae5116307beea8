//! The operator page's three files, served by the Worker itself (same
//! origin as the admin API) under a Content Security Policy that allows
//! only them: no inline script, no third-party anything, no framing.

use crate::http::reply::{self, Local};
use worker::{Response, Result};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// Only the page's own files, from its own origin; nothing else loads.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /admin` (`name` empty), `/admin/app.js`, `/admin/app.css`.
pub fn file(name: &str) -> Result<Response> {
    let (body, kind) = match name {
        "" | "index.html" => (INDEX, "text/html; charset=utf-8"),
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "app.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return reply::local(Local::NotFound, "no such file of the operator page"),
    };
    let mut resp = Response::from_bytes(body.as_bytes().to_vec())?;
    let h = resp.headers_mut();
    h.set("content-type", kind)?;
    h.set("content-security-policy", CSP)?;
    h.set("x-content-type-options", "nosniff")?;
    h.set("x-frame-options", "DENY")?;
    h.set("referrer-policy", "no-referrer")?;
    h.set("cache-control", "no-store")?;
    Ok(resp)
}
