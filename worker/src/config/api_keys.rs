//! `API_KEYS`: the services' keys (store-app mode's and user tokens').

use feishu_tenant_token::secret::ApiKey;

/// Shortest API key accepted: 32 characters (`openssl rand -hex 32` makes
/// 64), so that a key is worth its name against guessing.
pub const MIN_API_KEY_CHARS: usize = 32;

/// `API_KEYS`: comma-separated, each at least `min` characters. The
/// position of a short one is named, never the key.
pub fn parse_api_keys(text: &str, min: usize) -> Result<Vec<ApiKey>, String> {
    let keys: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    if let Some(at) = keys.iter().position(|k| k.len() < min) {
        return Err(format!(
            "API_KEYS: key {} is shorter than {min} characters (make each with `openssl rand -hex 32`)",
            at + 1
        ));
    }
    Ok(keys.into_iter().map(ApiKey::new).collect())
}
