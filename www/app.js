// The demo: one TenantTokenClient from the npm package, driven by the form.
import { TenantTokenClient } from "/pkg/web.js";

const $ = (id) => document.getElementById(id);
const config = await (await fetch("/config.json")).json().catch(() => ({}));
$("baseUrl").value = config.sandboxUrl ?? "https://open.feishu.cn";
$("appAccessToken").value = config.appAccessToken ?? "";
$("tenantKey").value = config.tenantKey ?? "";

let client = null;
let clientBase = null;
let revealed = false;
let current = null;
let timer = null;

const mask = (t) => `${t.slice(0, 6)}${"•".repeat(12)}${t.slice(-4)}`;

function render() {
  if (!current) return;
  $("token").textContent = revealed ? current.tenantAccessToken : mask(current.tenantAccessToken);
  $("reveal").textContent = revealed ? "Hide" : "Reveal";
  const left = Math.max(0, Math.floor((current.expiresAt - Date.now()) / 1000));
  $("expire").textContent = `${Math.floor(left / 60)} min ${left % 60} s`;
}

$("reveal").addEventListener("click", () => {
  revealed = !revealed;
  render();
});

$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("error").hidden = true;
  try {
    const baseUrl = $("baseUrl").value.trim();
    if (!client || clientBase !== baseUrl) {
      client = new TenantTokenClient({ baseUrl });
      clientBase = baseUrl;
    }
    const before = client.stats().hits;
    const started = performance.now();
    current = await client.get({ appAccessToken: $("appAccessToken").value, tenantKey: $("tenantKey").value });
    const ms = performance.now() - started;
    $("source").textContent = client.stats().hits > before ? "module cache (HIT)" : "Feishu (MISS)";
    $("latency").textContent = `${ms.toFixed(1)} ms`;
    $("expiresAt").textContent = new Date(current.expiresAt).toLocaleString();
    $("result").hidden = false;
    render();
    clearInterval(timer);
    timer = setInterval(render, 1000);
  } catch (e) {
    const parts = [e.code ?? e.name, e.feishuCode && `Feishu ${e.feishuCode}`, e.message].filter(Boolean);
    $("error").textContent = parts.join(" · ");
    $("error").hidden = false;
  }
});
