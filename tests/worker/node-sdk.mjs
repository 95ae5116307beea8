// What the workerd tests do with the official Node SDK (@larksuiteoapi/node-sdk).

/** A logger that says nothing (the SDK logs every refusal by default). */
export const silent = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };

/** A raw call through the Node SDK: the body it resolves to, or Feishu's body (and status) it throws with. */
export async function sdkCall(client, req, options) {
  try {
    return await client.request(req, options);
  } catch (e) {
    if (e?.response?.data) return { ...e.response.data, status: e.response.status };
    throw e;
  }
}

/** `POST /open-apis/im/v1/messages` with `message` through the SDK. */
export const sendMessage = (client, message, options) =>
  sdkCall(client, { method: "POST", url: "/open-apis/im/v1/messages", params: { receive_id_type: "chat_id" }, data: message }, options);

/**
 * A fresh SDK client of the sandbox's self-built app with `domain` (the
 * sandbox or a Worker), its own token cache, silent: one service process
 * of a fleet (tests/worker/sdk-limited-child.mjs, bench/gateway-sdk-child.mjs).
 */
export async function fleetClient(domain) {
  const lark = await import("@larksuiteoapi/node-sdk");
  return new lark.Client({ appId: "cli_sandbox_internal_one", appSecret: "sandbox-internal-secret-one", domain, cache: new lark.DefaultCache(), logger: silent });
}
