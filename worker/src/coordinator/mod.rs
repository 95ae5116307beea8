//! The optional Durable Object coordinator (binding `COORDINATOR`, class
//! `TokenCoordinator`): one object per KV key, so that a token missing from
//! every isolate's memory and from KV is fetched once for all isolates and
//! locations, and a hot key's token is renewed by an alarm before requests
//! would wait on Feishu. Without the binding nothing here is asked.
//!
//! - `protocol`: what fronts and the object say to each other (Feishu's token
//!   API, managed questions, ticket operations, relayed failures);
//! - `ask`: the front side, what an isolate's KV layer asks on a miss;
//! - `object`: the object itself, serving questions with its own clients;
//! - `tickets`, `storage`: a managed app's ticket, resend limit and app token
//!   in the storage of the app's object.
//!
//! The KV layer sees the coordinator only as [`Ask`], so its rules are tested
//! natively with a closure standing in for the object.

#[cfg(target_arch = "wasm32")]
pub mod ask;
#[cfg(target_arch = "wasm32")]
pub mod protocol;
#[cfg(target_arch = "wasm32")]
pub mod storage;
#[cfg(target_arch = "wasm32")]
pub mod tickets;

/// The token coordinator's binding in `wrangler.toml` (class
/// `TokenCoordinator`): one object per KV key.
pub const BINDING: &str = "COORDINATOR";

/// The store app's keeper's binding (class `StoreAppKeeper`): the managed
/// app's one object, named by its app token's KV key, keeping its ticket,
/// resend claim and app token.
pub const STORE_APP_BINDING: &str = "STORE_APP_KEEPER";

/// Each signed-in user's object (class `UserObject`), named by brand, app
/// and user.
pub const USER_BINDING: &str = "USER_OBJECTS";

/// The binding of the object that owns KV key `key`: the store app's
/// keeper for the managed app's own app token (`aat:v1:<app_id>`), the
/// token coordinator for every other token key.
pub fn binding_for_key(key: &str) -> &'static str {
    let bare = key
        .strip_prefix(feishu_tenant_token::kv::LARK_KEY_PREFIX)
        .unwrap_or(key);
    match bare.strip_prefix("aat:v1:") {
        Some(rest) if !rest.contains(':') => STORE_APP_BINDING,
        _ => BINDING,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_managed_apps_own_token_is_its_keepers_every_other_key_the_coordinators() {
        use feishu_tenant_token::kv;
        assert_eq!(
            super::binding_for_key(&kv::app_token_key("cli_a")),
            super::STORE_APP_BINDING
        );
        for key in [
            kv::managed_tenant_key("cli_a", "t1"),
            kv::internal_token_key(true, "cli_a", "ab"),
            kv::store_app_token_key("cli_a", "ab"),
            "tat:v1:abcd:t1".to_owned(),
        ] {
            assert_eq!(super::binding_for_key(&key), super::BINDING, "{key}");
        }
    }
}
