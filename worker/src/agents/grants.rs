//! What an agent key or a gateway token may get and do: every decision, as
//! plain functions over the settings, tested natively. The Worker's side
//! (`endpoints.rs`, `calls.rs`) only answers and sends.

use crate::config::Agents;
use crate::config::agent_keys::{AgentKey, find_by_digest};
use crate::keys::agent_key;
use crate::keys::gateway_token::{self, Claims, Kind};
use crate::keys::ours::shaped_as_ours;
use feishu_tenant_token::AppCredentials;
use feishu_tenant_token::kv::MAX_TOKEN_LIFE_SECS;
use sha2::{Digest, Sha256};

/// A gateway token handed out for a key.
#[derive(Debug, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    pub expires_at_ms: u64,
    pub key_id: String,
}

/// Why a key or gateway token gets nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// Not a key or gateway token of this Worker's (unknown, expired, its
    /// entry gone, the app's secret changed, another brand's): answered as
    /// Feishu answers a wrong secret or token.
    Invalid,
    /// A valid gateway token whose key does not allow this method and path.
    NotAllowed { key_id: String },
    /// A store app's key asked for a tenant it does not list.
    TenantNotAllowed { key_id: String },
}

/// The settings a decision reads.
pub struct Settings<'a> {
    pub agents: &'a Agents,
    /// Store-app mode's app (its keys are store-app keys).
    pub store_app: Option<&'a AppCredentials>,
    /// The request came under `/lark`.
    pub lark: bool,
}

impl Settings<'_> {
    /// The credentials the Worker holds for `app_id`.
    fn app(&self, app_id: &str) -> Option<&AppCredentials> {
        self.agents
            .self_built
            .iter()
            .chain(self.store_app)
            .find(|a| a.app_id() == app_id)
    }

    fn is_store_app(&self, app_id: &str) -> bool {
        self.store_app.is_some_and(|a| a.app_id() == app_id)
    }

    fn mint(&self, key: &AgentKey, app: &AppCredentials, claims: Claims) -> Minted {
        let token = gateway_token::mint(&claims, app.app_secret().expose_secret(), &key.digest);
        Minted {
            token,
            expires_at_ms: claims.expires_at_ms,
            key_id: key.id.clone(),
        }
    }

    /// An agent key (`ftt_ak_...`, presented as a bearer) acting for `user`
    /// of `app_id`: its entry, when the key lists the user and, for an API
    /// call (`call`: method and path), allows the call; for the user's raw
    /// token (`call` `None`), when its entry has `user_tokens`.
    pub fn for_user(
        &self,
        key: &str,
        app_id: &str,
        user: &str,
        call: Option<(&str, &str)>,
        now_ms: u64,
    ) -> Result<&AgentKey, Denied> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let found = find_by_digest(&self.agents.keys, app_id, &digest);
        let Some(k) = found.filter(|k| !k.expired(now_ms)) else {
            return Err(Denied::Invalid);
        };
        // No call: the raw token, for an entry that says so only (a raw
        // token works at Feishu outside `allow`).
        let allowed = k.acts_for(user)
            && match call {
                Some((m, p)) => k.allows(m, p),
                None => k.user_tokens,
            };
        if !allowed {
            return Err(Denied::NotAllowed {
                key_id: k.id.clone(),
            });
        }
        Ok(k)
    }

    /// A token endpoint given `app_id` and `secret` (a self-built app's
    /// `.../internal` endpoints, `store` false; the store app's
    /// `app_access_token`, `store` true): `Ok(None)` when the secret is no
    /// agent key (the usual way on), a gateway token of `kind` when it is one
    /// for that app, `Invalid` for a key unknown or expired (and for anything
    /// shaped as a key: it never goes to Feishu).
    pub fn token_for_key(
        &self,
        app_id: &str,
        secret: &str,
        kind: Kind,
        store: bool,
        now_ms: u64,
    ) -> Result<Option<Minted>, Denied> {
        let shaped = shaped_as_ours(secret);
        if self.agents.keys.is_empty() && !shaped {
            return Ok(None);
        }
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let Some(key) = find_by_digest(&self.agents.keys, app_id, &digest) else {
            return if shaped {
                Err(Denied::Invalid)
            } else {
                Ok(None)
            };
        };
        let app = self.app(app_id).ok_or(Denied::Invalid)?;
        if key.expired(now_ms) || self.is_store_app(app_id) != store {
            return Err(Denied::Invalid);
        }
        let claims = Claims {
            key_id: key.id.clone(),
            app_id: app_id.to_owned(),
            tenant: None,
            kind,
            lark: self.lark,
            expires_at_ms: expiry(key, now_ms, None),
            key_digest: Some(gateway_token::digest_claim(&key.digest)),
        };
        Ok(Some(self.mint(key, app, claims)))
    }

    /// `tenant_access_token` with a store app's gateway app token: a gateway
    /// tenant token for `tenant`, if the key lists it. `Ok(None)` when
    /// `app_token` is no gateway token (the usual way on).
    pub fn tenant_token_for(
        &self,
        app_token: &str,
        tenant: &str,
        now_ms: u64,
    ) -> Result<Option<Minted>, Denied> {
        if !gateway_token::is_gateway_token(app_token) {
            return Ok(None);
        }
        let (key, app, claims) = self.checked(app_token, now_ms)?;
        if claims.kind != Kind::App || !self.is_store_app(&claims.app_id) {
            return Err(Denied::Invalid);
        }
        if !key.allows_tenant(tenant) {
            return Err(Denied::TenantNotAllowed {
                key_id: key.id.clone(),
            });
        }
        let claims = Claims {
            tenant: Some(tenant.to_owned()),
            kind: Kind::Tenant,
            expires_at_ms: expiry(key, now_ms, Some(claims.expires_at_ms)),
            ..claims
        };
        Ok(Some(self.mint(key, app, claims)))
    }

    /// A gateway token's key, app and claims, once its signature, brand and
    /// expiry (and its key's) are checked.
    fn checked(
        &self,
        token: &str,
        now_ms: u64,
    ) -> Result<(&AgentKey, &AppCredentials, Claims), Denied> {
        let claims = gateway_token::claims(token).ok_or(Denied::Invalid)?;
        // The key that signed: the one of that id with the digest the
        // claims state (a rotated key's former one too, within its grace).
        let stated = gateway_token::stated_digest(&claims);
        let key = self
            .agents
            .keys
            .iter()
            .find(|k| {
                k.id == claims.key_id
                    && k.app_id == claims.app_id
                    && stated.is_none_or(|d| d == k.digest)
            })
            .ok_or(Denied::Invalid)?;
        let app = self.app(&claims.app_id).ok_or(Denied::Invalid)?;
        let genuine = gateway_token::verify(token, app.app_secret().expose_secret(), &key.digest);
        if !genuine
            || claims.lark != self.lark
            || claims.expires_at_ms <= now_ms
            || key.expired(now_ms)
        {
            return Err(Denied::Invalid);
        }
        Ok((key, app, claims))
    }

    /// A call bearing gateway token `token`: what it may go out as, or why
    /// not. `path` is the normalised path without its query (and without the
    /// Worker's `/lark` prefix).
    pub fn authorize(
        &self,
        token: &str,
        method: &str,
        path: &str,
        now_ms: u64,
    ) -> Result<Grant<'_>, Denied> {
        let (key, app, claims) = self.checked(token, now_ms)?;
        let store = self.is_store_app(&claims.app_id);
        if let Some(tenant) = &claims.tenant
            && (!store || !key.allows_tenant(tenant))
        {
            return Err(Denied::TenantNotAllowed {
                key_id: key.id.clone(),
            });
        }
        if (store && claims.kind == Kind::Tenant && claims.tenant.is_none())
            || (!store && claims.tenant.is_some())
        {
            return Err(Denied::Invalid);
        }
        // (A path that could be read two ways is allowed by no entry.)
        if !key.allows(method, path) {
            return Err(Denied::NotAllowed {
                key_id: key.id.clone(),
            });
        }
        Ok(Grant {
            key,
            app,
            store,
            kind: claims.kind,
            tenant: claims.tenant,
        })
    }
}

