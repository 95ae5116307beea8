// The floor for bench/soak.mjs: a Worker that does no work at all (a fixed
// answer of the same shape, no KV, no fetch), to tell workerd's and
// Miniflare's own memory growth and tail latency under wrk from a Worker's.
// Not shipped; benchmark only.
const BODY = JSON.stringify({ code: 0, msg: "ok", tenant_access_token: "t-empty", expire: 7200 });

export default {
  async fetch(request) {
    await request.arrayBuffer();
    return new Response(BODY, { headers: { "content-type": "application/json; charset=utf-8" } });
  },
};
