// The package as a user gets it: `npm pack` of pkg/, installed into a fresh
// project outside the repository. Shared by the consumer and bundling tests.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const run = promisify(execFile);
export const repo = fileURLToPath(new URL("../..", import.meta.url));

/** A temporary project with the packed package installed. Returns { dir, remove() }. */
export async function packedProject(label) {
  const dir = await mkdtemp(join(tmpdir(), `ftt-${label}-`));
  await run("npm", ["pack", "--silent", "--pack-destination", dir, join(repo, "pkg")]);
  const [tarball] = (await readdir(dir)).filter((f) => f.endsWith(".tgz"));
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: label, private: true, type: "module" }));
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--silent", `./${tarball}`], { cwd: dir });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
