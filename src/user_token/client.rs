//! A user's access token, kept fresh over a store the host supplies, with
//! every refresh of a user in one flight: [`UserTokens`]. The rules are
//! the module's ([`after_refresh_failed`]): a refreshed grant is stored
//! (compare-and-set) before anyone is answered; a refresh token is sent at
//! most once by this client; a lost race (20064/20073) re-reads the store;
//! a server error is retried once; an expired or invalid grant signs the
//! user out; nothing loops.
//!
//! One client per process serves a single process; the Worker runs one per
//! user in that user's Durable Object, which makes it the one place every
//! process and location refreshes through.

use super::{
    AfterRefresh, Claim, RefreshToken, UserGrant, after_refresh_failed, build_refresh,
    exchange_code, parse_user_token_reply, still_the_refused_one,
};
use crate::AppCredentials;
use crate::client::single_flight::Flight;
use crate::error::Error;
use crate::freshness::Clock;
use crate::secret::AccessToken;
use crate::source::send;
use crate::transport::Transport;
use crate::validate::BaseUrl;
use core::cell::RefCell;
use core::future::Future;
use std::collections::HashMap;
use std::rc::Rc;

/// A stored grant and its version (for compare-and-set).
#[derive(Clone, Debug)]
pub struct Versioned {
    pub version: u64,
    pub grant: UserGrant,
}

/// Where users' grants live: the host's (a Durable Object's storage, a
/// database row, memory). `put` is compare-and-set: it stores only while the
/// version is still `expected` (`None`: no grant), and says whether it did.
pub trait UserStore {
    fn get(&self, user: &str) -> impl Future<Output = Result<Option<Versioned>, Error>>;
    fn put(
        &self,
        user: &str,
        expected: Option<u64>,
        grant: &UserGrant,
    ) -> impl Future<Output = Result<bool, Error>>;
    fn delete(&self, user: &str) -> impl Future<Output = Result<(), Error>>;
}

/// An in-memory store: one process's users.
#[derive(Default)]
pub struct MemoryStore {
    grants: RefCell<HashMap<String, Versioned>>,
}

impl UserStore for MemoryStore {
    async fn get(&self, user: &str) -> Result<Option<Versioned>, Error> {
        Ok(self.grants.borrow().get(user).cloned())
    }
    async fn put(
        &self,
        user: &str,
        expected: Option<u64>,
        grant: &UserGrant,
    ) -> Result<bool, Error> {
        let mut grants = self.grants.borrow_mut();
        let current = grants.get(user).map(|v| v.version);
        if current != expected {
            return Ok(false);
        }
        let version = current.map_or(1, |v| v + 1);
        grants.insert(
            user.to_owned(),
            Versioned {
                version,
                grant: grant.clone(),
            },
        );
        Ok(true)
    }
    async fn delete(&self, user: &str) -> Result<(), Error> {
        self.grants.borrow_mut().remove(user);
        Ok(())
    }
}

/// A user token served: the token and when it expires.
#[derive(Clone, Debug)]
pub struct UserAccess {
    pub token: AccessToken,
    pub expires_at_ms: u64,
}

/// Why no user token.
#[derive(Clone, Debug)]
pub enum UserTokenFailure {
    /// The user must sign in again (no grant, an expired or revoked one;
    /// Feishu's code when it said so). Their stored grant is gone.
    SignedOut { feishu_code: Option<i64> },
    /// Anything else (Feishu unreachable, a server error twice, the store):
    /// the grant is kept as it is.
    Failed(Error),
}

impl From<Error> for UserTokenFailure {
    fn from(e: Error) -> Self {
        UserTokenFailure::Failed(e)
    }
}

type Outcome = Result<UserAccess, UserTokenFailure>;

/// After a lost race (20064/20073) finds the refused refresh token still
/// stored, the store is read once more after this long before the user is
/// signed out: the winner, in another process, may still be storing.
pub const RACE_GRACE_MS: u64 = 1_000;

/// How long a claim holds before others may take it over, by default: the
/// transport's default timeout (10 s) and a margin, so that a holder that
/// is alive has its answer (or its timeout) before the lease ends.
pub const DEFAULT_CLAIM_LEASE_MS: u64 = 12_000;

/// Shortest lease accepted.
pub const MIN_CLAIM_LEASE_MS: u64 = 1_000;

/// While another client holds the claim, the store is read again after
/// this long, doubling up to [`MAX_CLAIM_POLL_MS`].
const FIRST_CLAIM_POLL_MS: u64 = 25;
const MAX_CLAIM_POLL_MS: u64 = 500;

