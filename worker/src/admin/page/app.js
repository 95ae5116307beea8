// The operator page: same-origin calls to /admin/api with the session
// cookie and the page's own header; every value a caller could have set is
// written as text, never as HTML.
const $ = (id) => document.getElementById(id);
const api = async (path, method = "GET", body) => {
  const init = { method, credentials: "same-origin", headers: { "x-admin-request": "1" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(`/admin/api/${path}`, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.msg || `HTTP ${resp.status}`);
  return data;
};
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "—");
const enc = encodeURIComponent;

function bars(target, entries) {
  const box = $(target);
  box.replaceChildren();
  const max = Math.max(1, ...entries.map(([, c]) => c.calls));
  for (const [name, c] of entries.sort((a, b) => b[1].calls - a[1].calls).slice(0, 12)) {
    const row = el("div", undefined, "row");
    row.append(el("span", name, "label"));
    const bar = el("span", undefined, "bar");
    bar.style.width = `${(300 * c.calls) / max}px`;
    row.append(bar, el("span", `${c.calls} calls, ${c.absorbed} waited, ${c.refused} refused`));
    box.append(row);
  }
  if (!entries.length) box.append(el("p", "No calls yet this month."));
}

async function showUsage() {
  const u = await api("usage");
  $("month").textContent = `${u.month} (UTC+8)`;
  const apps = Object.entries(u.apps);
  bars("chart-apps", apps.map(([a, m]) => [a, m.total]));
  bars("chart-keys", apps.flatMap(([a, m]) => Object.entries(m.keys).map(([k, c]) => [`${k} (${a})`, c])));
  bars("chart-apis", apps.flatMap(([, m]) => Object.entries(m.apis)));
  const quota = $("quota");
  quota.replaceChildren();
  for (const [app, q] of Object.entries(u.quota)) {
    const used = u.apps[app]?.total.calls ?? 0;
    quota.append(el("div", `${app}: ${used} of ${q.monthly_quota} calls this month; agent keys stop at ${q.agent_share_pct} %`));
    const bar = el("div", undefined, "quota");
    const fill = el("div", undefined, "used");
    fill.style.width = `${Math.min(100, (100 * used) / q.monthly_quota)}%`;
    const mark = el("div", undefined, "mark");
    mark.style.left = `${q.agent_share_pct}%`;
    bar.append(fill, mark);
    quota.append(bar);
  }
}

async function showKeys() {
  const { keys, revoked } = await api("keys");
  const body = $("keys").tBodies[0];
  body.replaceChildren();
  for (const k of keys) {
    const tr = el("tr");
    tr.dataset.key = k.id;
    const limits = Object.entries(k.limits || {}).map(([n, v]) => `${n} ${v}`).join(", ");
    for (const v of [k.id, k.app_id, k.former ? `${k.source} (former, in grace)` : k.source, k.key_sha256, limits || "—", k.usage.calls, when(k.usage.last_ms)]) tr.append(el("td", v));
    const actions = el("td");
    if (!k.former) {
      const rotate = el("button", "Rotate");
      rotate.onclick = () => act(() => api(`keys/${enc(k.id)}/rotate`, "POST", {}).then(shown));
      const revoke = el("button", "Revoke");
      revoke.onclick = () => confirm(`Revoke ${k.id}? Every call with it is refused within a second.`) && act(() => api(`keys/${enc(k.id)}/revoke`, "POST", {}));
      actions.append(rotate, " ", revoke);
    }
    tr.append(actions);
    body.append(tr);
  }
  $("revoked").textContent = revoked.length ? `Revoked AGENT_KEYS entries: ${revoked.join(", ")}` : "";
}

async function showUsers() {
  const { users } = await api("users");
  const body = $("users").tBodies[0];
  body.replaceChildren();
  for (const u of users) {
    const tr = el("tr");
    for (const v of [u.open_id, u.app_id, when(u.last_seen_ms), u.calls]) tr.append(el("td", v));
    const out = el("button", "Sign out");
    out.onclick = () => act(() => api(`users/${enc(u.app_id)}/${enc(u.open_id)}/sign-out`, "POST", {}));
    const td = el("td");
    td.append(out);
    tr.append(td);
    body.append(tr);
  }
}

async function showAudit() {
  const lines = await api("audit");
  const list = $("audit");
  list.replaceChildren(...lines.slice(-20).reverse().map((l) => el("li", `${when(l.at_ms)} ${l.admin} ${l.action} ${l.key ?? l.user ?? ""} ${l.key_sha256 ?? ""}${l.refused ? ` refused: ${l.refused}` : ""}`)));
}

function shown(made) {
  $("new-key").hidden = false;
  $("new-key-value").textContent = made.key;
}

async function act(step) {
  $("keys-error").textContent = "";
  try {
    await step();
  } catch (e) {
    $("keys-error").textContent = e.message;
  }
  await refresh();
}

async function refresh() {
  await Promise.all([showUsage(), showKeys(), showUsers(), showAudit()]);
}

async function start() {
  let me;
  try {
    me = await api("me");
  } catch {
    $("sign-in").hidden = false;
    return;
  }
  $("who").textContent = `signed in: ${me.who}`;
  $("sign-out").hidden = false;
  $("signed-in").hidden = false;
  const select = $("create-form").elements.app_id;
  select.replaceChildren(...me.apps.map((a) => el("option", a)));
  await refresh();
}

$("key-form").onsubmit = async (e) => {
  e.preventDefault();
  try {
    await api("session", "POST", { admin_key: $("admin-key").value });
    $("admin-key").value = "";
    location.reload();
  } catch (err) {
    $("sign-in-error").textContent = err.message;
  }
};
$("sign-out").onclick = async () => {
  await api("session", "DELETE").catch(() => {});
  location.reload();
};
$("create-form").onsubmit = (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const entry = { id: f.id.value, app_id: f.app_id.value, allow: f.allow.value.split("\n").map((s) => s.trim()).filter(Boolean) };
  const limits = {};
  for (const n of ["per_minute", "per_day", "per_month"]) if (f[n].value) limits[n] = Number(f[n].value);
  if (Object.keys(limits).length) entry.limits = limits;
  act(() => api("keys", "POST", entry).then(shown));
};
start();
