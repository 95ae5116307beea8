// The smallest hand-written JS pass-through, for bench/gateway.mjs: forwards
// /open-apis/* to Feishu (FEISHU_BASE_URL, the sandbox in the benchmark) with
// fetch, as it came (method, headers, body); no header rules, no inspection,
// no tokens. What any proxy Worker pays: the baseline for the gateway's own
// work. Not shipped; benchmark only.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/open-apis/")) {
      return Response.json({ code: 404, msg: "not found" }, { status: 404 });
    }
    return fetch(env.FEISHU_BASE_URL + url.pathname + url.search, request);
  },
};
