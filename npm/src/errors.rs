//! Core errors as JS `Error`s with the stable fields of the npm API.

use feishu_tenant_token::Error;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;

/// `err.name` of every error this package throws or rejects with.
const ERROR_NAME: &str = "FeishuTokenError";

pub(crate) fn to_js(e: &Error) -> JsValue {
    let js = js_sys::Error::new(e.message());
    js.set_name(ERROR_NAME);
    // Setting plain data properties on a fresh Error cannot fail.
    let _ = fill(&js, e);
    js.into()
}

/// `SIGNED_OUT` (user tokens): the user must sign in again; Feishu's code
/// when it said why. Not a core `ErrorCode`: the core reports it as
/// `UserTokenFailure::SignedOut`, which carries no message to keep.
#[cfg(feature = "user-tokens")]
pub(crate) fn signed_out(feishu_code: Option<i64>) -> JsValue {
    let js = js_sys::Error::new(
        "the user is not signed in (never, signed out, or Feishu ended the grant): sign them in again",
    );
    js.set_name(ERROR_NAME);
    let _ = Reflect::set(&js, &"code".into(), &"SIGNED_OUT".into());
    if let Some(c) = feishu_code {
        let _ = Reflect::set(&js, &"feishuCode".into(), &(c as f64).into());
    }
    js.into()
}

fn fill(js: &js_sys::Error, e: &Error) -> Result<(), JsValue> {
    Reflect::set(js, &"code".into(), &e.code().as_str().into())?;
    if let Some(c) = e.feishu_code() {
        Reflect::set(js, &"feishuCode".into(), &(c as f64).into())?;
    }
    if let Some(m) = e.feishu_msg() {
        Reflect::set(js, &"feishuMsg".into(), &m.into())?;
    }
    if let Some(s) = e.http_status() {
        Reflect::set(js, &"httpStatus".into(), &s.into())?;
    }
    if let Some(s) = e.retry_after_secs() {
        Reflect::set(js, &"retryAfterSecs".into(), &(s as f64).into())?;
    }
    if let Some(b) = e.raw_body() {
        Reflect::set(js, &"rawBody".into(), &b.into())?;
    }
    Ok(())
}
