#!/usr/bin/env node
// Makes an agent key: prints a new random key (give it to the agent, where
// it would take the app secret) and the entry to add to the Worker's
// AGENT_KEYS secret (which holds the key's SHA-256, never the key).
//
//   node scripts/agent-key.mjs create --id <label> --app <app id> --allow "<METHOD|*> <path prefix>" [--allow ...]
//                                     [--tenant <tenant_key> ...] [--user <open_id> ...] [--user-tokens] [--expires <RFC 3339 time>]
//                                     [--per-minute <n>] [--per-day <n>] [--per-month <n>] [--event <type> ...] [--json]
// --event: an event type the key may pull for its app (GET /v1/events: docs/events.md).
//
// --per-minute / --per-day / --per-month: the key's own limits, counted by
// its Durable Object (KEY_LEDGERS) across isolates; over one, 429 KEY_LIMITED.
//
// --user: the key may make calls as that signed-in user (X-User-Id), within
// its --allow list (docs/users.md). --user-tokens: it may also be handed
// those users' raw tokens (GET /v1/users/{open_id}/user_access_token); off
// by default, since a raw token works at Feishu outside --allow.
//
// Example:
//   node scripts/agent-key.mjs create --id support-bot --app cli_a5f0c0ffee000001 \
//     --allow "GET /open-apis/im/v1/chats" --allow "POST /open-apis/im/v1/messages" --expires 2027-06-30T00:00:00Z
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

/** What every key starts with: the Worker never sends an app secret shaped so to Feishu. */
export const AGENT_KEY_PREFIX = "ftt_ak_";
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"];

/** A new key and its AGENT_KEYS entry; throws an Error naming the option to fix. */
export function createAgentKey({ id, app, allow = [], tenants = [], users = [], userTokens = false, expires, perMinute, perDay, perMonth, events = [] }) {
  if (!id || id.length > 64 || /[\u0000-\u001f]/.test(id)) throw new Error("--id: a label of at most 64 printable characters (it appears in the audit log)");
  if (!/^cli_[0-9A-Za-z_]+$/.test(app ?? "")) throw new Error("--app: the app id (cli_...) whose secret the Worker holds");
  if (allow.length === 0) throw new Error('--allow: at least one "<METHOD or *> <path prefix>", e.g. --allow "GET /open-apis/im/v1/chats" (a key allows nothing by default)');
  for (const a of allow) {
    const [method, prefix, ...rest] = a.trim().split(/\s+/);
    const ok = METHODS.includes(method?.toUpperCase()) && rest.length === 0 && /^\/open-apis\/[^?#%\\ ]+$/.test(prefix ?? "") && !prefix.split("/").some((s) => s === "." || s === "..");
    if (!ok) throw new Error(`--allow ${JSON.stringify(a)}: "<METHOD or *> <path prefix under /open-apis/>"`);
  }
  for (const u of users) if (!/^ou_[0-9A-Za-z_-]{1,100}$/.test(u)) throw new Error(`--user ${JSON.stringify(u)}: a user's open_id (ou_...)`);
  if (userTokens && users.length === 0) throw new Error("--user-tokens: needs --user (the users whose raw tokens the key may be handed)");
  if (expires !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(expires)) {
    throw new Error("--expires: an RFC 3339 time, e.g. 2027-06-30T00:00:00Z");
  }
  if (expires !== undefined && !(Date.parse(expires) > Date.now())) throw new Error("--expires: a time in the future");
  const limits = {};
  for (const [name, flag, v] of [["per_minute", "--per-minute", perMinute], ["per_day", "--per-day", perDay], ["per_month", "--per-month", perMonth]]) {
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 100_000_000) throw new Error(`${flag}: a whole number of calls from 1 to 100000000`);
    limits[name] = n;
  }
  const key = AGENT_KEY_PREFIX + randomBytes(32).toString("base64url");
  const entry = {
    id,
    sha256: createHash("sha256").update(key).digest("hex"),
    app_id: app,
    allow: allow.map((a) => a.trim().replace(/\s+/, " ")),
    ...(tenants.length > 0 && { tenants }),
    ...(users.length > 0 && { users }),
    ...(userTokens && { user_tokens: true }),
    ...(expires !== undefined && { expires_at: expires }),
    ...(Object.keys(limits).length > 0 && { limits }),
    ...(events.length > 0 && { events }),
  };
  return { key, entry };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const usage = 'usage: node scripts/agent-key.mjs create --id <label> --app <app id> --allow "<METHOD|*> <path prefix>" [--allow ...] [--tenant <tenant_key> ...] [--user <open_id> ...] [--user-tokens] [--expires <RFC 3339>] [--per-minute <n>] [--per-day <n>] [--per-month <n>] [--event <type> ...] [--json]';
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        id: { type: "string" },
        app: { type: "string" },
        allow: { type: "string", multiple: true },
        tenant: { type: "string", multiple: true },
        user: { type: "string", multiple: true },
        "user-tokens": { type: "boolean" },
        expires: { type: "string" },
        "per-minute": { type: "string" },
        "per-day": { type: "string" },
        "per-month": { type: "string" },
        event: { type: "string", multiple: true },
        json: { type: "boolean" },
      },
    });
  } catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
  const { positionals, values } = parsed;
  if (positionals[0] !== "create") {
    console.error(usage);
    process.exit(2);
  }
  try {
    const { key, entry } = createAgentKey({ id: values.id, app: values.app, allow: values.allow, tenants: values.tenant, users: values.user, userTokens: values["user-tokens"], expires: values.expires, perMinute: values["per-minute"], perDay: values["per-day"], perMonth: values["per-month"], events: values.event ?? [] });
    if (values.json) {
      console.log(JSON.stringify({ key, entry }));
    } else {
      console.log(`Agent key (give it to the agent in place of the app secret; it is shown once, and the Worker keeps only its SHA-256):

  ${key}

Entry to add to the AGENT_KEYS array (npx wrangler secret put AGENT_KEYS):

  ${JSON.stringify(entry)}

Revoke it by removing the entry: its gateway tokens stop at their next call.`);
    }
  } catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
}
