// A tiny Worker (no workers-rs) that imports the package by name and runs the
// suite when asked: GET /?base=<sandbox url>.
import * as main from "feishu-tenant-token";
import * as users from "feishu-tenant-token/user-tokens";
import { runSuite } from "./suite.mjs";

const pkg = { ...main, ...users };

export default {
  async fetch(request) {
    const baseUrl = new URL(request.url).searchParams.get("base");
    return Response.json(await runSuite(pkg, { baseUrl, runtime: "workerd" }));
  },
};
