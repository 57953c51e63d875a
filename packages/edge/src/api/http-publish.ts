import { PUBLISH_SCOPE, hasScope } from "@calcbridge/protocol";
import { AuthError } from "../auth/errors.js";
import type { TokenVerifier } from "../auth/verifier.js";
import { readBody, sendJson } from "../http/body.js";
import type { Uws } from "../uws.js";
import type { ApiObserver } from "./observer.js";
import { BusUnavailableError, PublishValidationError, type Publisher } from "./publisher.js";

/** Largest body `POST /v1/publish` reads. */
export const MAX_PUBLISH_BODY_BYTES = 1024 * 1024;

/** A publish token whose tenant_id is this may publish for every tenant. */
export const ANY_TENANT = "*";

/**
 * `POST /v1/publish`: one event or `{"events":[...]}`, authenticated by a
 * token with the `rt:publish` scope. 202 with what was accepted; 400 with the
 * reasons (nothing published); 401/403; 413; 503 when the bus is down.
 */
export function attachHttpPublish(
  app: Uws.TemplatedApp,
  verifier: TokenVerifier,
  publisher: Publisher,
  observer?: ApiObserver,
): void {
  app.post("/v1/publish", (res, req) => {
    // Copy request data now: req is only valid in this callback.
    const authorization = req.getHeader("authorization");
    const contentType = req.getHeader("content-type");
    readBody(res, MAX_PUBLISH_BODY_BYTES, (result) => {
      if (!result.ok) {
        sendJson(res, "413 Payload Too Large", {
          error: "payload_too_large",
          reasons: [`the body must be at most ${MAX_PUBLISH_BODY_BYTES} bytes`],
        });
        return;
      }
      const token = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
      if (token === undefined) {
        sendJson(res, "401 Unauthorized", {
          error: "unauthorized",
          reasons: ["Authorization: Bearer <token> is required"],
        });
        return;
      }
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      verifier.verify(token).then(
        (verified) => {
          if (aborted) return;
          if (!hasScope(verified.claims, PUBLISH_SCOPE)) {
            sendJson(res, "403 Forbidden", {
              error: "forbidden",
              reasons: [`the token needs the "${PUBLISH_SCOPE}" scope`],
            });
            return;
          }
          if (contentType !== "" && !/^application\/json[ \t]*(;|$)/i.test(contentType)) {
            sendJson(res, "415 Unsupported Media Type", {
              error: "unsupported_media_type",
              reasons: ["the body must be application/json"],
            });
            return;
          }
          let body: unknown;
          try {
            body = JSON.parse(result.body.toString("utf8"));
          } catch {
            sendJson(res, "400 Bad Request", {
              error: "invalid_request",
              reasons: ["the body must be JSON"],
            });
            return;
          }
          const tenant = verified.claims.tenant_id;
          try {
            const events = publisher.publish(body, (t) => tenant === ANY_TENANT || t === tenant);
            observer?.published("http", events.length);
            sendJson(res, "202 Accepted", { accepted: events.length, events });
          } catch (err) {
            if (err instanceof PublishValidationError) {
              sendJson(res, "400 Bad Request", { error: "invalid_request", reasons: err.reasons });
            } else if (err instanceof BusUnavailableError) {
              sendJson(res, "503 Service Unavailable", {
                error: "bus_unavailable",
                reasons: [err.message],
              });
            } else {
              sendJson(res, "500 Internal Server Error", {
                error: "internal",
                reasons: ["publish failed"],
              });
            }
          }
        },
        (err: unknown) => {
          observer?.authFailed(4001, err instanceof AuthError ? err.code : "ERR_TOKEN_INVALID");
          if (aborted) return;
          sendJson(res, "401 Unauthorized", {
            error: "unauthorized",
            reasons: [err instanceof AuthError ? err.message : "token could not be verified"],
          });
        },
      );
    });
  });
}
