import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";
import { NativeUwsError } from "./errors.js";

export type { Uws };

const require = createRequire(import.meta.url);

/**
 * True when `mod` is the native uWebSockets.js addon. The npm build we depend
 * on silently swaps in a pure-JS server (on `ws`) when its binary does not
 * load; that server has none of the native pub/sub fan-out we rely on.
 */
export function isNativeUws(mod: typeof Uws): boolean {
  const app = mod.App as unknown;
  return (
    typeof app === "function" &&
    Function.prototype.toString.call(app).includes("[native code]") &&
    typeof mod.us_socket_local_port === "function" &&
    Function.prototype.toString.call(mod.us_socket_local_port).includes("[native code]")
  );
}

let loaded: { mod: typeof Uws; native: boolean } | undefined;

/**
 * Loads uWebSockets.js once and proves the native binary is in use. Throws
 * `NativeUwsError` on the fallback unless `allowFallback` is set.
 */
export function loadUws(options: { allowFallback?: boolean } = {}): {
  mod: typeof Uws;
  native: boolean;
} {
  if (loaded === undefined) {
    // The package logs its own warning when it falls back; we decide below.
    const mod = require("uWebSockets.js") as typeof Uws;
    loaded = { mod, native: isNativeUws(mod) };
  }
  if (!loaded.native && options.allowFallback !== true) {
    throw new NativeUwsError(
      "ERR_UWS_NOT_NATIVE",
      `uWebSockets.js could not load its native binary for ${process.platform}-${process.arch} ` +
        `(Node ABI ${process.versions.modules}) and fell back to a slow pure-JS server; ` +
        "use Node.js 20 on glibc 2.27+ (x64/arm64), or set ALLOW_UWS_FALLBACK=true to run anyway",
    );
  }
  return loaded;
}
