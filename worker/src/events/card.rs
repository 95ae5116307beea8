//! Card callbacks (`card.action.trigger`): synchronous and never retried by
//! Feishu, so not recorded and pushed later like other events, but handed
//! at once to the first handler that takes them, within a 2.5 s budget
//! (Feishu allows 3 s), and its answer (a toast, a new card) goes back to
//! Feishu as it came. Past the budget, or with no handler answering, Feishu
//! gets an empty 200 (the card stays as it was) and a log line says so.

use crate::config::Config;
use crate::events::ack;
use crate::events::handler::hand_on;
use crate::http::reply;
use crate::log;
use feishu_tenant_token::SerdeJson;
use feishu_tenant_token::event::EventConfig;
use feishu_tenant_token::host::FetchTransport;
use serde::Serialize;
use worker::{Response, Result};

/// The card callback's event type.
pub const CARD_ACTION: &str = "card.action.trigger";
/// How long the handler has to answer.
pub const BUDGET_MS: u32 = 2500;
/// Most of a handler's answer relayed (a card is small JSON).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Hands card callback `plaintext` of `app_id` to its handler; Feishu's answer.
pub async fn card_action(
    config: &Config,
    check: &EventConfig,
    app_id: &str,
    plaintext: &str,
) -> Result<Response> {
    let handler = config
        .events
        .subscribers(app_id)
        .iter()
        .find(|s| s.takes(CARD_ACTION));
    let late = |why: &str| -> Result<Response> {
        #[derive(Serialize)]
        struct Line<'a> {
            event: &'static str,
            app: &'a str,
            why: &'a str,
        }
        log::warn_line(&Line {
            event: "card_callback_unanswered",
            app: app_id,
            why,
        });
        ack()
    };
    let Some(handler) = handler else {
        return late("no handler in EVENT_SUBSCRIBERS takes card.action.trigger");
    };
    let Ok(net) = FetchTransport::new(None, BUDGET_MS).map(|t| t.reading_with(SerdeJson)) else {
        return late("no fetch");
    };
    match hand_on(&net, check, &handler.url, plaintext).await {
        Some(r) if (200..300).contains(&r.status) && r.body.len() <= MAX_ANSWER_BYTES => {
            let body = if r.body.trim().is_empty() {
                "{}".to_owned()
            } else {
                r.body
            };
            reply::json_response(200, body)
        }
        Some(r) => late(&format!("the handler answered HTTP {}", r.status)),
        None => late("the handler did not answer within 2.5 s"),
    }
}
