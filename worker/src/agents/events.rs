//! An agent key pulling its app's events (`GET /v1/events`): allowed when
//! its entry lists the event types it may read (`events`), for its own app
//! only; it then reads those types alone.

use crate::agents::registry;
use crate::config::Config;
use crate::config::agent_keys::AGENT_KEY_PREFIX;
use crate::events::pull::Reader;
use crate::http::query;
use crate::http::reply::{self, Local};
use crate::keys::bearer::bearer;
use worker::{Env, Request, Response, Result};

/// `Ok(None)`: the bearer is no agent key (a service's API key is checked
/// by the pull itself); `Ok(Some(reader))`: an agent key that may read its
/// types of the app asked for; `Err`: the refusal.
pub async fn reader(
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<core::result::Result<Option<Reader>, Response>> {
    let header = req.headers().get("authorization")?.unwrap_or_default();
    let Some(key) = bearer(&header).filter(|b| b.starts_with(AGENT_KEY_PREFIX)) else {
        return Ok(Ok(None));
    };
    let app_id = query::param(&req.inner().url(), "app_id").unwrap_or_default();
    let entry = match registry::presented(env, config, key, Some(&app_id)).await? {
        Ok(e) => e,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if entry.app_id != app_id || entry.events.is_empty() {
        let why = format!(
            "agent key {:?} may not read this app's events (its entry's `events` lists the types it may read)",
            entry.id
        );
        return reply::local(Local::KeyNotAllowed, &why).map(Err);
    }
    Ok(Ok(Some(Reader {
        key_id: entry.id,
        types: entry.events,
    })))
}
