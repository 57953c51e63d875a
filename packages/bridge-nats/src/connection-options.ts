import { readFileSync } from "node:fs";
import {
  credsAuthenticator,
  nkeyAuthenticator,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import type { ResolvedNatsBusOptions } from "./options.js";

/**
 * nats.js options for one connection attempt of a `NatsBus`. A fresh object
 * each call: nats.js writes into the options it is given.
 *
 * `waitOnFirstConnect` stays off on purpose: the bus runs its own loop until
 * the first connection (so that `close()` can stop it and `start()` can
 * return at once); from then on nats.js reconnects by itself.
 */
export function toConnectionOptions(options: ResolvedNatsBusOptions): NodeConnectionOptions {
  const encoder = new TextEncoder();
  const { credsFile, nkeySeed, tls } = options;
  return {
    servers: [...options.servers],
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.user === undefined ? {} : { user: options.user, pass: options.password ?? "" }),
    ...(nkeySeed === undefined
      ? {}
      : { authenticator: nkeyAuthenticator(encoder.encode(nkeySeed)) }),
    // Read on every connection, so that a rotated creds file is picked up on reconnect.
    ...(credsFile === undefined
      ? {}
      : { authenticator: credsAuthenticator(() => readFileSync(credsFile)) }),
    ...(tls === undefined
      ? {}
      : {
          tls: {
            ...(tls.ca === undefined ? {} : { caFile: tls.ca }),
            ...(tls.cert === undefined ? {} : { certFile: tls.cert }),
            ...(tls.key === undefined ? {} : { keyFile: tls.key }),
          },
        }),
    reconnect: true,
    waitOnFirstConnect: false,
    maxReconnectAttempts: options.maxReconnectAttempts,
    reconnectTimeWait: options.reconnectTimeWaitMs,
    reconnectJitter: options.reconnectJitterMs,
    reconnectJitterTLS: options.reconnectJitterMs,
    pingInterval: options.pingIntervalMs,
    timeout: options.connectTimeoutMs,
    noRandomize: options.noRandomize,
    // An auth error is retried like any other failure, within maxReconnectAttempts:
    // credentials fixed on the server side then heal the node without a restart.
    ignoreAuthErrorAbort: true,
  };
}
