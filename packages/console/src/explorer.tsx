import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  connectRaw,
  connectSocketIo,
  type Connection,
  type ConnectionState,
  type LogEntry,
  type Protocol,
  type RawEndpoint,
  type ReceivedEvent,
  type SioTransport,
} from "./connection";
import { EventList } from "./event-list";
import { PublishForm } from "./publish-form";
import { canPublish, decodeClaims, storeToken } from "./token";

/** Rows kept in the event list and the log; older ones fall off. */
const MAX_EVENTS = 500;
const MAX_LOG = 200;
/** How long arriving events are gathered before the list re-renders. */
const FLUSH_MS = 50;

const RAW_ENDPOINTS: readonly RawEndpoint[] = [
  "/ws",
  "/ws/notifications",
  "/ws/jobs/{id}",
  "/ws/workbooks/{id}",
];

/** The room an endpoint subscribes on connect, if any. */
function autoRoom(
  endpoint: RawEndpoint,
  id: string,
  claims: { sub?: string; tenant_id?: string } | undefined,
): string | undefined {
  switch (endpoint) {
    case "/ws":
      return undefined;
    case "/ws/notifications":
      return `notifications:${claims?.sub ?? "?"}`;
    case "/ws/jobs/{id}":
      return `job:${id}`;
    case "/ws/workbooks/{id}":
      return `workbook:${claims?.tenant_id ?? "?"}:${id}`;
  }
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/**
 * The quick start: connect with a token over Socket.IO or the raw API,
 * subscribe to rooms, watch events arrive, publish test events.
 */
export function Explorer({ initialToken }: { initialToken: string }) {
  const [token, setToken] = useState(initialToken);
  const claims = useMemo(() => decodeClaims(token), [token]);
  const [protocol, setProtocol] = useState<Protocol>("socket.io");
  const [transport, setTransport] = useState<SioTransport>("websocket");
  const [endpoint, setEndpoint] = useState<RawEndpoint>("/ws");
  const [endpointId, setEndpointId] = useState("job_1");
  const [state, setState] = useState<ConnectionState>("disconnected");
  const conn = useRef<Connection | undefined>(undefined);
  const [rooms, setRooms] = useState<string[]>([]);
  const [roomInput, setRoomInput] = useState("");
  const [roomError, setRoomError] = useState<string | undefined>(undefined);
  const [events, setEvents] = useState<ReceivedEvent[]>([]);
  const [log, setLog] = useState<LogEntry[]>([]);
  const paused = useRef(false);
  const [isPaused, setPaused] = useState(false);
  // Events are rendered in batches: a busy room must not re-render the list per event.
  const pending = useRef<ReceivedEvent[]>([]);
  const flush = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(
    () => () => {
      conn.current?.close();
      clearTimeout(flush.current);
    },
    [],
  );

  const suggestions = useMemo(() => {
    const tenant = claims?.tenant_id ?? "tenant";
    const sub = claims?.sub ?? "user";
    return [`job:job_1`, `workbook:${tenant}:wb_1`, `notifications:${sub}`];
  }, [claims]);

  const connect = () => {
    conn.current?.close();
    setRooms([]);
    setRoomError(undefined);
    const handlers = {
      event: (e: ReceivedEvent) => {
        if (paused.current) return;
        pending.current.push(e);
        if (pending.current.length > MAX_EVENTS) pending.current.splice(0, MAX_EVENTS / 2);
        flush.current ??= setTimeout(() => {
          flush.current = undefined;
          const batch = pending.current.reverse();
          pending.current = [];
          setEvents((list) => [...batch, ...list].slice(0, MAX_EVENTS));
        }, FLUSH_MS);
      },
      log: (entry: LogEntry) => setLog((list) => [entry, ...list].slice(0, MAX_LOG)),
      state: (s: ConnectionState) => {
        setState(s);
        if (s === "disconnected") setRooms([]);
      },
    };
    if (protocol === "socket.io") {
      conn.current = connectSocketIo(token.trim(), transport, handlers);
    } else {
      const path = endpoint.replace("{id}", encodeURIComponent(endpointId));
      conn.current = connectRaw(path, token.trim(), handlers);
      const auto = autoRoom(endpoint, endpointId, claims);
      if (auto !== undefined) setRooms([auto]);
    }
  };

  const disconnect = () => {
    conn.current?.close();
    conn.current = undefined;
  };

  const subscribe = async (name: string) => {
    const room = name.trim();
    if (room === "" || conn.current === undefined) return;
    const result = await conn.current.subscribe(room);
    if (result.ok) {
      setRoomError(undefined);
      setRooms((list) => (list.includes(result.room) ? list : [...list, result.room]));
      setRoomInput("");
    } else {
      setRoomError(`${result.code === undefined ? "" : `${result.code}: `}${result.reason}`);
    }
  };

  const unsubscribe = async (room: string) => {
    const result = await conn.current?.unsubscribe(room);
    if (result?.ok) setRooms((list) => list.filter((r) => r !== room));
    else if (result) setRoomError(result.reason);
  };

  const connected = state === "connected";
  const expires = claims?.exp === undefined ? undefined : claims.exp * 1000 - Date.now();

  return (
    <div class="explorer">
      <section class="card connect">
        <h2>Connect</h2>
        <label>
          Token (JWT)
          <textarea
            id="token"
            data-testid="token"
            rows={3}
            spellcheck={false}
            placeholder="Paste a JWT (the dev token `pnpm start` printed)"
            value={token}
            onInput={(e) => {
              const value = e.currentTarget.value;
              setToken(value);
              storeToken(value.trim());
            }}
          />
        </label>
        <div class="claims" data-testid="claims">
          {token.trim() === "" ? (
            <span class="muted">no token</span>
          ) : claims === undefined ? (
            <span class="bad">not a JWT</span>
          ) : (
            <>
              <span>
                sub <b>{claims.sub ?? "?"}</b>
              </span>
              <span>
                tenant <b>{claims.tenant_id ?? "?"}</b>
              </span>
              <span>
                scope <b>{claims.scope ?? "none"}</b>
              </span>
              {expires !== undefined && (
                <span class={expires <= 0 ? "bad" : ""}>
                  {expires <= 0 ? "expired" : `expires in ${Math.round(expires / 60000)} min`}
                </span>
              )}
            </>
          )}
        </div>
        <div class="row">
          <label>
            Protocol
            <select
              data-testid="protocol"
              value={protocol}
              disabled={state !== "disconnected"}
              onChange={(e) => setProtocol(e.currentTarget.value as Protocol)}
            >
              <option value="socket.io">Socket.IO (socket.io-client)</option>
              <option value="raw">Raw WebSocket API</option>
            </select>
          </label>
          {protocol === "socket.io" ? (
            <label>
              Transport
              <select
                data-testid="transport"
                value={transport}
                disabled={state !== "disconnected"}
                onChange={(e) => setTransport(e.currentTarget.value as SioTransport)}
              >
                <option value="websocket">WebSocket</option>
                <option value="polling">long-polling</option>
                <option value="default">polling, then upgrade</option>
              </select>
            </label>
          ) : (
            <>
              <label>
                Endpoint
                <select
                  data-testid="endpoint"
                  value={endpoint}
                  disabled={state !== "disconnected"}
                  onChange={(e) => setEndpoint(e.currentTarget.value as RawEndpoint)}
                >
                  {RAW_ENDPOINTS.map((ep) => (
                    <option value={ep}>{ep}</option>
                  ))}
                </select>
              </label>
              {endpoint.includes("{id}") && (
                <label>
                  id
                  <input
                    data-testid="endpoint-id"
                    value={endpointId}
                    disabled={state !== "disconnected"}
                    onInput={(e) => setEndpointId(e.currentTarget.value)}
                  />
                </label>
              )}
            </>
          )}
        </div>
        <div class="row">
          {state === "disconnected" ? (
            <button
              data-testid="connect"
              class="primary"
              disabled={token.trim() === ""}
              onClick={connect}
            >
              Connect
            </button>
          ) : (
            <button data-testid="disconnect" onClick={disconnect}>
              Disconnect
            </button>
          )}
          <span class={`state ${state}`} data-testid="state">
            {state}
          </span>
        </div>

        <h3>Rooms</h3>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void subscribe(roomInput);
          }}
        >
          <input
            data-testid="room"
            list="room-suggestions"
            placeholder="job:job_1"
            value={roomInput}
            onInput={(e) => setRoomInput(e.currentTarget.value)}
          />
          <datalist id="room-suggestions">
            {suggestions.map((s) => (
              <option value={s} />
            ))}
          </datalist>
          <button data-testid="subscribe" type="submit" disabled={!connected}>
            Subscribe
          </button>
        </form>
        <div class="chips">
          {suggestions
            .filter((s) => !rooms.includes(s))
            .map((s) => (
              <button
                class="chip ghost"
                disabled={!connected}
                title={`subscribe to ${s}`}
                onClick={() => void subscribe(s)}
              >
                + {s}
              </button>
            ))}
        </div>
        {roomError !== undefined && (
          <div class="error" data-testid="room-error">
            {roomError}
          </div>
        )}
        <ul class="rooms" data-testid="rooms">
          {rooms.map((room) => (
            <li data-room={room}>
              <code>{room}</code>
              <button class="link" title="unsubscribe" onClick={() => void unsubscribe(room)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      </section>

      <PublishForm
        token={token.trim()}
        claims={claims}
        rooms={rooms}
        canPublish={canPublish(claims)}
      />

      <section class="card events">
        <div class="card-head">
          <h2>
            Events <span class="count">{events.length}</span>
          </h2>
          <div class="row">
            <button
              onClick={() => {
                paused.current = !paused.current;
                setPaused(paused.current);
              }}
            >
              {isPaused ? "Resume" : "Pause"}
            </button>
            <button onClick={() => setEvents([])}>Clear</button>
          </div>
        </div>
        <EventList events={events} />
        <h3>Connection log</h3>
        <ol class="log" data-testid="log">
          {log.map((entry) => (
            <li class={entry.level}>
              <span class="muted">{time(entry.at)}</span> {entry.text}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}
