//! CORS for browser callers (the demo page): only origins in ALLOWED_ORIGINS.

use crate::config::Origins;
use worker::{Headers, Response, Result};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "content-type, cache-control, authorization, x-tenant-key, x-user-id, x-app-id";
const EXPOSE_HEADERS: &str =
    "x-cache, x-cache-layer, server-timing, retry-after, x-ogw-ratelimit-reset";
const MAX_AGE_SECS: &str = "600";

/// The caller's origin, if it is allowed.
pub struct Cors(Option<String>);

impl Cors {
    pub fn new(allowed: &Origins, origin: Option<String>) -> Self {
        Self(origin.filter(|o| allowed.allows(o)))
    }

    pub fn is_allowed(&self) -> bool {
        self.0.is_some()
    }

    /// Adds the CORS headers (for an allowed origin) to any response.
    pub fn apply(&self, mut resp: Response) -> Result<Response> {
        let h = resp.headers_mut();
        h.append("vary", "Origin")?;
        if let Some(origin) = &self.0 {
            h.set("access-control-allow-origin", origin)?;
            h.set("access-control-expose-headers", EXPOSE_HEADERS)?;
        }
        Ok(resp)
    }

    pub fn preflight_headers(&self) -> Result<Headers> {
        let h = Headers::new();
        h.set("access-control-allow-methods", ALLOW_METHODS)?;
        h.set("access-control-allow-headers", ALLOW_HEADERS)?;
        h.set("access-control-max-age", MAX_AGE_SECS)?;
        Ok(h)
    }
}
