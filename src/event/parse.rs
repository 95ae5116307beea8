//! Plain (decrypted) event JSON -> [`Event`]. Schema 1.0 routes by
//! `event.type`, 2.0 by `header.event_type`; URL verification is its own shape.

use crate::error::{Error, ErrorCode};
use crate::json::ReadJson;
use crate::json::lenient;
use crate::secret::AppTicket;
use serde::Deserialize;

/// Which envelope an event came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    V1,
    V2,
}

impl Schema {
    pub const fn as_str(self) -> &'static str {
        match self {
            Schema::V1 => "1.0",
            Schema::V2 => "2.0",
        }
    }
}

/// What an event callback can carry, as far as this crate cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The console checking the callback URL: answer `{"challenge"}`.
    UrlVerification { challenge: String },
    /// A new `app_ticket` for `app_id`.
    AppTicket {
        schema: Schema,
        app_id: String,
        app_ticket: AppTicket,
    },
    /// Any other event: acknowledged, not acted on here.
    Other {
        schema: Schema,
        event_type: String,
        app_id: Option<String>,
        tenant_key: Option<String>,
    },
}

/// An event and the verification token it carried (checked by the caller).
pub struct Parsed {
    pub event: Event,
    pub token: Option<String>,
}

fn invalid(detail: &str) -> Error {
    Error::event(ErrorCode::InvalidEvent, detail)
}

/// The members of an event envelope this crate reads (schema 1.0's and
/// 2.0's together); a member of the wrong type counts as absent.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient::text")]
    token: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    challenge: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    schema: Option<String>,
    #[serde(default, deserialize_with = "lenient::object")]
    header: Option<Header>,
    #[serde(default, deserialize_with = "lenient::object")]
    event: Option<Body>,
}

/// Schema 2.0's `header`.
#[derive(Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "lenient::text")]
    event_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    app_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    tenant_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    token: Option<String>,
}

/// The `event` member (1.0: with its `type`; both: an app_ticket's fields).
#[derive(Deserialize)]
struct Body {
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    app_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    app_ticket: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    tenant_key: Option<String>,
}

/// A non-empty string member, or INVALID_EVENT naming it.
fn text(v: Option<String>, name: &str) -> Result<String, Error> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(&format!("`{name}` is missing or not a string")))
}

