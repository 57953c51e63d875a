import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";

/** What the figures were measured on. */
export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  /** `git rev-parse --short HEAD`, with `-dirty` when the tree has changes. */
  revision: string;
  nats: string;
  redis: string;
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 5000,
    }).trim();
  } catch {
    return "unknown";
  }
}

export function machineInfo(): MachineInfo {
  const rev = run("git", ["rev-parse", "--short", "HEAD"]);
  const dirty = run("git", ["status", "--porcelain"]) !== "" ? "-dirty" : "";
  const list = cpus();
  return {
    cores: list.length,
    cpuModel: list[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    revision: rev === "unknown" ? rev : rev + dirty,
    nats: run("nats-server", ["--version"]),
    redis: run("redis-server", ["--version"]).split(" ").slice(0, 3).join(" "),
  };
}
