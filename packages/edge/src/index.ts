export { Server } from "./socketio/server.js";
export { Namespace } from "./socketio/namespace.js";
export { Socket } from "./socketio/socket.js";
export { BroadcastOperator } from "./socketio/broadcast-operator.js";
export { Adapter } from "./socketio/adapter.js";
export { parseServerOptions, DEFAULT_SERVER_OPTIONS } from "./socketio/options.js";
export { EdgeError, NativeUwsError, LimitError, AckTimeoutError } from "./errors.js";
export { isNativeUws, loadUws } from "./uws.js";

export type { ServerOptions } from "./socketio/options.js";
export type { ServerInit } from "./socketio/server.js";
export type { Middleware, MiddlewareError } from "./socketio/namespace.js";
export type { Handshake, DisconnectReason } from "./socketio/socket.js";
export type { BroadcastOptions, Member, AdapterHooks } from "./socketio/adapter.js";
export type { CorsOptions } from "./engine/options.js";
