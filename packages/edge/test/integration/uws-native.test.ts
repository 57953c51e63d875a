/**
 * The server runs on the native uWebSockets.js binary and refuses the
 * package's silent pure-JS fallback unless told otherwise.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import t from "tap";
import { isNativeUws, loadUws } from "../../src/index.js";
import type { Uws } from "../../src/uws.js";
import { startServer } from "../helpers.js";

const require = createRequire(import.meta.url);
const INDEX = new URL("../../src/index.js", import.meta.url).href;

/** Runs an ES module snippet in a child Node; resolves with its last stdout line as JSON. */
function child(code: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--input-type=module", "-e", code],
      { env: { ...process.env, ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`child failed: ${err.message}\n${stderr}`));
          return;
        }
        // uWebSockets.js prints its own notice when it falls back.
        const last = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(last));
        } catch {
          reject(new Error(`unexpected child output: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

t.test("the server runs on the native binary", async (t) => {
  const { io } = await startServer(t);
  t.equal(io.nativeUws, true);
  const mod = require("uWebSockets.js") as typeof Uws;
  t.equal(isNativeUws(mod), true, "the package's main export is the native addon");
  t.equal(loadUws().native, true);
  t.equal(loadUws().mod, mod, "loadUws hands out that same module");
});

t.test("the detector says no to the pure-JS fallback", async (t) => {
  const fallback = require("uWebSockets.js/dist/index.js") as typeof Uws;
  t.type(fallback.App, "function", "the fallback looks like uWS");
  t.type(fallback.us_socket_local_port, "function");
  t.equal(isNativeUws(fallback), false);
  t.equal(isNativeUws({} as typeof Uws), false, "nor to something that is not uWS at all");
});

t.test("with UWS_USE_FALLBACK=true, new Server() throws NativeUwsError", async (t) => {
  const result = await child(
    `import { Server } from ${JSON.stringify(INDEX)};
     try {
       new Server();
       console.log(JSON.stringify({ constructed: true }));
     } catch (err) {
       console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message }));
     }
     process.exit(0);`,
    { UWS_USE_FALLBACK: "true", ALLOW_UWS_FALLBACK: "" },
  );
  t.match(result, {
    name: "NativeUwsError",
    code: "ERR_UWS_NOT_NATIVE",
    message: /native binary/,
  });
});

t.test("with UWS_USE_FALLBACK=true and allowUwsFallback, the server constructs", async (t) => {
  const result = await child(
    `import { Server } from ${JSON.stringify(INDEX)};
     const io = new Server({ allowUwsFallback: true });
     console.log(JSON.stringify({ constructed: true, nativeUws: io.nativeUws }));
     process.exit(0);`,
    { UWS_USE_FALLBACK: "true" },
  );
  t.same(result, { constructed: true, nativeUws: false });
});
