/**
 * A Dockerfile read into stages of instructions: line continuations joined,
 * comments and parser directives dropped, `ARG` defaults declared before the
 * first `FROM` substituted into `FROM` lines (as the builder does).
 */
import { readFileSync } from "node:fs";

export interface Instruction {
  /** Upper case: `FROM`, `RUN`, `USER`, ... */
  readonly keyword: string;
  /** The rest of the line, continuations joined. */
  readonly args: string;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

export interface Stage {
  /** The image the stage starts from, ARGs substituted. */
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

export function readDockerfile(path: string): Dockerfile {
  return parseDockerfile(readFileSync(path, "utf8"));
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    if (pending === undefined && /^\s*(#|$)/.test(line)) return;
    // A comment line inside a continued instruction is skipped, as the builder does.
    if (pending !== undefined && /^\s*#/.test(line)) return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, "") : line;
    pending = pending
      ? { ...pending, text: `${pending.text} ${body.trim()}` }
      : { text: body.trim(), line: index + 1 };
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/.exec(pending.text)!;
      instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: pending.line });
      pending = undefined;
    }
  });

  const globalArgs = new Map<string, string>();
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: cannot read FROM ${ins.args}`);
      const from = m[1]!.replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
        const value = globalArgs.get(name);
        if (value === undefined)
          throw new Error(`Dockerfile line ${ins.line}: ARG ${name} has no default`);
        return value;
      });
      stages.push({ from, name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== "ARG")
        throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
      const [name, value] = ins.args.split("=", 2) as [string, string | undefined];
      if (value !== undefined) globalArgs.set(name.trim(), value.trim().replace(/^"(.*)"$/, "$1"));
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

/** The last stage: what `docker build` without `--target` produces. */
export function finalStage(dockerfile: Dockerfile): Stage {
  const stage = dockerfile.stages[dockerfile.stages.length - 1];
  if (stage === undefined) throw new Error("Dockerfile has no FROM");
  return stage;
}

/** Instructions of `keyword` in `stage`. */
export function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** `KEY=value` pairs of the stage's `ENV` instructions (later ones win). */
export function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const ins of instructionsOf(stage, "ENV")) {
    for (const m of ins.args.matchAll(/(\w+)=("([^"]*)"|\S+)/g)) env.set(m[1]!, m[3] ?? m[2]!);
  }
  return env;
}

/** The JSON array of an exec-form instruction (`CMD ["a", "b"]`), or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  const json = args.replace(/^(--\S+\s+)*/, "");
  if (!json.startsWith("[")) return undefined;
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new Error(`not an exec-form array: ${args}`);
  }
  return value;
}
