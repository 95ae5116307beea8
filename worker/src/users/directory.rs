//! Who has signed in here, so that a user who never did costs a read and
//! no Durable Object: instantiating an object gives it storage (a SQLite
//! file in workerd), and any API key holder could name any `open_id`.
//!
//! A sign-in writes the user's entry in KV (`Who::directory_key`: the app
//! and a digest of the `open_id`, the value "1", no secret); a front asks
//! the user's object only when the entry is there, and remembers in the
//! isolate the users it found (bounded). An explicit sign-out deletes the
//! entry. Workers KV is eventually consistent: in another location a user
//! who signed in seconds ago may be answered "signed out" for up to KV's
//! cache time (60 s) if that location looked them up just before. The
//! object stays the authority on the grant itself.

use crate::cache::layer::KvHost;
use crate::cache::workers_kv::WorkerKv;
use crate::sources::clients::MAX_CACHED_TOKENS;
use crate::users::protocol::Who;
use std::cell::RefCell;
use std::collections::HashSet;
use worker::Env;

thread_local! {
    /// Users this isolate found signed in (their directory keys).
    static FOUND: RefCell<HashSet<String>> = RefCell::default();
}

const SIGNED_IN: &str = "1";

/// Whether `who` may be signed in: found in this isolate before, or in KV.
/// KV unreadable: asked to the object (it knows).
pub async fn may_be_signed_in(env: &Env, who: &Who) -> bool {
    let key = who.directory_key();
    if FOUND.with(|f| f.borrow().contains(&key)) {
        return true;
    }
    let Ok(kv) = WorkerKv::from_env(env) else {
        return true;
    };
    match kv.get(&key).await {
        Ok(Some(_)) => {
            found(key);
            true
        }
        Ok(None) => false,
        Err(e) => {
            kv.warn("kv_get_failed", &e);
            true
        }
    }
}

fn found(key: String) {
    FOUND.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() >= MAX_CACHED_TOKENS {
            f.clear();
        }
        f.insert(key);
    });
}

/// A sign-in finished: the user is in the directory.
pub async fn signed_in(env: &Env, who: &Who) {
    let key = who.directory_key();
    if let Ok(kv) = WorkerKv::from_env(env)
        && let Err(e) = kv.put(&key, SIGNED_IN, None).await
    {
        kv.warn("kv_put_failed", &e);
    }
    found(key);
}

/// The user's object says they are signed out: this isolate stops
/// skipping the directory for them (the entry stays: a sign-in elsewhere
/// may have just written it).
pub fn forget(who: &Who) {
    let key = who.directory_key();
    FOUND.with(|f| f.borrow_mut().remove(&key));
}

/// An explicit sign-out: the entry goes too.
pub async fn signed_out(env: &Env, who: &Who) {
    forget(who);
    if let Ok(kv) = WorkerKv::from_env(env)
        && let Err(e) = kv.delete(&who.directory_key()).await
    {
        kv.warn("kv_delete_failed", &e);
    }
}
