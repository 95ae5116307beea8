//! Reading an app's month back from its object (`GET /v1/usage`, the
//! operator page).

use crate::cache::ask::Want;
use crate::coordinator::KEY_LEDGER_BINDING;
use crate::coordinator::ask::{post, stub};
use crate::coordinator::protocol::OBJECT_ORIGIN;
use crate::usage::month::Usage;
use crate::usage::tally::{VIEW_PATH, object_name};
use worker::Env;

/// `app`'s calls in `month` (`YYYY-MM`, UTC+8), as its object has them.
pub async fn month(env: &Env, app: &str, month: &str) -> Result<Usage, String> {
    let ns = env.durable_object(KEY_LEDGER_BINDING).map_err(|_| {
        format!("usage needs the {KEY_LEDGER_BINDING} Durable Object binding (class KeyLedger: see wrangler.toml)")
    })?;
    let stub = stub(&ns, &object_name(app, month))?;
    let answer = post(
        &stub,
        &format!("{OBJECT_ORIGIN}{VIEW_PATH}"),
        "",
        Want::Servable,
    )
    .await
    .map_err(|e| format!("the usage object could not be asked: {e}"))?;
    if answer.status != 200 {
        return Err(format!("the usage object answered HTTP {}", answer.status));
    }
    if answer.body.is_empty() {
        return Ok(Usage::new(month.to_owned()));
    }
    serde_json::from_str(&answer.body)
        .map_err(|_| "the usage object's record could not be read".to_owned())
}
