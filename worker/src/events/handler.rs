//! One event handed to one handler: sealed for it (`push::sealed`, with a
//! fresh IV and nonce) and POSTed; its answer, or `None` when it could not
//! be reached in time.

use crate::events::push::sealed;
use crate::keys::random::random_bytes;
use crate::sources::clients::Net;
use feishu_tenant_token::event::EventConfig;
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::{Clock, HttpRequest, HttpResponse, Method, Transport};

/// POSTs `plaintext` to the handler at `url` as Feishu would.
pub async fn hand_on(
    net: &Net,
    check: &EventConfig,
    url: &str,
    plaintext: &str,
) -> Option<HttpResponse> {
    let nonce: String = random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let push = sealed(
        check,
        plaintext,
        random_bytes(),
        &nonce,
        JsClock.now_ms() / 1000,
    );
    let request = HttpRequest {
        method: Method::Post,
        url: url.to_owned(),
        headers: push.headers,
        body: Some(push.body),
    };
    net.send(request).await.ok()
}
