//! An app's own credentials (`app_id`, `app_secret`), shared by store apps
//! and self-built apps.

use crate::cache_key::{AppBinding, CacheKey};
use crate::error::Error;
use crate::secret::AppSecret;
use crate::source::Keyed;
use crate::validate::check_field;
use serde::Serialize;

/// Longest accepted `app_id` (Feishu's look like `cli_9e28cb7ba56a100e`).
pub const MAX_APP_ID_BYTES: usize = 128;
/// Longest accepted `app_secret`.
pub const MAX_APP_SECRET_BYTES: usize = 1024;

/// A store app's id and secret, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppCredentials {
    app_id: String,
    app_secret: AppSecret,
}

impl AppCredentials {
    /// `names` are the fields as the caller knows them (`appId` in JS, `FEISHU_APP_ID` in the Worker).
    pub fn parse(
        app_id: &str,
        app_secret: &str,
        [id_name, secret_name]: [&str; 2],
    ) -> Result<Self, Error> {
        let app_id = check_field(id_name, Some(app_id), MAX_APP_ID_BYTES)?;
        let secret = check_field(secret_name, Some(app_secret), MAX_APP_SECRET_BYTES)?;
        Ok(Self {
            app_id: app_id.to_owned(),
            app_secret: AppSecret::new(secret),
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn app_secret(&self) -> &AppSecret {
        &self.app_secret
    }
}

/// `{"app_id","app_secret"}`, with `"app_ticket"` for `app_access_token`.
#[derive(Serialize)]
pub(crate) struct AppBody<'a> {
    pub app_id: &'a str,
    pub app_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_ticket: Option<&'a str>,
}

/// An app's credentials with their cache key (the id and SHA-256 of the
/// secret, see [`AppBinding::of_app_credentials`]), computed once.
#[derive(Clone, Debug)]
pub struct KeyedCredentials {
    app: AppCredentials,
    key: CacheKey,
}

impl KeyedCredentials {
    pub fn new(app: AppCredentials) -> Self {
        let binding = AppBinding::of_app_credentials(app.app_id(), app.app_secret());
        Self {
            app,
            key: CacheKey::app_token(binding),
        }
    }

    pub fn app(&self) -> &AppCredentials {
        &self.app
    }

    /// The one cache key, without a copy (the hit path).
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// The credentials' digest as 64 hex digits (for keys that leave the
    /// process, like KV's), never the secret.
    pub fn binding_hex(&self) -> String {
        self.key.app.to_hex()
    }
}

impl Keyed for KeyedCredentials {
    fn cache_key(&self) -> CacheKey {
        self.key.clone()
    }
}