fn optional(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

pub fn parse(json: &impl ReadJson, plaintext: &str) -> Result<Parsed, Error> {
    let v: Envelope = json.object(plaintext).ok_or_else(|| {
        if plaintext.trim_start().starts_with('{') {
            invalid("the body is not JSON")
        } else {
            invalid("the body is not a JSON object")
        }
    })?;
    let token = optional(v.token);
    if v.kind.as_deref() == Some("url_verification") {
        let challenge = text(v.challenge, "challenge")?;
        let event = Event::UrlVerification { challenge };
        return Ok(Parsed { event, token });
    }
    if v.schema.as_deref() == Some("2.0") {
        let header = v.header.ok_or_else(|| invalid("`header` is missing"))?;
        let event_type = text(header.event_type, "header.event_type")?;
        let event = routed(
            Schema::V2,
            &event_type,
            v.event,
            optional(header.app_id),
            header.tenant_key,
        )?;
        let token = optional(header.token);
        return Ok(Parsed { event, token });
    }
    if v.kind.as_deref() == Some("event_callback") {
        let mut body = v.event.ok_or_else(|| invalid("`event` is missing"))?;
        let event_type = text(body.kind.take(), "event.type")?;
        let tenant_key = body.tenant_key.take();
        let event = routed(Schema::V1, &event_type, Some(body), None, tenant_key)?;
        return Ok(Parsed { event, token });
    }
    Err(invalid(
        "neither a 1.0 nor a 2.0 event, nor a URL verification",
    ))
}

fn routed(
    schema: Schema,
    event_type: &str,
    body: Option<Body>,
    header_app_id: Option<String>,
    tenant_key: Option<String>,
) -> Result<Event, Error> {
    if event_type == "app_ticket" {
        let body = body.ok_or_else(|| invalid("`event` is missing"))?;
        let app_ticket = AppTicket::new(text(body.app_ticket, "event.app_ticket")?);
        let app_id = optional(body.app_id)
            .or(header_app_id)
            .ok_or_else(|| invalid("`event.app_id` is missing or not a string"))?;
        return Ok(Event::AppTicket {
            schema,
            app_id,
            app_ticket,
        });
    }
    let body_app_id = body.and_then(|b| optional(b.app_id));
    Ok(Event::Other {
        schema,
        event_type: event_type.to_owned(),
        app_id: header_app_id.or(body_app_id),
        tenant_key: optional(tenant_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (Event, Option<String>) {
        let p = parse(&crate::SerdeJson, s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (p.event, p.token)
    }

    #[test]
    fn url_verification() {
        let (e, t) =
            ok(r#"{"challenge":"ajls384kdjx98XX","token":"xxxxxx","type":"url_verification"}"#);
        assert_eq!(
            e,
            Event::UrlVerification {
                challenge: "ajls384kdjx98XX".into()
            }
        );
        assert_eq!(t.as_deref(), Some("xxxxxx"));
    }

    #[test]
    fn app_ticket_in_both_schemas() {
        let (e, t) = ok(
            r#"{"ts":"1502199207.7171419","uuid":"bc447199585340d1f3728d26b1c0297a","token":"vt","type":"event_callback","event":{"app_id":"cli_9e28cb7ba56a100e","app_ticket":"tkt-1","type":"app_ticket"}}"#,
        );
        assert_eq!(t.as_deref(), Some("vt"));
        let Event::AppTicket {
            schema,
            app_id,
            app_ticket,
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(
            (schema, app_id.as_str()),
            (Schema::V1, "cli_9e28cb7ba56a100e")
        );
        assert_eq!(app_ticket.expose_secret(), "tkt-1");

        let (e, t) = ok(
            r#"{"schema":"2.0","header":{"event_id":"e1","event_type":"app_ticket","token":"vt2","app_id":"cli_h"},"event":{"app_ticket":"tkt-2","type":"app_ticket"}}"#,
        );
        assert_eq!(t.as_deref(), Some("vt2"));
        assert!(
            matches!(e, Event::AppTicket { schema: Schema::V2, ref app_id, .. } if app_id == "cli_h")
        );
    }

    #[test]
    fn other_events_are_recognised_not_acted_on() {
        let (e, _) = ok(
            r#"{"schema":"2.0","header":{"event_type":"im.message.receive_v1","token":"vt","app_id":"cli_a","tenant_key":"tk"},"event":{"message":{}}}"#,
        );
        assert_eq!(
            e,
            Event::Other {
                schema: Schema::V2,
                event_type: "im.message.receive_v1".into(),
                app_id: Some("cli_a".into()),
                tenant_key: Some("tk".into()),
            }
        );
        let (e, _) = ok(
            r#"{"type":"event_callback","token":"vt","event":{"type":"app_open","app_id":"cli_b","tenant_key":"tk2"}}"#,
        );
        assert!(
            matches!(e, Event::Other { schema: Schema::V1, ref event_type, .. } if event_type == "app_open")
        );
    }

    #[test]
    fn malformed_events_are_invalid_event_errors() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"type":"url_verification"}"#,
            r#"{"type":"url_verification","challenge":7}"#,
            r#"{"type":"event_callback"}"#,
            r#"{"type":"event_callback","event":{}}"#,
            r#"{"type":"event_callback","event":{"type":"app_ticket","app_id":"a"}}"#,
            r#"{"type":"event_callback","event":{"type":"app_ticket","app_ticket":"t"}}"#,
            r#"{"schema":"2.0"}"#,
            r#"{"schema":"2.0","header":{}}"#,
            r#"{"schema":"2.0","header":{"event_type":"app_ticket","app_id":"a"}}"#,
            r#"{"schema":"2.0","header":{"event_type":"app_ticket"},"event":{"app_ticket":"t"}}"#,
        ] {
            let e = parse(&crate::SerdeJson, bad)
                .err()
                .unwrap_or_else(|| panic!("accepted {bad}"));
            assert_eq!(e.code(), ErrorCode::InvalidEvent, "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_ticket() {
        let (e, _) = ok(
            r#"{"type":"event_callback","event":{"type":"app_ticket","app_id":"a","app_ticket":"tkt-secret"}}"#,
        );
        assert!(!format!("{e:?}").contains("tkt-secret"));
    }
}
