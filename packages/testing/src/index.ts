export { DEFAULT_NATS_ROUTES_TIMEOUT_MS, DEFAULT_NATS_START_TIMEOUT_MS } from "./nats-server.js";
export { findNatsServer, startNats, startNatsCluster } from "./nats-server.js";
export { monitorJson, routeCount, subjectMatches, subscriptionCount } from "./monitor.js";
export { freePort, freePorts } from "./ports.js";
export { DEFAULT_KILL_GRACE_MS, ProcessTracker, processes, waitForExit } from "./processes.js";
export { DEFAULT_TEST_CLAIMS, TEST_SECRET, makeRawUnsignedToken, makeToken } from "./tokens.js";
export { delay, once, waitFor } from "./wait.js";

export type { NatsClusterHandle, NatsServerHandle, StartNatsOptions } from "./nats-server.js";
export type { Teardown } from "./processes.js";
export type { MakeTokenOptions, TokenClaims } from "./tokens.js";
export type { OnceEmitter, WaitForOptions } from "./wait.js";
