import { spawn } from "node:child_process";
import t from "tap";
import { collectGarbage, inspectorUrl } from "../../src/infra/inspector.js";

// conns reads RSS after a full GC in the server, through its inspector: this
// proves the call collects another process's garbage.
const CHILD = `
  let junk = [];
  for (let i = 0; i < 200000; i++) junk.push({ i, s: "x".repeat(64) + i });
  junk = null; // garbage now, not collected yet
  process.stdin.on("data", () => {
    process.stdout.write(JSON.stringify(process.memoryUsage()) + "\\n");
  });
`;

t.test("inspectorUrl finds the URL node prints, and nothing else", (t) => {
  t.equal(
    inspectorUrl(
      "Debugger listening on ws://127.0.0.1:40123/5b9c0a1e-7d1c-4a2b-9f3e-0c1d2e3f4a5b\nFor help",
    ),
    "ws://127.0.0.1:40123/5b9c0a1e-7d1c-4a2b-9f3e-0c1d2e3f4a5b",
  );
  t.equal(inspectorUrl("Debugger listening on ws://0.0.0.0:9229/abc"), undefined, "loopback only");
  t.equal(inspectorUrl("ready"), undefined);
  t.end();
});

t.test("collectGarbage frees another process's garbage", async (t) => {
  const child = spawn(process.execPath, ["--inspect=127.0.0.1:0", "-e", CHILD], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no inspector URL: ${err}`)), 10_000);
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      const found = inspectorUrl(err);
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      }
    });
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const heapUsed = async (): Promise<number> => {
    const before = out.length;
    child.stdin.write("?\n");
    const deadline = Date.now() + 10_000;
    while (!out.slice(before).includes("\n")) {
      if (Date.now() > deadline) throw new Error("the child did not answer");
      await new Promise((r) => setTimeout(r, 20));
    }
    return (JSON.parse(out.slice(before).split("\n")[0]!) as { heapUsed: number }).heapUsed;
  };
  const before = await heapUsed();
  await collectGarbage(url);
  const after = await heapUsed();
  t.ok(after < before - 5 * 2 ** 20, `heap ${before} -> ${after} bytes: the garbage went`);
});
