//! Reading `Authorization: Bearer <credential>`: the one place every check
//! of a caller's credential finds it.

/// The credential of `Authorization: Bearer <credential>` (scheme in any
/// case; HTTP's optional whitespace is spaces and tabs only).
pub fn bearer(header: &str) -> Option<&str> {
    const OWS: [char; 2] = [' ', '\t'];
    let (scheme, given) = header.trim_matches(OWS).split_once(' ')?;
    let given = given.trim_matches(OWS);
    (scheme.eq_ignore_ascii_case("bearer") && !given.is_empty()).then_some(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credentials() {
        assert_eq!(bearer("Bearer t-abc"), Some("t-abc"));
        assert_eq!(bearer(" bearer \tt-abc "), Some("t-abc"));
        assert_eq!(bearer("BEARER t-abc"), Some("t-abc"));
        for none in [
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcg==",
            "t-abc",
            "Bearer\u{a0}t-abc",
        ] {
            assert_eq!(bearer(none), None, "{none:?}");
        }
    }
}
