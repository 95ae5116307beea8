//! What a user's object keeps in its storage: the grant, sealed, with its
//! version (`GrantStore`, the core's `UserStore`), and who the user is and
//! when they were last served (`Presence`, for the keep-alive alarm, which
//! comes with no request to say whose object it is).
//!
//! The object runs one storage operation at a time (its input gate), and
//! it is the only writer of its storage: a read-compare-write is atomic.

use crate::cache::object_store::ObjectStore;
use crate::config::users::DerivedKey;
use crate::keys::random::random_bytes;
use crate::log;
use crate::users::protocol::Who;
use crate::users::sealed;
use core::cell::Cell;
use feishu_tenant_token::Error;
use feishu_tenant_token::user_token::{UserGrant, UserStore, Versioned};
use serde::{Deserialize, Serialize};

const GRANT: &str = "user-grant";
const PRESENCE: &str = "user";
/// `used` is written at most this often (a write per token served would be
/// a Durable Object storage write per request).
const USED_GRANULARITY_MS: u64 = 3_600_000;

#[derive(Serialize, Deserialize)]
struct Record {
    v: u64,
    /// `sealed::seal`'s text.
    g: String,
}

pub struct GrantStore {
    store: ObjectStore,
    key: DerivedKey,
    binding: String,
    /// Set by each `put`: the stored grant's refresh-token expiry (the
    /// keep-alive's next alarm), taken by `take_stored`.
    stored: Cell<Option<u64>>,
}

fn failed(_: worker::Error) -> Error {
    Error::invalid_input("the user's Durable Object storage failed")
}

impl GrantStore {
    pub fn new(store: ObjectStore, key: DerivedKey, binding: String) -> Self {
        Self {
            store,
            key,
            binding,
            stored: Cell::new(None),
        }
    }

    /// The refresh-token expiry of a grant stored since the last call.
    pub fn take_stored(&self) -> Option<u64> {
        self.stored.take()
    }

    /// A grant a front sealed for this object's user (a sign-in).
    pub fn open(&self, sealed_text: &str) -> Option<UserGrant> {
        sealed::open(&self.key, &self.binding, sealed_text)
    }

    /// The stored record that opens under this object's key and binding.
    /// One that does not (`USER_TOKEN_KEY` changed, or altered) is deleted:
    /// its user signs in again.
    async fn current(&self) -> Result<Option<(u64, UserGrant)>, Error> {
        let Some(text) = self.store.get(GRANT).await.map_err(failed)? else {
            return Ok(None);
        };
        let opened = serde_json::from_str::<Record>(&text)
            .ok()
            .and_then(|r| Some((r.v, sealed::open(&self.key, &self.binding, &r.g)?)));
        if opened.is_none() {
            log::warn(
                "user_grant_unreadable",
                "a stored user grant does not open under USER_TOKEN_KEY: deleted, the user signs in again",
            );
            self.store.delete(GRANT).await.map_err(failed)?;
        }
        Ok(opened)
    }
}

impl UserStore for GrantStore {
    async fn get(&self, _user: &str) -> Result<Option<Versioned>, Error> {
        Ok(self
            .current()
            .await?
            .map(|(version, grant)| Versioned { version, grant }))
    }

    async fn put(
        &self,
        _user: &str,
        expected: Option<u64>,
        grant: &UserGrant,
    ) -> Result<bool, Error> {
        let current = self.current().await?.map(|(v, _)| v);
        if current != expected {
            return Ok(false);
        }
        let record = Record {
            v: current.map_or(1, |v| v + 1),
            g: sealed::seal(&self.key, &self.binding, grant, random_bytes()),
        };
        self.store
            .put(GRANT, &log::json(&record))
            .await
            .map_err(failed)?;
        self.stored.set(grant.refresh_expires_at_ms);
        Ok(true)
    }

    async fn delete(&self, _user: &str) -> Result<(), Error> {
        self.store.delete(GRANT).await.map_err(failed)
    }
}

#[derive(Serialize, Deserialize)]
struct Seen {
    who: Who,
    used: u64,
}

/// Who the object's user is, and when they were last served.
pub struct Presence {
    store: ObjectStore,
    /// The last `used` written, so most requests write nothing.
    written: Cell<u64>,
}

impl Presence {
    pub fn new(store: ObjectStore) -> Self {
        Self {
            store,
            written: Cell::new(0),
        }
    }

    pub async fn read(&self) -> Option<(Who, u64)> {
        let text = self.store.get(PRESENCE).await.ok()??;
        let seen: Seen = serde_json::from_str(&text).ok()?;
        Some((seen.who, seen.used))
    }

    /// A sign-in: the user, served now.
    pub async fn arrived(&self, who: &Who, now: u64) {
        self.write(who, now).await;
    }

    /// The user was served a token now (written at most once an hour).
    pub async fn used(&self, who: &Who, now: u64) {
        if now.saturating_sub(self.written.get()) >= USED_GRANULARITY_MS {
            self.write(who, now).await;
        }
    }

    async fn write(&self, who: &Who, now: u64) {
        let seen = Seen {
            who: who.clone(),
            used: now,
        };
        if self.store.put(PRESENCE, &log::json(&seen)).await.is_ok() {
            self.written.set(now);
        }
    }

    /// Signed out: nothing left to keep alive.
    pub async fn gone(&self) {
        let _ = self.store.delete(PRESENCE).await;
        self.written.set(0);
    }
}
