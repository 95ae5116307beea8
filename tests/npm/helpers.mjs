// Shared by the JS test files: the built package and a sandbox per file.
import { startSandbox, SANDBOX_APPS, SANDBOX_TENANT } from "../../sandbox/sandbox.mjs";

export { SANDBOX_APPS, SANDBOX_TENANT, startSandbox };
export const APP_ONE = SANDBOX_APPS.cli_sandbox_app_one.appAccessToken;
export const APP_TWO = SANDBOX_APPS.cli_sandbox_app_two.appAccessToken;

/** The package as built into pkg/, loaded through its Node entry. */
export const pkg = await import(new URL("../../pkg/node.js", import.meta.url).href);

/** Resolves to the rejection of `promise` (fails if it resolves). */
export async function rejection(promise) {
  try {
    const v = await promise;
    throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
  } catch (e) {
    if (e?.name !== "FeishuTokenError") throw e;
    return e;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
