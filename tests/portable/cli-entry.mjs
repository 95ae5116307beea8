// Entry for Node, Deno and Bun: imports the package by name (from a project
// whose node_modules holds it) and prints the suite's results as one JSON line.
import * as main from "feishu-tenant-token";
import * as users from "feishu-tenant-token/user-tokens";
import { runSuite } from "./suite.mjs";

const pkg = { ...main, ...users };

const [baseUrl, runtime] = globalThis.Deno ? Deno.args : globalThis.process.argv.slice(2);
const results = await runSuite(pkg, { baseUrl, runtime });
console.log(`RESULTS ${JSON.stringify(results)}`);
