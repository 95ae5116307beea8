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
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use worker::Delay;

/// How often a waiting update looks whether its turn came (a cheap check in
/// memory; updates are answered in tens of milliseconds).
const POLL_MS: u64 = 10;

/// How long an answer is kept for the updates it superseded to take.
const ANSWER_KEPT_MS: u64 = 10_000;

/// An update's answer, kept whole (an update's answer is a small JSON) so
/// that each update it superseded gets a copy of its own.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: web_sys::Headers,
    pub bytes: Vec<u8>,
}

impl Answer {
    /// A `Response` of its own with the same status, headers and bytes.
    pub fn response(&self) -> Option<web_sys::Response> {
        let init = web_sys::ResponseInit::new();
        init.set_status(self.status);
        init.set_headers(
            &web_sys::Headers::new_with_headers(&self.headers)
                .ok()?
                .into(),
        );
        let mut bytes = self.bytes.clone();
        web_sys::Response::new_with_opt_u8_array_and_init(Some(&mut bytes), &init).ok()
    }
}

/// One message's line of updates (kept with its key's state, `isolate`).
#[derive(Default)]
pub struct Line {
    /// The newest update's number (the next one gets `latest + 1`).
    latest: u64,
    /// The update being sent, if any.
    in_flight: Option<u64>,
    /// The last answered update's number, its answer, and when it came.
    answered: Option<(u64, Answer, u64)>,
    /// Updates lined up and not yet on their way.
    waiting: u32,
}

impl Line {
    /// Whether the line holds anything at `now_ms`: an update waiting or in
    /// flight, or an answer still to hand on.
    pub fn kept(&self, now_ms: u64) -> bool {
        self.waiting > 0
            || self.in_flight.is_some()
            || self
                .answered
                .as_ref()
                .is_some_and(|(_, _, at)| now_ms.saturating_sub(*at) < ANSWER_KEPT_MS)
    }
}

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
