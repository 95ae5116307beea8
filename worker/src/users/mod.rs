//! User access tokens at the edge (on with `USER_TOKEN_KEY`, and only with
//! the `USER_OBJECTS` binding, class `UserObject`): a browser signs in through the Worker
//! (`sign_in.rs`: `/oauth/login`, `/oauth/callback`); the user's grant then
//! lives in that user's own Durable Object (`object.rs`, sealed at rest by
//! `sealed.rs`, kept by `store.rs`), which runs the core's `UserTokens`:
//! every refresh of one user, from any isolate or location, goes through
//! that one object, so a single-use refresh token is sent once. Services
//! and agents get the user's token with an API key (`endpoints.rs`), or
//! have it put on their calls (`X-User-Id`, `calls.rs`); `ask.rs` is the
//! front's side of the object, asked only for users the directory
//! (`directory.rs`) says signed in.

pub mod protocol;
pub mod sealed;

#[cfg(target_arch = "wasm32")]
pub mod ask;
#[cfg(target_arch = "wasm32")]
pub mod calls;
#[cfg(target_arch = "wasm32")]
pub mod directory;
#[cfg(target_arch = "wasm32")]
pub mod endpoints;
#[cfg(target_arch = "wasm32")]
pub mod held;
#[cfg(target_arch = "wasm32")]
pub mod object;
#[cfg(target_arch = "wasm32")]
pub mod sign_in;
#[cfg(target_arch = "wasm32")]
pub mod store;

use crate::config::Config;
use feishu_tenant_token::AppCredentials;

/// The app users sign in to: the store app of store-app mode (at the top
/// level) or one of `SELF_BUILT_APPS`: only apps whose secret the Worker
/// holds. `None` names the only one there is.
pub fn app_credentials(config: &Config, app_id: &str) -> Result<AppCredentials, String> {
    let managed = config.managed_here().map(|m| &m.app);
    let mut apps = managed.into_iter().chain(config.agents.self_built.iter());
    if app_id.is_empty() {
        let first = apps.next();
        return match (first, apps.next()) {
            (Some(only), None) => Ok(only.clone()),
            (None, _) => {
                Err("no app: set FEISHU_APP_ID and FEISHU_APP_SECRET, or SELF_BUILT_APPS".into())
            }
            (Some(_), Some(_)) => {
                Err("several apps are configured: name one with `app=<app_id>`".into())
            }
        };
    }
    apps.find(|a| a.app_id() == app_id).cloned().ok_or_else(|| {
        // The caller's text, echoed bounded.
        let named: String = app_id.chars().take(64).collect();
        format!(
            "the Worker holds no secret for app {named:?} of this brand (FEISHU_APP_ID or SELF_BUILT_APPS; an app is Feishu's at the top level, or Lark's under /lark with \"brand\": \"lark\")"
        )
    })
}

/// Sets the object's one alarm at `at_ms` (an absolute time).
#[cfg(target_arch = "wasm32")]
pub async fn schedule_alarm(state: &worker::State, at_ms: u64) {
    let store = crate::cache::object_store::ObjectStore::of(state);
    if store.set_alarm(at_ms).await.is_err() {
        crate::log::warn("user_alarm_failed", "setAlarm refused");
    }
}
