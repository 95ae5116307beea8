//! A call's route: its method and path with the ids replaced, the unit
//! Feishu limits per app and tenant ("每个 API"), e.g.
//! `PATCH /open-apis/im/v1/messages/{id}`; and its target, the one chat or
//! message a 230020 closes.

/// Whether a path segment names a resource rather than one of them: Feishu's
/// resource names and verbs are lower-case words joined by `_` or `-`
/// (`open-apis`, `messages`, `batch_get_id`), versions `v1`..`v9`; an id
/// has a digit, an upper-case letter or another sign (`om_8f3a...`,
/// `doxcnAbC...`, `feishu.cn_x@group.calendar.feishu.cn`).
fn is_name(segment: &str) -> bool {
    let version = segment.len() >= 2
        && segment.starts_with('v')
        && segment[1..].bytes().all(|b| b.is_ascii_digit());
    version
        || (!segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-'))
}

/// `METHOD path` with every id segment replaced by `{id}` (the query is
/// not part of it). The method is upper-cased.
pub fn route_of(method: &str, path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut out = String::with_capacity(method.len() + 1 + path.len());
    out.push_str(&method.to_ascii_uppercase());
    out.push(' ');
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if i == 0 || is_name(segment) || segment.is_empty() {
            out.push_str(segment);
        } else {
            out.push_str("{id}");
        }
    }
    out
}

/// The call's own target for a 230020 (too many messages to one chat, or
/// updates to one message): the first id in its path (`om_...` of a message
/// update, `oc_...` of a chat's members), as `METHOD path-up-to-it`. `None`
/// when the path names none (a send names its chat in the body: its route
/// is closed instead).
pub fn target_of(method: &str, path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut end = 0;
    for segment in path.split('/') {
        end += segment.len();
        if !segment.is_empty() && !is_name(segment) {
            return Some(format!("{} {}", method.to_ascii_uppercase(), &path[..end]));
        }
        end += 1;
    }
    None
}

/// The message or card a call updates (`PATCH`/`PUT` of
/// `im/v1/messages/{id}`, or of `cardkit/v1/cards/{id}` and what is under
/// it), as its [`target_of`]: updates to one of them may be coalesced.
pub fn update_target(method: &str, path: &str) -> Option<String> {
    let method = method.to_ascii_uppercase();
    if method != "PATCH" && method != "PUT" {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let message = path
        .strip_prefix("/open-apis/im/v1/messages/")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    let card = path
        .strip_prefix("/open-apis/cardkit/v1/cards/")
        .is_some_and(|rest| !rest.is_empty());
    if message || card {
        target_of(&method, path)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_placeholders_names_and_versions_stay() {
        for (method, path, route) in [
            (
                "patch",
                "/open-apis/im/v1/messages/om_dc13264520392913993dd051dba21dcf",
                "PATCH /open-apis/im/v1/messages/{id}",
            ),
            (
                "POST",
                "/open-apis/im/v1/messages?receive_id_type=chat_id",
                "POST /open-apis/im/v1/messages",
            ),
            (
                "POST",
                "/open-apis/im/v1/messages/om_1/reply",
                "POST /open-apis/im/v1/messages/{id}/reply",
            ),
            (
                "GET",
                "/open-apis/im/v1/chats/oc_a0553eda9014c201e6969b478895c230/members",
                "GET /open-apis/im/v1/chats/{id}/members",
            ),
            (
                "POST",
                "/open-apis/docx/v1/documents/doxcnAbCdEfGhIjK/blocks/doxcnAbCdEfGhIjK/children",
                "POST /open-apis/docx/v1/documents/{id}/blocks/{id}/children",
            ),
            (
                "POST",
                "/open-apis/bitable/v1/apps/bascnXyZ/tables/tblAbC/records/batch_create",
                "POST /open-apis/bitable/v1/apps/{id}/tables/{id}/records/batch_create",
            ),
            (
                "GET",
                "/open-apis/calendar/v4/calendars/feishu.cn_x@group.calendar.feishu.cn/events",
                "GET /open-apis/calendar/v4/calendars/{id}/events",
            ),
            (
                "PUT",
                "/open-apis/cardkit/v1/cards/7355372766134157313/elements/el_1/content",
                "PUT /open-apis/cardkit/v1/cards/{id}/elements/{id}/content",
            ),
            (
                "GET",
                "/open-apis/contact/v3/users/batch_get_id",
                "GET /open-apis/contact/v3/users/batch_get_id",
            ),
        ] {
            assert_eq!(route_of(method, path), route, "{path}");
        }
    }

    #[test]
    fn updates_are_patch_or_put_of_one_message_or_card() {
        assert_eq!(
            update_target("PATCH", "/open-apis/im/v1/messages/om_1").as_deref(),
            Some("PATCH /open-apis/im/v1/messages/om_1")
        );
        assert_eq!(
            update_target(
                "put",
                "/open-apis/cardkit/v1/cards/7355/elements/el_1/content"
            )
            .as_deref(),
            Some("PUT /open-apis/cardkit/v1/cards/7355")
        );
        for (method, path) in [
            ("POST", "/open-apis/im/v1/messages/om_1/reply"),
            ("PATCH", "/open-apis/im/v1/messages/om_1/urgent_app"),
            ("GET", "/open-apis/im/v1/messages/om_1"),
            ("DELETE", "/open-apis/im/v1/messages/om_1"),
            ("PATCH", "/open-apis/im/v1/chats/oc_1"),
        ] {
            assert_eq!(update_target(method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn the_target_is_the_first_id_of_the_path() {
        assert_eq!(
            target_of("PATCH", "/open-apis/im/v1/messages/om_1a2b").as_deref(),
            Some("PATCH /open-apis/im/v1/messages/om_1a2b")
        );
        assert_eq!(
            target_of(
                "put",
                "/open-apis/cardkit/v1/cards/7355/elements/el_1/content?x=1"
            )
            .as_deref(),
            Some("PUT /open-apis/cardkit/v1/cards/7355")
        );
        assert_eq!(
            target_of("POST", "/open-apis/im/v1/messages?receive_id_type=chat_id"),
            None
        );
    }
}
