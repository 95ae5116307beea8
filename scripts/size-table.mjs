#!/usr/bin/env node
// Writes docs/size.md: the shipped .wasm files' sizes, raw and gzip -9, against
// their gates (scripts/size-gates.mjs). Run by `make bench` after the builds;
// not by `make test`, which must not rewrite tracked files. Node 20, no deps.
// Exits 1 if an artefact is not built; a file over its gate is only reported
// (the builds enforce the gates).
//   node scripts/size-table.mjs
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ARTEFACTS, gzip9 } from "./size-gates.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const OUT = "docs/size.md";

/** The artefact's path (relative to the repository), or null if it is not built. */
function locate({ dir, file }) {
  if (existsSync(`${root}${dir}/${file}`)) return `${dir}/${file}`;
  // scripts/build-worker.sh's fallback: the first .wasm in the folder.
  if (dir === "worker/build" && existsSync(`${root}${dir}`)) {
    const other = readdirSync(`${root}${dir}`).filter((f) => f.endsWith(".wasm")).sort()[0];
    if (other) return `${dir}/${other}`;
  }
  return null;
}

const missing = ARTEFACTS.filter((a) => !locate(a));
if (missing.length > 0) {
  console.error(
    `size-table: not built: ${missing.map((a) => `${a.dir}/${a.file}`).join(", ")}.\n` +
      `Build first: ${[...new Set(missing.map((a) => a.build))].join(" and ")}.`,
  );
  process.exit(1);
}

const git = (...args) => execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
let commit;
try {
  commit = git("rev-parse", "--short", "HEAD");
  // Changes to tracked files other than the generated pages mean the build may not be that commit's.
  if (git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs", ":!bench") !== "") commit += ", with uncommitted changes";
} catch {
  commit = "unknown (not a git checkout)";
}

const n = (x) => x.toLocaleString("en-US");
const rows = ARTEFACTS.map((a) => {
  const path = locate(a);
  const bytes = readFileSync(`${root}${path}`);
  const gz = gzip9(bytes);
  return { ...a, path, raw: bytes.length, gz, headroom: a.gate - gz };
});
const pct = (r) => `${((100 * r.headroom) / r.gate).toFixed(1)} %`;
const md = `# Sizes

Written by \`node scripts/size-table.mjs\` (run by \`make bench\`), measuring commit ${commit}; do not edit by hand.
gzip -9 is GNU gzip's, the measure the builds gate with (scripts/build-npm.sh, scripts/build-worker.sh) and
bench/RESULTS.md uses too.

| artefact | file | bytes raw | bytes gzip -9 | gate (gzip -9) | headroom |
|---|---|---:|---:|---:|---:|
${rows.map((r) => `| ${r.name} | \`${r.path}\` | ${n(r.raw)} | ${n(r.gz)} | ${n(r.gate)} | ${r.headroom >= 0 ? `${n(r.headroom)} (${pct(r)})` : `**over by ${n(-r.headroom)}**`} |`).join("\n")}
`;
writeFileSync(`${root}${OUT}`, md);
for (const r of rows) console.log(`${r.path}: ${r.raw} B, ${r.gz} B gzip -9, gate ${r.gate}: ${r.headroom >= 0 ? `${r.headroom} to spare` : `OVER by ${-r.headroom}`}`);
console.log(`wrote ${OUT}`);
// Reported, not enforced: the builds enforce their gates.
const over = rows.filter((r) => r.headroom < 0);
if (over.length > 0) console.error(`size-table: warning: over the gate (gzip -9): ${over.map((r) => r.path).join(", ")}`);
