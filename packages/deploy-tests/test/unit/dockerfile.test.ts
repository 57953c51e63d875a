import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import t from "tap";
import {
  edgeDistDir,
  edgePackageDir,
  envOf,
  execForm,
  finalStage,
  fromRoot,
  instructionsOf,
  loadEdgeConfig,
  parseImage,
  readDockerfile,
  renderAll,
  type JsonObject,
} from "../../src/index.js";

// deploy/Dockerfile against what the edge needs to run and what the
// manifests expect of the image. (The image itself cannot be built here: no
// Docker engine.)
const dockerfile = readDockerfile(fromRoot("deploy", "Dockerfile"));
const runtime = finalStage(dockerfile);
const { m } = renderAll()[0]!;
const { DEFAULT_PORT } = await loadEdgeConfig();

/** Node-API module version of each Node.js major: the suffix of uWS's prebuilt binaries. */
const NODE_ABI: Readonly<Record<number, number>> = { 18: 108, 20: 115, 22: 127, 24: 137 };

t.test(
  "every stage is a glibc (Debian/Ubuntu) Node.js image whose ABI uWS ships binaries for",
  async (t) => {
    t.ok(dockerfile.stages.length >= 2, "multi-stage");
    const uwsPackage = dirname(
      createRequire(join(edgePackageDir(), "package.json")).resolve("uWebSockets.js/package.json"),
    );
    const binaries = readdirSync(join(uwsPackage, "binaries"));
    for (const stage of dockerfile.stages) {
      const { name, tag = "latest" } = parseImage(stage.from);
      t.equal(name.split("/").pop(), "node", `${stage.from} is the official Node.js image`);
      t.notMatch(tag, /alpine|musl/, `${stage.from} is not musl-based`);
      t.match(
        tag,
        /bookworm|bullseye|trixie|jammy|noble/,
        `${stage.from} names its glibc distribution`,
      );
      const major = Number(/^(\d+)/.exec(tag)?.[1]);
      const abi = NODE_ABI[major];
      t.ok(abi, `${stage.from}: Node ${major} has a known ABI`);
      for (const arch of ["x64", "arm64"]) {
        t.ok(
          binaries.includes(`uws_linux_${arch}_${abi}.node`),
          `uWS has a linux-${arch} binary for Node ${major}`,
        );
      }
    }
  },
);

t.test("the runtime stage runs as a non-root numeric user, the pods' user", async (t) => {
  const users = instructionsOf(runtime, "USER");
  t.ok(users.length > 0, "USER is set");
  const user = users[users.length - 1]!.args;
  const [uid, gid] = user.split(":");
  t.match(uid, /^\d+$/, "numeric, so that runAsNonRoot can be checked");
  t.not(Number(uid), 0, "not root");
  const pod = m.podSpec("Deployment", "calcbridge-edge")["securityContext"] as JsonObject;
  t.equal(Number(uid), pod["runAsUser"], "the Deployment's runAsUser");
  if (gid !== undefined) t.equal(Number(gid), pod["runAsGroup"], "and runAsGroup");
});

t.test("the image exposes PORT, runs in production and stops on SIGTERM", async (t) => {
  const config = m.dataOf("ConfigMap", "calcbridge-edge");
  const env = envOf(runtime);
  const exposed = instructionsOf(runtime, "EXPOSE").flatMap((i) =>
    i.args.split(/\s+/).map((p) => parseInt(p, 10)),
  );
  t.ok(
    exposed.includes(Number(config["PORT"])),
    `EXPOSE ${exposed.join(" ")} includes the ConfigMap's PORT`,
  );
  t.equal(Number(env.get("PORT") ?? DEFAULT_PORT), Number(config["PORT"]), "the image's PORT");
  t.equal(env.get("NODE_ENV"), "production");
  t.same(
    instructionsOf(runtime, "STOPSIGNAL").map((i) => i.args),
    ["SIGTERM"],
  );
  const health = instructionsOf(runtime, "HEALTHCHECK")[0]?.args ?? "";
  t.match(health, /\/healthz/, "HEALTHCHECK asks /healthz");
  const liveness = m.container("Deployment", "calcbridge-edge", "edge")[
    "livenessProbe"
  ] as JsonObject;
  t.equal((liveness["httpGet"] as JsonObject)["path"], "/healthz", "as the liveness probe does");
});

