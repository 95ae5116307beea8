//! One call to Feishu under its frequency limits (`limits/`): admitted (it
//! waits while its key is closed or paced), sent, its answer examined; a
//! limit answer closes the key and, when the body was kept and the key
//! reopens within `RATE_LIMIT_WAIT_MS` of waiting in all, the call goes
//! again once it reopens. Past that budget the caller gets Feishu's own
//! refusal shape (429, 99991400, `Retry-After`), never a hang.

use crate::calls::upstream::{Outgoing, Verdict, examined, send};
use crate::config::Config;
use crate::http::reply;
use crate::limits::admit::{Answered, Who, admit, answered};
use crate::limits::coalesce::{self, Next};
use feishu_tenant_token::Clock;
use feishu_tenant_token::api_call::may_refuse;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::rate_limit::route::update_target;
use feishu_tenant_token::rate_limit::{LIMIT_HEADER, RESET_HEADER};
use feishu_tenant_token::{AccessToken, api_path};
use worker::{Env, Request, Response, Result};

/// Sends after a limit answer at most this many times more (each after
/// the key reopened): a limit that keeps closing is Feishu's to report.
const MAX_LIMIT_REPLAYS: u32 = 3;

/// Feishu's answer to a call, what the gateway learnt of it, and how long
/// the call waited for its limits.
pub struct Sent {
    pub resp: web_sys::Response,
    pub verdict: Verdict,
    pub waited_ms: u64,
    /// Not sent: a newer update to the same message went in its place, and
    /// this is that one's answer.
    pub coalesced: bool,
}

/// An update's place in its message's line, given back when the call ends
/// however it ends (a line left held would hold every later update).
struct InLine(Option<coalesce::Turn>);

impl InLine {
    /// Hands the answer on to the updates it superseded: read whole (an
    /// update's answer is small JSON), and the caller's own rebuilt from it.
    async fn answered(mut self, resp: web_sys::Response) -> web_sys::Response {
        let Some(turn) = self.0.take() else {
            return resp;
        };
        let read = match resp.array_buffer() {
            Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.ok(),
            Err(_) => None,
        };
        let Some(buffer) = read else {
            coalesce::done(turn, None);
            return resp;
        };
        let answer = coalesce::Answer {
            status: resp.status(),
            headers: resp.headers(),
            bytes: js_sys::Uint8Array::new(&buffer).to_vec(),
        };
        let own = answer.response();
        coalesce::done(turn, Some(answer));
        own.unwrap_or(resp)
    }
}

impl Drop for InLine {
    fn drop(&mut self) {
        if let Some(turn) = self.0.take() {
            coalesce::done(turn, None);
        }
    }
}

/// The call with `token` (sent as the bearer when `put` is given, else as
/// the caller's own), within its limits. `vouched`: the token is the app's
/// (the Worker's own, or one it handed out); else it is vouched for once
/// Feishu accepted it on a limited route in this isolate. Only a vouched
/// token's limits ask the limits' object: a caller with a made-up token
/// never makes the Worker spend an object question.
pub async fn send_within_limits(
    req: &Request,
    env: &Env,
    config: &Config,
    token: Option<&AccessToken>,
    put: Option<&AccessToken>,
    body: &Outgoing,
    mut vouched: bool,
) -> Result<core::result::Result<Sent, Response>> {
    let Some(key_token) = token else {
        // No token: Feishu refuses it whatever the rate (99991661).
        let resp = match send(req, config, put, body).await? {
            Ok(r) => r,
            Err(refusal) => return Ok(Err(refusal)),
        };
        return Ok(match examined(resp).await? {
            Ok((resp, verdict)) => Ok(Sent {
                resp,
                verdict,
                waited_ms: 0,
                coalesced: false,
            }),
            Err(failed) => Err(failed),
        });
    };
    let mut who = Who::of(config, key_token);
    let method = req.inner().method();
    let url = req.inner().url();
    let path = crate::calls::forward::path_and_query(&url);
    let (_, path) = crate::config::Brand::of_path(&path);
    let path = api_path::normalised(path.split('?').next().unwrap_or_default()).unwrap_or_default();
    let target = update_target(&method, &path).filter(|_| config.coalesce_updates);
    let (line, started) = match target {
        Some(t) => {
            let started = JsClock.now_ms();
            let target = format!("{} {t}", who.get());
            match coalesce::line_up(&target, config.rate_limit_wait_ms).await {
                Next::Send(turn) => (InLine(Some(turn)), Some(started)),
                Next::Superseded(resp) => {
                    return Ok(Ok(Sent {
                        resp,
                        verdict: Verdict::default(),
                        waited_ms: JsClock.now_ms().saturating_sub(started),
                        coalesced: true,
                    }));
                }
            }
        }
        None => (InLine(None), None),
    };
    let mut waited_ms = started.map_or(0, |s| JsClock.now_ms().saturating_sub(s));
    let mut replays = 0;
    loop {
        let place = match admit(env, config, &mut who, &method, &path, vouched).await {
            Ok(p) => p,
            Err(too_long) => {
                return reply::rate_limited(too_long.retry_after_secs, waited_ms).map(Err);
            }
        };
        waited_ms += place.waited_ms;
        let resp = match send(req, config, put, body).await? {
            Ok(r) => r,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let (resp, verdict) = match examined(resp).await? {
            Ok(r) => r,
            Err(failed) => return Ok(Err(failed)),
        };
        // A limit's headers are read only from a refusal (a success is
        // never read: `api_call::may_refuse`).
        let status = resp.status();
        let (reset, limit) = if may_refuse(status) {
            let h = resp.headers();
            (
                h.get(RESET_HEADER).ok().flatten(),
                h.get(LIMIT_HEADER).ok().flatten(),
            )
        } else {
            (None, None)
        };
        let read = Answered {
            status,
            code: verdict.code,
            reset: reset.as_deref(),
            limit: limit.as_deref(),
        };
        let reopens = answered(env, vouched, &place, &mut who, &method, &path, &read).await;
        if status < 400 && place.limited {
            vouched = true;
        }
        let more = reopens.map(|r| r.saturating_sub(JsClock.now_ms()));
        let replayable = !matches!(body, Outgoing::Stream(_));
        let again = more.is_some_and(|more| {
            replayable
                && replays < MAX_LIMIT_REPLAYS
                && waited_ms + more <= config.rate_limit_wait_ms
        });
        if !again {
            let resp = line.answered(resp).await;
            return Ok(Ok(Sent {
                resp,
                verdict,
                waited_ms,
                coalesced: false,
            }));
        }
        replays += 1;
    }
}

/// The caller's answer: Feishu's (`upstream::passed_on`), saying how long
/// the call waited for its limits when it did (`x-ratelimit-waited-ms`, and
/// a `ratelimit` entry in `server-timing`).
pub fn answer(sent: Sent) -> Result<Response> {
    let mut resp = crate::calls::upstream::passed_on(sent.resp);
    let h = resp.headers_mut();
    if sent.waited_ms > 0 {
        h.set("x-ratelimit-waited-ms", &sent.waited_ms.to_string())?;
        h.append(
            "server-timing",
            &format!("ratelimit;dur={}", sent.waited_ms),
        )?;
    }
    if sent.coalesced {
        h.set("x-coalesced", "1")?;
    }
    Ok(resp)
}
