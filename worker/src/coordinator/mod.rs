//! How an isolate asks the Durable Objects (the front side; the classes
//! are `objects/`): each object's binding (`BINDING` for the token
//! coordinator, one object per KV key; `STORE_APP_BINDING` for the store
//! app's keeper; `USER_BINDING` for each user's object) and which one owns a
//! KV key (`binding_for_key`). Without the bindings nothing here is asked.
//!
//! - `protocol`: what fronts and the objects say to each other (Feishu's
//!   token API, managed questions, ticket operations, relayed failures);
//! - `ask`: what an isolate's KV layer asks on a miss, and a replacement;
//! - `tickets`, `storage`: store-app mode's ticket, resend limit and app
//!   token, through the keeper or, in the keeper itself, its storage.
//!
//! The KV layer sees the objects only as `cache::ask::Ask`, so its rules are
//! tested natively with a closure standing in for the object.

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

/// The limits' objects (class `LimitKeeper`, `limits::keeper`), one per
/// app and tenant or user, pacing Feishu's limits for every isolate.
pub const LIMIT_BINDING: &str = "LIMIT_KEEPERS";

/// Each limited agent key's object (class `KeyLedger`): its calls counted
/// against its `limits` for every isolate.
pub const KEY_LEDGER_BINDING: &str = "KEY_LEDGERS";

/// The key registry's one object (class `KeyRegistry`): agent keys made,
/// rotated and revoked at run time, and the admin actions' last lines.
pub const KEY_REGISTRY_BINDING: &str = "KEY_REGISTRY";

/// Each app's event log (class `EventLog`): its events numbered, kept
/// 72 hours, received once, pushed to its handlers.
pub const EVENT_LOG_BINDING: &str = "EVENT_LOGS";

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
