//! The two brands: Feishu (China) at the top level, Lark (international)
//! under `/lark`, each with its own base URL, memory, KV keys and objects.

/// Which of the two brands a request is for: Feishu (China) at the top
/// level, Lark (international) under `/lark`. Each has its own base URL,
/// isolate memory, KV keys and coordinator objects: a token of one brand is
/// never served for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Brand {
    Feishu,
    Lark,
}

/// Where Lark's paths live on the Worker: an SDK given
/// `https://<worker>/lark` as its domain calls `/lark/open-apis/...`.
pub const LARK_PREFIX: &str = "/lark";

/// Lark's open platform (Feishu, "Server-side API": the international base).
pub const DEFAULT_LARK_BASE_URL: &str = "https://open.larksuite.com";

impl Brand {
    pub fn name(self) -> &'static str {
        match self {
            Brand::Feishu => "feishu",
            Brand::Lark => "lark",
        }
    }

    /// The Worker's paths for this brand start with this.
    pub fn prefix(self) -> &'static str {
        match self {
            Brand::Feishu => "",
            Brand::Lark => LARK_PREFIX,
        }
    }

    /// The brand a request path is for, and the path the brand's API knows.
    pub fn of_path(path: &str) -> (Brand, &str) {
        match path.strip_prefix(LARK_PREFIX) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => (Brand::Lark, rest),
            _ => (Brand::Feishu, path),
        }
    }

    /// A KV key (or coordinator object name) for this brand: Feishu's as the
    /// core writes it (unchanged since before there were two), Lark's under
    /// `kv::LARK_KEY_PREFIX`.
    pub fn kv_key(self, key: String) -> String {
        match self {
            Brand::Feishu => key,
            Brand::Lark => format!("{}{key}", feishu_tenant_token::kv::LARK_KEY_PREFIX),
        }
    }
}

#[cfg(test)]
mod brand_tests {
    use super::*;

    #[test]
    fn lark_paths_are_under_the_prefix_and_keys_carry_the_brand() {
        assert_eq!(
            Brand::of_path("/lark/open-apis/x"),
            (Brand::Lark, "/open-apis/x")
        );
        assert_eq!(Brand::of_path("/lark"), (Brand::Lark, ""));
        assert_eq!(
            Brand::of_path("/larks/open-apis/x"),
            (Brand::Feishu, "/larks/open-apis/x")
        );
        assert_eq!(
            Brand::of_path("/open-apis/x"),
            (Brand::Feishu, "/open-apis/x")
        );
        assert_eq!(Brand::Feishu.kv_key("tat:v1:a:b".into()), "tat:v1:a:b");
        assert_eq!(Brand::Lark.kv_key("tat:v1:a:b".into()), "lark:tat:v1:a:b");
    }
}
