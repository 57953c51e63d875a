export { ProtocolError, DecodeError, EncodeError, ValidationError } from "./errors.js";
export {
  ENGINE_PROTOCOL_VERSION,
  RECORD_SEPARATOR,
  DEFAULT_MAX_POLLING_PACKETS,
  encodeEnginePacket,
  decodeEnginePacket,
  encodeOpenPacket,
  encodePollingPayload,
  decodePollingPayload,
} from "./engineio.js";
export {
  SocketPacketType,
  SOCKET_PROTOCOL_VERSION,
  DEFAULT_MAX_ATTACHMENTS,
  DEFAULT_MAX_DEPTH,
  encodeSocketPacket,
  encodeFrames,
  connectReplyText,
  SocketDecoder,
  decodeSocketPacket,
  hasBinary,
} from "./socketio.js";
export { CloseCode, isCloseCode, closeReason } from "./close-codes.js";
export { MAX_ID_LENGTH, parseRoom, formatRoom, isRoomName, roomProblems } from "./rooms.js";
export { PUBLISH_SCOPE, parseClaims, hasScope, authorizeRoom } from "./claims.js";
export {
  DEFAULT_SUBJECT_PREFIX,
  escapeToken,
  unescapeToken,
  subjectFor,
  subjectWildcard,
  parseSubject,
} from "./tenancy.js";
export {
  EVENT_TYPES,
  ALERT_PRIORITIES,
  isEventType,
  validatePayload,
  isIsoUtcTimestamp,
} from "./events.js";
export {
  MAX_PAYLOAD_BYTES,
  MAX_CLIENT_MESSAGE_BYTES,
  validatePublish,
  encodeEnvelope,
  encodeControl,
  decodeClientMessage,
  socketIoEventFrame,
} from "./envelope.js";
export {
  broadcastSubject,
  requestSubject,
  heartbeatSubject,
  liveSubject,
  liveSubjectWildcard,
  packFrames,
  unpackFrames,
  encodeJsonBody,
  decodeJsonBody,
} from "./cluster.js";
export {
  BUS_VERSION,
  MAX_BUS_HEADER_BYTES,
  encodeBusMessage,
  decodeBusMessage,
  encodeEventMessage,
} from "./bus.js";

export type {
  EnginePacket,
  EnginePacketType,
  EngineHandshake,
  PollingDecodeOptions,
} from "./engineio.js";
export type {
  SocketPacket,
  SocketPacketTypeId,
  EncodedFrames,
  SocketDecoderOptions,
} from "./socketio.js";
export type { CloseCodeValue } from "./close-codes.js";
export type { Room, RoomKind } from "./rooms.js";
export type { Claims, Authorization } from "./claims.js";
export type { EventType, EventPayloads, AlertPriority } from "./events.js";
export type {
  Envelope,
  PublishRequest,
  RoomEvent,
  ControlMessage,
  ClientMessage,
} from "./envelope.js";
export type { BusHeader } from "./bus.js";
export type { FrameLayout } from "./cluster.js";
export type {
  Bus,
  BusHandler,
  BusMessageMeta,
  BusSubscription,
  BusStatus,
  History,
  HistoryEvent,
  HistoryRead,
  SessionStore,
  StoredSession,
} from "./contracts.js";
export type { ConnectionCount, NodeStats, ConsoleOverview, ConsoleInfo } from "./console-api.js";