/// What claiming a due grant came to.
enum Claimed {
    /// This client holds the claim: the grant as stored with it.
    Mine(Versioned),
    /// Another client refreshed meanwhile: its grant serves.
    Served(UserAccess),
}

/// What a caller needs of the stored grant.
enum Need {
    /// At least the minimum validity left.
    Fresh,
    /// Fresh, and not this token (an API call refused it).
    NotThis(AccessToken),
    /// A new grant (the refresh token rotated), whatever is stored.
    Rotated,
}

pub struct UserTokens<T, C, S> {
    transport: T,
    clock: C,
    base: BaseUrl,
    app: AppCredentials,
    store: S,
    /// Served only with at least this much left; refreshed below it.
    min_validity_ms: u64,
    flights: RefCell<HashMap<String, Rc<Flight<Outcome>>>>,
    /// Claims before refreshes (off where one place is every user's only
    /// refresher, as the Worker's user objects are).
    claims: bool,
    /// This client's id in the claims it stores.
    holder: String,
    claim_lease_ms: u64,
}

impl<T: Transport, C: Clock, S: UserStore> UserTokens<T, C, S> {
    pub fn new(
        transport: T,
        clock: C,
        base: BaseUrl,
        app: AppCredentials,
        store: S,
        min_validity_secs: u64,
    ) -> Self {
        // Unique enough among the processes sharing a store (two draws of
        // the host's randomness, about 104 bits).
        let draw = |t: &T| (t.random() * 9_007_199_254_740_992.0) as u64;
        let holder = format!("{:013x}{:013x}", draw(&transport), draw(&transport));
        Self {
            transport,
            clock,
            base,
            app,
            store,
            min_validity_ms: min_validity_secs * 1000,
            flights: RefCell::default(),
            claims: true,
            holder,
            claim_lease_ms: DEFAULT_CLAIM_LEASE_MS,
        }
    }

    /// No claims: for a store only this client refreshes from (one object
    /// per user), where its single flight is already the only one.
    pub fn without_claims(mut self) -> Self {
        self.claims = false;
        self
    }

