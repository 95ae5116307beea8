"""One fresh instance of the official Python SDK (lark-oapi) with its domain
set to the gateway, making the calls it is given; the gateway's SDK tests
run it from .tools/py (scripts/setup.sh installs it there).

usage: python lark_client.py '<json>'
  {"base_url": "http://127.0.0.1:8787", "app_id": "cli_...", "app_secret": "...",
   "mode": "self_built" | "isv", "tenant_key": "...",  (isv only)
   "calls": [{"method": "POST", "path": "/open-apis/...", "query": {...}, "body": {...}}]}
prints one JSON line per call: {"code", "msg", "status", "data", "bytes"}.

Each process is a fresh SDK instance: lark-oapi keeps its token cache in a
class-level store shared by every client of one process.
"""
import json
import sys

import lark_oapi as lark


def client_for(cfg):
    builder = (
        lark.Client.builder()
        .app_id(cfg["app_id"])
        .app_secret(cfg["app_secret"])
        # lark-oapi takes http:// only for loopback hosts, and no trailing slash.
        .domain(cfg["base_url"].rstrip("/"))
        # Its log goes to stdout, which carries this script's answers.
        .log_level(lark.LogLevel.CRITICAL)
    )
    if cfg.get("mode") == "isv":
        builder = builder.app_type(lark.AppType.ISV)
    return builder.build()


def option_for(cfg):
    option = lark.RequestOption.builder()
    if cfg.get("mode") == "isv":
        # lark-oapi 1.7.5 sends no app_ticket unless given one per request:
        # the gateway serves its managed app's token without one.
        option = option.tenant_key(cfg["tenant_key"])
    return option.build()


def call(client, option, c):
    req = (
        lark.BaseRequest.builder()
        .http_method(lark.HttpMethod[c.get("method", "GET").upper()])
        .uri(c["path"])
        .token_types({lark.AccessTokenType.TENANT})
    )
    if c.get("query"):
        req = req.queries([(k, str(v)) for k, v in c["query"].items()])
    if c.get("body") is not None:
        # The raw request adds no content type of its own.
        req = req.headers({"Content-Type": "application/json; charset=utf-8"}).body(c["body"])
    try:
        resp = client.request(req.build(), option)
    except Exception as e:  # a token the SDK could not get raises
        return {"code": getattr(e, "code", None), "msg": str(e), "status": None, "data": None, "bytes": None}
    content = resp.raw.content or b""
    try:
        data = json.loads(content).get("data")
    except ValueError:
        data = None
    return {"code": resp.code, "msg": resp.msg, "status": resp.raw.status_code, "data": data, "bytes": len(content)}


def main():
    cfg = json.loads(sys.argv[1])
    client = client_for(cfg)
    option = option_for(cfg)
    for c in cfg["calls"]:
        print(json.dumps(call(client, option, c), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
