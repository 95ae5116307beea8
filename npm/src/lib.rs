//! The npm package's WebAssembly: the `#[wasm_bindgen]` API over the
//! `feishu-tenant-token` core. Built three times by `scripts/build-npm.sh`:
//! the main entry (tenant tokens) without features,
//! `feishu-tenant-token/store-app` with `store-app`,
//! `feishu-tenant-token/user-tokens` with `user-tokens`. Everything here is
//! wasm32-only.
#![cfg(target_arch = "wasm32")]

mod api;
mod api_fetch;
mod errors;
mod fast_path;
mod options;
mod self_built;
mod serve;
#[cfg(feature = "store-app")]
mod store_app;
mod types;
#[cfg(feature = "user-tokens")]
mod user_tokens;
