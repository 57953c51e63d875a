import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The workspace root: the nearest directory above this file with `pnpm-workspace.yaml`. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error("repoRoot: no pnpm-workspace.yaml above " + import.meta.url);
    dir = parent;
  }
}

/** A path under the workspace root. */
export function fromRoot(...segments: string[]): string {
  return join(repoRoot(), ...segments);
}

/** The directory of this package (where its node_modules resolve from). */
export function packageDir(): string {
  return fromRoot("packages", "deploy-tests");
}
