//! The gateway: every `/open-apis/*` request the token endpoints do not
//! answer goes on to `FEISHU_BASE_URL` (never another host) with its method,
//! path, query, headers and body, streamed both ways, nothing cached
//! (`pass_through`): a call bearing a gateway token is an agent's
//! (`agents::calls`), one with `X-Tenant-Key` a managed call, one with
//! `X-User-Id` a user's (`users::calls`); how each is sent, examined and
//! healed is `calls/`.

#[cfg(target_arch = "wasm32")]
pub mod pass_through;
