//! What makes an event the same event, for receiving it once: its id (2.0
//! `header.event_id`, 1.0 `uuid`), its type, and for a received message its
//! `message_id` (Feishu has re-pushed message events under a new event id:
//! `../shared/feishu-events.md`).

use crate::json::ReadJson;
use crate::json::lenient;
use serde::Deserialize;

/// An event's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub event_id: String,
    pub event_type: String,
    /// `im.message.receive_v1`'s `event.message.message_id`.
    pub message_id: Option<String>,
}

/// The event type whose `message_id` identifies it too.
pub const MESSAGE_RECEIVED: &str = "im.message.receive_v1";

#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient::text")]
    uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    header: Option<Header>,
    #[serde(default, deserialize_with = "lenient::object")]
    event: Option<Body>,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "lenient::text")]
    event_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    event_type: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default, deserialize_with = "lenient::text")]
    message_id: Option<String>,
}

/// The identity of a checked event's plaintext; `None` when it names no id
/// or no type (then it cannot be told from its repeats).
pub fn identity(json: &impl ReadJson, plaintext: &str) -> Option<Identity> {
    let v: Envelope = json.object(plaintext)?;
    let some = |s: Option<String>| s.filter(|s| !s.is_empty());
    let (event_id, event_type) = match v.header {
        Some(h) => (some(h.event_id)?, some(h.event_type)?),
        None => (
            some(v.uuid)?,
            some(v.event.as_ref().and_then(|e| e.kind.clone()))?,
        ),
    };
    let message_id = (event_type == MESSAGE_RECEIVED)
        .then(|| some(v.event?.message?.message_id))
        .flatten();
    Some(Identity {
        event_id,
        event_type,
        message_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SerdeJson;

    #[test]
    fn both_schemas_and_a_message() {
        let v2 = r#"{"schema":"2.0","header":{"event_id":"e1","event_type":"im.message.receive_v1"},"event":{"message":{"message_id":"om_1"}}}"#;
        assert_eq!(
            identity(&SerdeJson, v2),
            Some(Identity {
                event_id: "e1".into(),
                event_type: MESSAGE_RECEIVED.into(),
                message_id: Some("om_1".into()),
            })
        );
        let other = r#"{"schema":"2.0","header":{"event_id":"e2","event_type":"im.chat.member.bot.added_v1"},"event":{"message":{"message_id":"om_1"}}}"#;
        assert_eq!(
            identity(&SerdeJson, other).unwrap().message_id,
            None,
            "only a received message"
        );
        let v1 = r#"{"uuid":"u1","type":"event_callback","event":{"type":"message"}}"#;
        let id = identity(&SerdeJson, v1).unwrap();
        assert_eq!(
            (id.event_id.as_str(), id.event_type.as_str()),
            ("u1", "message")
        );
    }

    #[test]
    fn no_id_or_type_no_identity() {
        for bad in [
            r#"{"schema":"2.0","header":{"event_type":"x"}}"#,
            r#"{"schema":"2.0","header":{"event_id":"","event_type":"x"}}"#,
            r#"{"schema":"2.0","header":{"event_id":"e"}}"#,
            r#"{"uuid":"u1","event":{}}"#,
            r#"{"uuid":5,"event":{"type":"x"}}"#,
            "[]",
            "not json",
        ] {
            assert_eq!(identity(&SerdeJson, bad), None, "{bad}");
        }
    }
}
