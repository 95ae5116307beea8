//! `ALLOWED_ORIGINS`: which browser origins may call the Worker (CORS).

/// Which browser origins may call the Worker (CORS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origins {
    Any,
    Listed(Vec<String>),
}

impl Origins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Origins::Any => true,
            Origins::Listed(list) => list.iter().any(|o| o == origin),
        }
    }
}

impl Origins {
    /// `ALLOWED_ORIGINS`: `*`, or a comma-separated list (a trailing `/`
    /// dropped); unset: none.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("*") => Origins::Any,
            Some(list) => Origins::Listed(
                list.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
            None => Origins::Listed(Vec::new()),
        }
    }
}
