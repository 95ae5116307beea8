//! What fronts and a user's object say to each other (JSON over the
//! object's stub, never outside the Worker). The grant a sign-in stores
//! travels sealed; the object answers tokens, or why none.

use crate::config::Brand;
use serde::{Deserialize, Serialize};

/// Every user operation's path on the object (outside the coordinator's
/// token questions, which are Feishu's paths).
pub const USER_PREFIX: &str = "/user/";
/// `{who, refused?}` → [`Answer`].
pub const TOKEN: &str = "token";
/// `{who, sealed}`: a sign-in's grant, replacing any earlier one.
pub const SIGNED_IN: &str = "signed-in";
/// `{who}`: the grant deleted.
pub const SIGN_OUT: &str = "sign-out";

/// Whose object: the brand, the app and the user (`open_id`). Also the
/// object's name ([`Who::object_name`]) and what its sealed grant is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    pub brand: Brand,
    pub app: String,
    pub user: String,
}

impl Who {
    pub fn object_name(&self) -> String {
        format!("user:v1:{}:{}:{}", self.brand.name(), self.app, self.user)
    }
    pub fn binding(&self) -> String {
        crate::users::sealed::binding(self.brand.name(), &self.app, &self.user)
    }

    /// The KV key saying this user signed in here (`directory.rs`):
    /// `usr:v1:<app>:<SHA-256 of the open_id>` (Lark's under `lark:`). A
    /// digest, so that listing KV does not list who signed in.
    pub fn directory_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(self.user.as_bytes()).into();
        let hex = feishu_tenant_token::cache_key::hex32(&digest);
        self.brand.kv_key(format!("usr:v1:{}:{hex}", self.app))
    }
}

#[derive(Serialize, Deserialize)]
pub struct Question {
    pub who: Who,
    /// `TOKEN`: the token an API call refused (it is replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// `SIGNED_IN`: the grant, sealed by the front.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

impl Question {
    /// A plain question about `who` (a token, a sign-out).
    pub fn about(who: Who) -> Self {
        Self {
            who,
            refused: None,
            sealed: None,
        }
    }
}

/// The object's answer (HTTP 200). Any other status is a failure the front
/// relays as it came (Feishu unreachable, a server error twice: the grant
/// is kept; the body in Feishu's shape, never a secret).
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    Token {
        access_token: String,
        expires_at_ms: u64,
    },
    /// No grant, or Feishu refused it: the user signs in again.
    SignedOut {
        feishu_code: Option<i64>,
    },
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_an_object_of_their_own() {
        let who = Who {
            brand: Brand::Lark,
            app: "cli_a".into(),
            user: "ou_b".into(),
        };
        assert_eq!(who.object_name(), "user:v1:lark:cli_a:ou_b");
    }

    #[test]
    fn the_directory_key_names_the_app_and_a_digest_of_the_user_per_brand() {
        let who = |brand| Who {
            brand,
            app: "cli_a".into(),
            user: "ou_alice".into(),
        };
        let feishu = who(Brand::Feishu).directory_key();
        assert!(feishu.starts_with("usr:v1:cli_a:"), "{feishu}");
        assert_eq!(feishu.len(), "usr:v1:cli_a:".len() + 64);
        assert!(!feishu.contains("alice"));
        assert_eq!(who(Brand::Lark).directory_key(), format!("lark:{feishu}"));
    }
}
