import { EVENT_TYPES, type EventType } from "@calcbridge/protocol";
import { useEffect, useState } from "preact/hooks";
import { publish, type PublishAnswer } from "./api";
import { exampleRoom, examplePayloadText } from "./examples";
import type { TokenClaims } from "./token";

type Result =
  | { kind: "sent"; answer: PublishAnswer }
  | { kind: "local"; reasons: string[] }
  | { kind: "failed"; reason: string };

interface Props {
  token: string;
  claims: TokenClaims | undefined;
  /** Subscribed rooms: the form offers them first. */
  rooms: readonly string[];
  canPublish: boolean;
}

/** The room kind an event type usually goes to. */
const kindOf = (type: EventType) =>
  type.startsWith("job.")
    ? "job:"
    : type.startsWith("workbook.") || type.startsWith("sheet.")
      ? "workbook:"
      : "notifications:";

/**
 * Publishes a test event through `POST /v1/publish` with the user's token,
 * showing the API's answer as is (its 400 reasons included).
 */
export function PublishForm({ token, claims, rooms, canPublish }: Props) {
  const identity = { sub: claims?.sub ?? "user", tenant: claims?.tenant_id ?? "tenant" };
  const [type, setType] = useState<EventType>("job.progress");
  const [room, setRoom] = useState(() => exampleRoom("job.progress", identity));
  const [tenant, setTenant] = useState(claims?.tenant_id ?? "");
  const [payload, setPayload] = useState(() => examplePayloadText("job.progress"));
  const [result, setResult] = useState<Result | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (claims?.tenant_id !== undefined) setTenant(claims.tenant_id);
  }, [claims?.tenant_id]);

  const chooseType = (next: EventType) => {
    setType(next);
    setPayload(examplePayloadText(next));
    setRoom(rooms.find((r) => r.startsWith(kindOf(next))) ?? exampleRoom(next, identity));
    setResult(undefined);
  };

  const submit = async () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch (err) {
      setResult({ kind: "local", reasons: [`payload is not JSON: ${(err as Error).message}`] });
      return;
    }
    const event: Record<string, unknown> = { room: room.trim(), type, payload: parsed };
    if (tenant.trim() !== "") event["tenant_id"] = tenant.trim();
    setBusy(true);
    try {
      setResult({ kind: "sent", answer: await publish(token, event) });
    } catch (err) {
      setResult({ kind: "failed", reason: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card publish">
      <h2>Publish a test event</h2>
      <p class="muted small">
        Sent with your token to <code>POST /v1/publish</code> (needs the <code>rt:publish</code>{" "}
        scope).
        {!canPublish && token !== "" && <span class="warn"> This token lacks it.</span>}
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <div class="row">
          <label>
            Type
            <select
              data-testid="publish-type"
              value={type}
              onChange={(e) => chooseType(e.currentTarget.value as EventType)}
            >
              {EVENT_TYPES.map((t) => (
                <option value={t}>{t}</option>
              ))}
            </select>
          </label>
          <label class="grow">
            Room
            <input
              data-testid="publish-room"
              list="publish-rooms"
              value={room}
              onInput={(e) => setRoom(e.currentTarget.value)}
            />
            <datalist id="publish-rooms">
              {rooms.map((r) => (
                <option value={r} />
              ))}
            </datalist>
          </label>
          <label>
            tenant_id
            <input
              data-testid="publish-tenant"
              value={tenant}
              size={10}
              onInput={(e) => setTenant(e.currentTarget.value)}
            />
          </label>
        </div>
        <label>
          Payload
          <textarea
            data-testid="publish-payload"
            class="mono"
            rows={8}
            spellcheck={false}
            value={payload}
            onInput={(e) => setPayload(e.currentTarget.value)}
          />
        </label>
        <div class="row">
          <button
            data-testid="publish"
            class="primary"
            type="submit"
            disabled={busy || token === ""}
          >
            Publish
          </button>
          <button type="button" onClick={() => setPayload(examplePayloadText(type))}>
            Reset example
          </button>
        </div>
      </form>
      <PublishResult result={result} />
    </section>
  );
}

function PublishResult({ result }: { result: Result | undefined }) {
  if (result === undefined) return null;
  if (result.kind === "failed")
    return (
      <div class="result error" data-testid="publish-result" data-status="0">
        Request failed: {result.reason}
      </div>
    );
  const answer = result.kind === "sent" ? result.answer : undefined;
  const reasons = result.kind === "local" ? result.reasons : result.answer.reasons;
  const ok = answer !== undefined && answer.status >= 200 && answer.status < 300;
  return (
    <div
      class={`result ${ok ? "ok" : "error"}`}
      data-testid="publish-result"
      data-status={answer?.status ?? 0}
    >
      {answer === undefined ? (
        <b>Not sent</b>
      ) : ok ? (
        <b>
          {answer.status} accepted {answer.accepted ?? 0}
        </b>
      ) : (
        <b>{answer.status} refused</b>
      )}
      {reasons.length > 0 && (
        <ul>
          {reasons.map((r) => (
            <li>{r}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
