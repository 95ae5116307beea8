//! Updates to one message or card coalesced (`COALESCE_UPDATES`, default
//! on): they go to Feishu one at a time; when several wait, only the newest
//! is sent and the ones it supersedes are answered with its answer. A card
//! streamed at 20 updates a second then ends with the last content, each
//! update sent only after the one before was answered (and paced by the
//! message's key, `admit`), instead of meeting 230020.
//!
//! In this isolate's memory: updates to one message that reach different
//! isolates are each sent (and paced by their own isolate).

use super::isolate;
pub use super::line::Answer;
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use worker::Delay;

/// How often a waiting update looks whether its turn came (a cheap check in
/// memory; updates are answered in tens of milliseconds).
const POLL_MS: u64 = 10;

/// An update's place in its message's line.
pub struct Turn {
    target: String,
    number: u64,
}

/// What an update does: go to Feishu now, or take the answer of a newer
/// update sent in its place.
pub enum Next {
    Send(Turn),
    Superseded(web_sys::Response),
}

/// Lines an update up behind `target`'s: returns when it may be sent (no
/// update to the message in flight, and it is the newest), or with the
/// answer of the newer update sent in its place. After `budget_ms` of
/// waiting it is sent whatever (a newer update whose caller went away must
/// not hold the older ones).
pub async fn line_up(target: &str, budget_ms: u64) -> Next {
    let number = isolate::with(target, JsClock.now_ms(), |s| {
        let entry = &mut s.line;
        entry.latest += 1;
        entry.waiting += 1;
        entry.latest
    });
    let started = JsClock.now_ms();
    loop {
        let now = JsClock.now_ms();
        let step = isolate::with(target, now, |s| {
            let entry = &mut s.line;
            let newer_answer = match &entry.answered {
                Some((n, answer, _)) if *n > number => answer.response(),
                _ => None,
            };
            if let Some(answer) = newer_answer {
                entry.waiting -= 1;
                return Some(Next::Superseded(answer));
            }
            let newest = entry.latest == number;
            let free = entry.in_flight.is_none();
            if free && (newest || now.saturating_sub(started) >= budget_ms) {
                entry.waiting -= 1;
                entry.in_flight = Some(number);
                return Some(Next::Send(Turn {
                    target: target.to_owned(),
                    number,
                }));
            }
            None
        });
        if let Some(next) = step {
            return next;
        }
        Delay::from(core::time::Duration::from_millis(POLL_MS)).await;
    }
}

/// The update was answered (`answer`, to hand to the updates it superseded)
/// or not sent: the message's line moves on.
pub fn done(turn: Turn, answer: Option<Answer>) {
    let now = JsClock.now_ms();
    isolate::with(&turn.target, now, |s| {
        let entry = &mut s.line;
        if entry.in_flight == Some(turn.number) {
            entry.in_flight = None;
        }
        if let Some(answer) = answer {
            entry.answered = Some((turn.number, answer, now));
        }
    });
}