    /// The claim's lease (at least [`MIN_CLAIM_LEASE_MS`]): cover the
    /// transport's timeout, so that a living holder is never taken over.
    pub fn with_claim_lease(mut self, lease_ms: u64) -> Self {
        self.claim_lease_ms = lease_ms.max(MIN_CLAIM_LEASE_MS);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn fresh(&self, grant: &UserGrant) -> bool {
        grant.expires_at_ms > self.clock.now_ms().saturating_add(self.min_validity_ms)
    }

    /// `user`'s access token with at least the minimum validity left: the
    /// stored one, or one refresh for every caller asking meanwhile.
    pub async fn access_token(&self, user: &str) -> Outcome {
        self.serve(user, Need::Fresh).await
    }

    /// `user`'s token after an API call refused `refused` (99991668 /
    /// 99991677): a refresh while the store still holds that token, else the
    /// stored one (another caller replaced it meanwhile). Callers refused
    /// together make one refresh.
    pub async fn replacing(&self, user: &str, refused: &AccessToken) -> Outcome {
        self.serve(user, Need::NotThis(refused.clone())).await
    }

    /// A refresh now, whatever the access token's validity (the keep-alive:
    /// a refresh token lapses after about 7 days unused).
    pub async fn rotate(&self, user: &str) -> Outcome {
        self.serve(user, Need::Rotated).await
    }

    /// The stored grant of `user`, if any (its expiries: when to keep it alive).
    pub async fn grant(&self, user: &str) -> Result<Option<UserGrant>, Error> {
        Ok(self.store.get(user).await?.map(|v| v.grant))
    }

    fn serves(&self, grant: &UserGrant, need: &Need) -> bool {
        match need {
            Need::Fresh => self.fresh(grant),
            Need::NotThis(refused) => {
                self.fresh(grant)
                    && !crate::secret::constant_time_eq(
                        grant.access_token.expose_secret().as_bytes(),
                        refused.expose_secret().as_bytes(),
                    )
            }
            Need::Rotated => false,
        }
    }

    async fn serve(&self, user: &str, need: Need) -> Outcome {
        let current = self.store.get(user).await?;
        match &current {
            None => return Err(UserTokenFailure::SignedOut { feishu_code: None }),
            Some(v) if self.serves(&v.grant, &need) => return Ok(access(&v.grant)),
            Some(_) => {}
        }
        let joined = self.flights.borrow().get(user).cloned();
        if let Some(flight) = joined {
            // The refresh under way replaces whatever this caller was refused.
            return flight.wait().await;
        }
        let flight = Flight::new();
        self.flights
            .borrow_mut()
            .insert(user.to_owned(), Rc::clone(&flight));
        // Read again inside the flight: a refresh that ended between the
        // read above and now has stored its grant.
        let outcome = match self.store.get(user).await {
            Ok(Some(v)) if self.serves(&v.grant, &need) => Ok(access(&v.grant)),
            Ok(Some(v)) => self.refresh(user, v).await,
            Ok(None) => Err(UserTokenFailure::SignedOut { feishu_code: None }),
            Err(e) => Err(e.into()),
        };
        self.flights.borrow_mut().remove(user);
        flight.complete(outcome.clone());
        outcome
    }

    /// Claims `current` in the store before its refresh token is sent, or
    /// waits for the client holding the claim: only the client whose claim
    /// was stored (compare-and-set on the version it read) refreshes; every
    /// other one reads the store again, backing off, until the new grant is
    /// there, and takes the claim over only once its lease has passed.
    async fn claim(&self, user: &str, mut current: Versioned) -> Result<Claimed, UserTokenFailure> {
        let mut poll = FIRST_CLAIM_POLL_MS;
        let waited = current.version;
        loop {
            let now = self.clock.now_ms();
            if current.version != waited
                && current.grant.claim.is_none()
                && self.fresh(&current.grant)
            {
                return Ok(Claimed::Served(access(&current.grant)));
            }
            let held = current
                .grant
                .claim
                .as_ref()
                .filter(|c| c.by != self.holder && c.until_ms > now);
            if let Some(held) = held {
                // Never past the lease: then the holder is taken for dead.
                let left = held.until_ms - now;
                self.transport.sleep(poll.min(left)).await;
                poll = (poll * 2).min(MAX_CLAIM_POLL_MS);
            } else {
                let claimed = UserGrant {
                    claim: Some(Claim {
                        by: self.holder.clone(),
                        until_ms: now.saturating_add(self.claim_lease_ms),
                    }),
                    ..current.grant.clone()
                };
                let stored = self
                    .store
                    .put(user, Some(current.version), &claimed)
                    .await
                    .map_err(|e| {
                        Error::invalid_input(&format!(
                            "{} while claiming the grant for its refresh: nothing was sent to Feishu, the stored grant is unchanged",
                            e.message()
                        ))
                    })?;
                if stored {
                    // The store chose the new version: read it back.
                    match self.store.get(user).await? {
                        Some(v) if v.grant.claim.as_ref().is_some_and(|c| c.by == self.holder) => {
                            return Ok(Claimed::Mine(v));
                        }
                        Some(v) => {
                            current = v;
                            continue;
                        }
                        None => return Err(UserTokenFailure::SignedOut { feishu_code: None }),
                    }
                }
            }
            current = match self.store.get(user).await? {
                Some(v) => v,
                None => return Err(UserTokenFailure::SignedOut { feishu_code: None }),
            };
        }
    }

    /// Refreshes `current`: at most one refresh token sent per rotation, a
    /// retry only after a server error, one re-read after a lost race.
    async fn refresh(&self, user: &str, current: Versioned) -> Outcome {
        if !self.claims {
            return self.refresh_claimed(user, current).await;
        }
        let mine = match self.claim(user, current).await? {
            Claimed::Mine(v) => v,
            Claimed::Served(a) => return Ok(a),
        };
        let outcome = self.refresh_claimed(user, mine.clone()).await;
        if let Err(UserTokenFailure::Failed(_)) = &outcome {
            // Nothing stored: the claim goes, so the next caller need not
            // wait out the lease (if the store refuses, the lease ends it).
            let released = UserGrant {
                claim: None,
                ..mine.grant.clone()
            };
            let _ = self.store.put(user, Some(mine.version), &released).await;
        }
        outcome
    }

    /// [`refresh`](Self::refresh) once this client may send the refresh
    /// token (its claim stored, or claims off).
    async fn refresh_claimed(&self, user: &str, mut current: Versioned) -> Outcome {
        let mut attempt = 1;
        let mut reread = false;
        loop {
            let Some(refresh) = current.grant.refresh_token.clone() else {
                return self.signed_out(user, &current, None).await;
            };
            let sent_at = self.clock.now_ms();
            if current
                .grant
                .refresh_expires_at_ms
                .is_some_and(|e| e <= sent_at)
            {
                return self.signed_out(user, &current, None).await;
            }
            let request = build_refresh(&self.base, &self.app, &refresh);
            let answer = match send(&self.transport, request).await {
                Ok(r) => parse_user_token_reply(&r, self.transport.read_json(&r.body), sent_at),
                Err(e) => Err(e),
            };
            let error = match answer {
                Ok(grant) => return self.store_rotated(user, &current, grant).await,
                Err(e) => e,
            };
            match after_refresh_failed(&error, attempt) {
                AfterRefresh::RetryOnce => attempt += 1,
                AfterRefresh::ReRead if !reread => {
                    reread = true;
                    let newer = match self.newer_grant(user, &refresh).await? {
                        Some(v) => Some(v),
                        None => {
                            // The winner may not have stored its grant yet
                            // (another process, a network away): one more
                            // look after a moment, then signed out.
                            self.transport.sleep(RACE_GRACE_MS).await;
                            self.newer_grant(user, &refresh).await?
                        }
                    };
                    match newer {
                        Some(v) => {
                            if self.fresh(&v.grant) {
                                return Ok(access(&v.grant));
                            }
                            // Another refresher stored a newer grant, itself
                            // due: one more refresh, with its token (claimed
                            // first, as every refresh is).
                            current = if self.claims {
                                match self.claim(user, v).await? {
                                    Claimed::Mine(m) => m,
                                    Claimed::Served(a) => return Ok(a),
                                }
                            } else {
                                v
                            };
                            attempt = 1;
                        }
                        None => return self.signed_out(user, &current, error.feishu_code()).await,
                    }
                }
                AfterRefresh::ReRead | AfterRefresh::SignedOut => {
                    return self.signed_out(user, &current, error.feishu_code()).await;
                }
                AfterRefresh::Fail => return Err(error.into()),
            }
        }
    }

    /// The stored grant when it is no longer the one holding `refused`
    /// (another refresher won and stored its result).
    async fn newer_grant(
        &self,
        user: &str,
        refused: &RefreshToken,
    ) -> Result<Option<Versioned>, Error> {
        Ok(self
            .store
            .get(user)
            .await?
            .filter(|v| !still_the_refused_one(v.grant.refresh_token.as_ref(), refused)))
    }

    /// Stores the rotated grant before anyone is answered. Lost the
    /// compare-and-set (a sign-in meanwhile): the store's grant wins if
    /// fresh, else ours is served (it is valid; the store's will refresh).
    async fn store_rotated(&self, user: &str, current: &Versioned, grant: UserGrant) -> Outcome {
        if self.store.put(user, Some(current.version), &grant).await? {
            return Ok(access(&grant));
        }
        match self.store.get(user).await? {
            Some(v) if self.fresh(&v.grant) => Ok(access(&v.grant)),
            _ => Ok(access(&grant)),
        }
    }

    /// Deletes the grant (only the one that failed: a newer sign-in stays).
    async fn signed_out(
        &self,
        user: &str,
        failed: &Versioned,
        feishu_code: Option<i64>,
    ) -> Outcome {
        if let Some(v) = self.store.get(user).await?
            && v.version == failed.version
        {
            self.store.delete(user).await?;
        }
        Err(UserTokenFailure::SignedOut { feishu_code })
    }

    /// A sign-in's code exchanged ([`exchange_code`]) and the grant stored
    /// under the user it names: that user and their token.
    pub async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<(String, UserAccess), Error> {
        let now = self.clock.now_ms();
        let (user, grant) = exchange_code(
            &self.transport,
            now,
            &self.base,
            &self.app,
            code,
            redirect_uri,
            code_verifier,
        )
        .await?;
        self.signed_in(&user, &grant).await?;
        Ok((user, access(&grant)))
    }

    /// The app users sign in to.
    pub fn app(&self) -> &AppCredentials {
        &self.app
    }

    /// Stores a grant a sign-in produced (replacing any earlier one).
    pub async fn signed_in(&self, user: &str, grant: &UserGrant) -> Result<(), Error> {
        for _ in 0..3 {
            let expected = self.store.get(user).await?.map(|v| v.version);
            if self.store.put(user, expected, grant).await? {
                return Ok(());
            }
        }
        Err(Error::invalid_input(
            "the user store kept changing under the sign-in",
        ))
    }
}

fn access(grant: &UserGrant) -> UserAccess {
    UserAccess {
        token: grant.access_token.clone(),
        expires_at_ms: grant.expires_at_ms,
    }
}

#[cfg(test)]
mod tests;
