// Every relative link in README.md, SECURITY.md and docs/*.md leads somewhere:
// the file exists (relative to the page holding the link) and, for a
// `#anchor` into a Markdown file, that file has a heading with that GitHub
// slug. Also keeps the README short enough to read in five minutes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const README_MAX_LINES = 250;

const pages = [
  "README.md",
  "SECURITY.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`),
];

/** Markdown without its fenced code blocks (indented fences included, as in list items). */
const withoutFences = (md) => md.replace(/^[ \t]*(```|~~~)[^\n]*\n[\s\S]*?^[ \t]*\1[^\n]*$/gm, "");

/** GitHub's heading anchor: lowercase, punctuation dropped (but '-' and '_'), spaces to '-'. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a Markdown text: its ATX headings' slugs, with GitHub's -1, -2... for repeats. */
function anchors(md) {
  const seen = new Map();
  const out = new Set();
  for (const m of withoutFences(md).matchAll(/^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$/gm)) {
    // The heading's text as rendered: links keep their text, code spans their content.
    const text = m[1].replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/`+([^`]*)`+/g, "$1");
    const base = slug(text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every `[text](target)` and `![alt](target)` outside code, with its line number. */
function links(md) {
  // Blank code instead of removing it, so that line numbers stay right.
  const blank = (s) => s.replace(/[^\n]/g, " ");
  const text = md
    .replace(/^[ \t]*(```|~~~)[^\n]*\n[\s\S]*?^[ \t]*\1[^\n]*$/gm, blank)
    .replace(/(`+)[\s\S]*?\1/g, blank);
  const out = [];
  for (const m of text.matchAll(/!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push({ target: m[1], line: text.slice(0, m.index).split("\n").length });
  }
  return out;
}

const anchorsOfFile = new Map();
function anchorsOf(file) {
  if (!anchorsOfFile.has(file)) anchorsOfFile.set(file, anchors(readFileSync(file, "utf8")));
  return anchorsOfFile.get(file);
}

/** The broken links of one page (path from the repository root), as messages; empty: all good. */
function brokenLinks(page, md = readFileSync(join(root, page), "utf8")) {
  const problems = [];
  for (const { target, line } of links(md)) {
    if (/^(https?:|mailto:)/i.test(target)) continue;
    const hash = target.indexOf("#");
    const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
    const file = pathPart === "" ? join(root, page) : join(root, dirname(page), pathPart);
    const where = `${page}:${line}: ${target}`;
    if (!(file + sep).startsWith(root) || !existsSync(file)) {
      problems.push(`${where}: no such file ${relative(root, file)}`);
      continue;
    }
    if (anchor === null) continue;
    if (!file.endsWith(".md") || statSync(file).isDirectory()) {
      problems.push(`${where}: an anchor into a file that is not Markdown`);
      continue;
    }
    const known = pathPart === "" ? anchors(md) : anchorsOf(file);
    if (!known.has(anchor)) {
      problems.push(`${where}: ${relative(root, file) || page} has no heading with the anchor #${anchor}`);
    }
  }
  return problems;
}

test("GitHub-style slugs", () => {
  assert.equal(slug("Store-app mode (managed Worker)"), "store-app-mode-managed-worker");
  assert.equal(slug("Calling Feishu APIs: fetch, which recovers"), "calling-feishu-apis-fetch-which-recovers");
  assert.equal(slug("A request's path"), "a-requests-path");
  assert.equal(slug("Sizes (gzip -9, gated)"), "sizes-gzip--9-gated");
  assert.equal(slug("TenantTokenClient: from an app_access_token"), "tenanttokenclient-from-an-app_access_token");
  assert.equal(slug("飞书 令牌"), "飞书-令牌");
});

test("the checker catches a missing file and a missing anchor", () => {
  const md = [
    "[ok](docs/npm.md#supported-runtimes) [gone](docs/nope.md) [bad](docs/npm.md#no-such-heading)",
    "`[in code](nowhere.md)` [web](https://example.com/x) [self](#top)",
    "```",
    "[in a fence](nowhere.md)",
    "```",
    "# Top",
  ].join("\n");
  const problems = brokenLinks("README.md", md);
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0], /docs\/nope\.md: no such file/);
  assert.match(problems[1], /no heading with the anchor #no-such-heading/);
});

for (const page of pages) {
  test(`${page}: every relative link and anchor resolves`, () => {
    const problems = brokenLinks(page);
    assert.deepEqual(problems, [], `broken links:\n${problems.join("\n")}`);
  });
}

test(`README.md is at most ${README_MAX_LINES} lines`, () => {
  const lines = readFileSync(join(root, "README.md"), "utf8").replace(/\n$/, "").split("\n").length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines`);
});

// docs/design.md names code: every `path/to/file.rs` (or folder) and every
// `module::name` written in it must exist, so that the next rename cannot
// leave the page stale.

/** Every Rust source of the three crates, as paths relative to the root. */
function rustFiles() {
  const out = [];
  const walk = (dir) => {
    for (const f of readdirSync(join(root, dir))) {
      const p = `${dir}/${f}`;
      if (statSync(join(root, p)).isDirectory()) walk(p);
      else if (f.endsWith(".rs")) out.push(p);
    }
  };
  for (const d of ["src", "npm/src", "worker/src"]) walk(d);
  return out;
}

const RUST = rustFiles();
const SOURCE = new Map(RUST.map((f) => [f, readFileSync(join(root, f), "utf8")]));

/** A file's module path: its folders and its stem (`mod.rs` is its folder). */
const modulePath = (file) => file.replace(/\.rs$/, "").split("/").filter((s, i, all) => !(s === "mod" && i === all.length - 1));

/** Whether `names` occur in `path`, in order (a subsequence). */
function within(names, path) {
  let i = 0;
  for (const p of path) if (p === names[i]) i += 1;
  return i === names.length;
}

/** Whether `name` is defined in `text`: an item, a method, an enum variant or a field. */
function defines(text, name) {
  const items = new RegExp(`\\b(?:fn|struct|enum|trait|type|const|static|mod|macro_rules!)\\s+${name}\\b`);
  const variant = new RegExp(`^\\s+${name}\\b\\s*(?:[({,]|$)`, "m");
  return items.test(text) || variant.test(text);
}

/** Why a code name of design.md does not resolve, or null. */
function unresolved(name) {
  if (name.endsWith(".rs") && !name.includes("/")) return RUST.some((f) => f.endsWith(`/${name}`)) ? null : "no such file";
  if (name.includes("/")) {
    const bare = name.replace(/\/$/, "");
    if (existsSync(join(root, bare))) return null;
    // A path relative to a crate's `src/` (`http/cors.rs`, `cache/layer/tests.rs`).
    return RUST.some((f) => f.endsWith(`/${bare}`)) || RUST.some((f) => f.includes(`/${bare}/`)) ? null : "no such file";
  }
  const parts = name.split("::");
  const last = parts.at(-1);
  const modules = parts.slice(0, -1).filter((p) => /^[a-z_][a-z0-9_]*$/.test(p));
  const found = RUST.some((f) => within(modules, modulePath(f)) && defines(SOURCE.get(f), last));
  return found ? null : `no \`${last}\` defined under ${modules.join("/") || "any module"}`;
}

/** The code names a Markdown page writes in backticks (outside fences). */
function codeNames(md) {
  const names = new Set();
  for (const m of withoutFences(md).matchAll(/`([^`\s]+)`/g)) {
    const t = m[1];
    if (/^(?:[A-Za-z_][A-Za-z0-9_]*::)+[A-Za-z_][A-Za-z0-9_]*$/.test(t)) names.add(t);
    else if (/^[a-z_][a-z0-9_./-]*\.rs$|^(?:src|npm|worker|tests|bench|scripts|www|fuzz|sandbox)\/[A-Za-z0-9_./-]*$/.test(t)) names.add(t);
  }
  return [...names];
}

test("the name checker sees stale names", () => {
  assert.equal(unresolved("cache::evict::evict_refused"), null);
  assert.equal(unresolved("worker/src/calls/forward.rs"), null);
  assert.equal(unresolved("http/cors.rs"), null);
  assert.match(unresolved("serve::token"), /no `token`/);
  assert.match(unresolved("worker/src/gateway/forward.rs"), /no such file/);
  assert.deepEqual(codeNames("`a::b` `x.rs` `Cache-Control: x`\n```\n`c::d`\n```\n"), ["a::b", "x.rs"]);
});

test("docs/design.md: every file and code name it writes exists", () => {
  const md = readFileSync(join(root, "docs/design.md"), "utf8");
  const stale = codeNames(md)
    .map((n) => [n, unresolved(n)])
    .filter(([, why]) => why)
    .map(([n, why]) => `${n}: ${why}`);
  assert.deepEqual(stale, [], `stale names in docs/design.md:\n${stale.join("\n")}`);
});
