import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { ENV_TABLE } from "../../src/config.js";

// The README's configuration table is the operators' reference: it must list
// every variable the edge reads, with the same default.
const readme = readFileSync(
  fileURLToPath(new URL("../../../../../README.md", import.meta.url)),
  "utf8",
);
const rows = new Map<string, string>();
for (const line of readme.split("\n")) {
  const m = /^\|\s*`([A-Z_]+)`\s*\|\s*([^|]*?)\s*\|/.exec(line);
  if (m) rows.set(m[1]!, m[2]!.trim().replace(/^`|`$/g, ""));
}

t.test("every environment variable is in the README with its default", async (t) => {
  t.ok(ENV_TABLE.length > 20, "the table is not empty");
  for (const v of ENV_TABLE) {
    t.ok(rows.has(v.name), `${v.name} is documented`);
    t.equal(rows.get(v.name) ?? "", v.default ?? "", `${v.name} default`);
  }
  for (const name of rows.keys()) {
    t.ok(
      ENV_TABLE.some((v) => v.name === name),
      `${name} in the README exists in the code`,
    );
  }
});

t.test("the README's test command is the one CI runs", async (t) => {
  const ci = readFileSync(
    fileURLToPath(new URL("../../../../../.ci/run", import.meta.url)),
    "utf8",
  );
  const command = /bash -c '([^']+)'/.exec(ci)?.[1];
  t.ok(command, ".ci/run runs a command");
  t.ok(readme.includes(`npm i -g pnpm@10 && ${command!}`), `README shows: ${command}`);
});