impl Settings<'_> {
    /// Whether `token` is a gateway token this Worker signed (for an app
    /// whose secret it holds), whatever its key's fate: `Some(known)`, with
    /// whether these settings know its key. Then, and only then, is it worth
    /// asking the key registry about a key this isolate does not know or may
    /// have revoked: a made-up token (`None`) costs no object question.
    pub fn signed_by_us(&self, token: &str) -> Option<bool> {
        let claims = gateway_token::claims(token)?;
        let digest = gateway_token::stated_digest(&claims)?;
        let app = self.app(&claims.app_id)?;
        gateway_token::verify(token, app.app_secret().expose_secret(), &digest).then(|| {
            self.agents
                .keys
                .iter()
                .any(|k| k.id == claims.key_id && k.digest == digest)
        })
    }

    /// Whether agent key `key` for `app_id` is this Worker's: `Some(true)`
    /// when these settings know it, `Some(false)` for a key this Worker made
    /// (its tag checks) that they do not know yet; see `signed_by_us`.
    pub fn key_made_by_us(&self, key: &str, app_id: &str) -> Option<bool> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if find_by_digest(&self.agents.keys, app_id, &digest).is_some() {
            return Some(true);
        }
        let app = self.app(app_id)?;
        agent_key::tagged(key, app_id, app.app_secret().expose_secret()).then_some(false)
    }

    /// The entry of agent key `key` (presented as a bearer, for its own
    /// usage), whatever its app.
    pub fn key_entry(&self, key: &str, now_ms: u64) -> Option<&AgentKey> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let at = self
            .agents
            .keys
            .binary_search_by(|k| k.digest.cmp(&digest))
            .ok()?;
        let k = self.agents.keys.get(at)?;
        find_by_digest(&self.agents.keys, &k.app_id, &digest).filter(|k| !k.expired(now_ms))
    }
}

/// What a call made with a gateway token goes out as.
#[derive(Debug)]
pub struct Grant<'a> {
    pub key: &'a AgentKey,
    pub app: &'a AppCredentials,
    /// Store-app mode's app (else a self-built app).
    pub store: bool,
    pub kind: Kind,
    pub tenant: Option<String>,
}

/// A gateway token lives as long as a Feishu token would, never past its
/// key's expiry (nor, for a tenant token, its app token's).
fn expiry(key: &AgentKey, now_ms: u64, app_token_expiry: Option<u64>) -> u64 {
    let longest = now_ms.saturating_add(MAX_TOKEN_LIFE_SECS * 1000);
    longest
        .min(key.expires_at_ms.unwrap_or(u64::MAX))
        .min(app_token_expiry.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