t.test("the entrypoint is the edge CLI of the deployed package", async (t) => {
  const entry = instructionsOf(runtime, "ENTRYPOINT");
  t.equal(entry.length, 1);
  const argv = execForm(entry[0]!.args);
  t.ok(argv, "exec form: node is PID 1 and gets SIGTERM itself");
  t.equal(argv![0], "node");
  const script = argv![1]!;
  const pkg = JSON.parse(readFileSync(join(edgePackageDir(), "package.json"), "utf8")) as {
    name: string;
    files?: string[];
    bin?: string | Record<string, string>;
  };
  t.ok(existsSync(join(edgePackageDir(), script)), `${script} exists in the built edge package`);
  t.ok(
    (pkg.files ?? []).some((f) => script.startsWith(f.replace(/\/$/, "") + "/")),
    `${script} is in the package's files, so pnpm deploy copies it`,
  );
  t.equal(join(edgePackageDir(), script), join(edgeDistDir(), "cli.js"));
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin?.["calcbridge-edge"];
  if (bin !== undefined)
    t.equal(
      join(edgePackageDir(), bin),
      join(edgePackageDir(), script),
      "it is the calcbridge-edge bin",
    );
  const workdir = instructionsOf(runtime, "WORKDIR").pop()?.args;
  const copy = instructionsOf(runtime, "COPY").find((c) => c.args.includes("--from="));
  t.ok(copy, "the runtime copies the build stage's output");
  t.match(copy!.args, new RegExp(`\\s${workdir}/?$`), "into the working directory");
});

t.test(
  "the build stage installs from the lockfile and deploys only the edge's production dependencies",
  async (t) => {
    const build = dockerfile.stages[0]!;
    const runs = instructionsOf(build, "RUN").map((i) => i.args);
    t.ok(
      runs.some((r) => /pnpm@10\b/.test(r)),
      "pnpm 10",
    );
    t.ok(
      runs.some((r) => /pnpm install\b.*--frozen-lockfile/.test(r)),
      "--frozen-lockfile",
    );
    const root = JSON.parse(readFileSync(fromRoot("package.json"), "utf8")) as {
      scripts?: Record<string, string>;
    };
    t.ok(root.scripts?.["build"], "the workspace has a build script");
    t.ok(
      runs.some((r) => /\bpnpm (run )?build\b/.test(r)),
      "the image runs the workspace's build, so it has whatever that builds",
    );
    const deploy = runs.find((r) => /pnpm deploy\b/.test(r)) ?? "";
    t.match(deploy, /--prod\b/, "production dependencies only");
    const pkg = JSON.parse(readFileSync(join(edgePackageDir(), "package.json"), "utf8")) as {
      name: string;
    };
    t.match(deploy, new RegExp(`--filter ${pkg.name}\\b`), `deploys ${pkg.name}`);
    t.notOk(
      instructionsOf(runtime, "RUN").some((i) => /\b(pnpm|npm) (install|ci)\b/.test(i.args)),
      "the runtime stage installs nothing",
    );
  },
);

t.test(".dockerignore keeps host builds and dependencies out of the context", async (t) => {
  const file = [fromRoot(".dockerignore"), fromRoot("deploy", "Dockerfile.dockerignore")].find(
    existsSync,
  );
  t.ok(file, "a .dockerignore exists");
  const patterns = readFileSync(file!, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const p of ["**/node_modules", "**/dist", "**/dist-web", ".git"])
    t.ok(patterns.includes(p), `ignores ${p}`);
  for (const needed of [
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    "package.json",
    "packages",
    "tsconfig.base.json",
  ]) {
    t.notOk(patterns.includes(needed) || patterns.includes(`/${needed}`), `keeps ${needed}`);
  }
});
