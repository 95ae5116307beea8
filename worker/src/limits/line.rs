//! One message's line of updates, as the isolate keeps it with the
//! message's key (`isolate::KeyState`), and the answer handed to the updates
//! a newer one superseded. The state only: `coalesce` moves it along.

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

/// One message's line of updates (kept with its key's state, `isolate`;
/// moved along by `coalesce`).
#[derive(Default)]
pub struct Line {
    /// The newest update's number (the next one gets `latest + 1`).
    pub(super) latest: u64,
    /// The update being sent, if any.
    pub(super) in_flight: Option<u64>,
    /// The last answered update's number, its answer, and when it came.
    pub(super) answered: Option<(u64, Answer, u64)>,
    /// Updates lined up and not yet on their way.
    pub(super) waiting: u32,
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
