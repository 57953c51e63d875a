import {
  CloseCode,
  authorizeRoom,
  formatRoom,
  parseRoom,
  parseSubject,
  subjectFor,
  type Claims,
  type Room,
} from "@calcbridge/protocol";
import { AuthError } from "../auth/errors.js";
import type { TokenVerifier, VerifiedToken } from "../auth/verifier.js";
import type { MiddlewareError, Namespace } from "../socketio/namespace.js";
import type { Socket } from "../socketio/socket.js";
import { TokenLease, tokenOf } from "./credentials.js";
import type { ApiObserver } from "./observer.js";

/** What the `subscribe`/`unsubscribe`/`refresh` acks carry. */
export type ApiAck =
  { ok: true; room?: string; expires_at?: string } | { ok: false; code?: number; reason: string };

/**
 * `socket.data.claims` is the application's to read; the lease (which holds
 * the claims too) stays ours, and off the bus: it is the socket's attachment.
 */
type ApiSocketData = TokenLease<Socket>;

function leaseOf(socket: Socket): ApiSocketData | undefined {
  return socket.attachment instanceof TokenLease ? (socket.attachment as ApiSocketData) : undefined;
}

/** Socket.IO clients of the CalcBridge API on the main namespace. */
export class SocketIoApi {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly options: {
      maxSubscriptions: number;
      subjectPrefix?: string;
      /** Settles when the node's bus holds the subject (the ack then promises every later event). */
      ready?: (subject: string) => Promise<void>;
    },
    private readonly observer?: ApiObserver,
  ) {}

  /** Every lease's expiry handler: one function, not a closure per socket. */
  private readonly expire = (socket: Socket): void => {
    if (!socket.connected) return;
    socket.emit("error", { type: "error", code: CloseCode.INVALID_TOKEN, reason: "token expired" });
    socket.disconnect();
  };

  attach(nsp: Namespace): void {
    nsp.use((socket, next) => this.authenticate(socket, next));
    this.handle(nsp);
  }

  /** `auth: { token }` in CONNECT (or the handshake's query/Authorization header). */
  private authenticate(socket: Socket, next: (err?: MiddlewareError) => void): void {
    const fromAuth = socket.authField("token");
    const token =
      typeof fromAuth === "string" && fromAuth !== ""
        ? fromAuth
        : tokenOf(socket.request.query, socket.request.headers);
    const refuse = (reason: string, code = "ERR_TOKEN_MISSING") => {
      this.observer?.authFailed(CloseCode.INVALID_TOKEN, code);
      const err = new Error(reason) as MiddlewareError;
      err.data = { code: CloseCode.INVALID_TOKEN, reason };
      next(err);
    };
    if (token === undefined) {
      refuse("a token is required (auth: { token })");
      return;
    }
    const accept = (v: VerifiedToken) => {
      // Inside the verifier's clock tolerance a token may be past its exp;
      // the lease would end the socket at once: refuse it in CONNECT_ERROR.
      if (v.expiresAt <= Date.now()) {
        refuse("token has expired", "ERR_TOKEN_EXPIRED");
        return;
      }
      this.admit(socket, v.claims, v.expiresAt);
      next();
    };
    const now = this.verifier.verifyNow?.(token);
    if (now !== undefined) {
      accept(now);
      return;
    }
    this.verifier
      .verify(token)
      .then(accept, (err: unknown) =>
        err instanceof AuthError
          ? refuse(err.message, err.code)
          : refuse("token could not be verified", "ERR_TOKEN_INVALID"),
      );
  }

  /** Outside `authenticate`: what the lease keeps must not hold that scope alive. */
  private admit(socket: Socket, claims: Claims, expiresAt: number): void {
    socket.attachment = new TokenLease(claims, expiresAt, this.expire, socket);
    socket.data["claims"] = claims;
    // A verified bearer token is not kept: its claims are in socket.data, and
    // handshake.auth travels to other nodes in fetchSockets.
    socket.forgetAuthField("token");
  }

  /**
   * The API's events, handled once per namespace rather than with listeners
   * on every socket: per-connection closures are most of an idle socket's
   * memory.
   */
  private handle(nsp: Namespace): void {
    nsp.handle("subscribe", (socket, [room, ack]) => {
      const api = leaseOf(socket);
      if (api === undefined) return;
      const result = this.subscribe(socket, api, room);
      const ready =
        result.ok && result.subject !== undefined
          ? this.options.ready?.(result.subject)
          : undefined;
      const { subject: _subject, ...answer } = result as ApiAck & { subject?: string };
      if (ready === undefined) reply(ack, answer);
      else void ready.then(() => reply(ack, answer));
    });
    nsp.handle("unsubscribe", (socket, [room, ack]) => {
      const api = leaseOf(socket);
      if (api !== undefined) reply(ack, this.unsubscribe(socket, api, room));
    });
    nsp.handle("refresh", (socket, [token, ack]) => {
      const api = leaseOf(socket);
      if (api === undefined) return;
      if (typeof token !== "string" || token === "") {
        reply(ack, {
          ok: false,
          code: CloseCode.INVALID_TOKEN,
          reason: "refresh takes a token string",
        });
        return;
      }
      api.refresh(this.verifier, token).then(
        (v) => {
          socket.data["claims"] = v.claims;
          reply(ack, { ok: true, expires_at: new Date(v.expiresAt).toISOString() });
        },
        (err: unknown) =>
          reply(ack, {
            ok: false,
            code: CloseCode.INVALID_TOKEN,
            reason: err instanceof AuthError ? err.message : "token could not be verified",
          }),
      );
    });
    nsp.onSocketClose((socket) => leaseOf(socket)?.clear());
  }

  private resolve(
    api: ApiSocketData,
    name: unknown,
  ): { room: Room; name: string } | { error: ApiAck } {
    if (typeof name !== "string") return { error: { ok: false, reason: "room must be a string" } };
    try {
      const room = parseRoom(name);
      return { room, name: formatRoom(room) };
    } catch (err) {
      return { error: { ok: false, reason: err instanceof Error ? err.message : "invalid room" } };
    }
  }

  private subscribe(
    socket: Socket,
    api: ApiSocketData,
    name: unknown,
  ): ApiAck & { subject?: string } {
    const r = this.resolve(api, name);
    if ("error" in r) return r.error;
    const auth = authorizeRoom(api.claims, r.room);
    if (!auth.ok) return { ok: false, code: auth.code, reason: auth.reason };
    const subject = subjectFor(auth.tenantId, auth.room, this.options.subjectPrefix);
    if (!socket.rooms.has(subject) && this.apiRooms(socket) >= this.options.maxSubscriptions) {
      return {
        ok: false,
        reason: `a connection may subscribe at most ${this.options.maxSubscriptions} rooms`,
      };
    }
    socket.join(subject);
    return { ok: true, room: r.name, subject };
  }

  private unsubscribe(socket: Socket, api: ApiSocketData, name: unknown): ApiAck {
    const r = this.resolve(api, name);
    if ("error" in r) return r.error;
    const auth = authorizeRoom(api.claims, r.room);
    if (!auth.ok) return { ok: false, code: auth.code, reason: auth.reason };
    const subject = subjectFor(auth.tenantId, auth.room, this.options.subjectPrefix);
    if (!socket.rooms.has(subject)) return { ok: false, reason: `not subscribed to ${r.name}` };
    socket.leave(subject);
    return { ok: true, room: r.name };
  }

  private apiRooms(socket: Socket): number {
    let n = 0;
    for (const room of socket.rooms)
      if (parseSubject(room, this.options.subjectPrefix) !== null) n++;
    return n;
  }
}

function reply(ack: unknown, value: ApiAck): void {
  if (typeof ack === "function") (ack as (v: ApiAck) => void)(value);
}
