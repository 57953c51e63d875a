import { Fragment } from "preact";
import { useState } from "preact/hooks";
import type { ReceivedEvent } from "./connection";

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** Newest first; a click shows the whole payload. */
export function EventList({ events }: { events: readonly ReceivedEvent[] }) {
  const [open, setOpen] = useState<number | undefined>(undefined);
  if (events.length === 0) {
    return (
      <p class="empty muted" data-testid="no-events">
        No events yet: subscribe to a room, then publish one.
      </p>
    );
  }
  return (
    <div class="table-wrap">
      <table class="event-table" data-testid="events">
        <thead>
          <tr>
            <th>received</th>
            <th>via</th>
            <th>type</th>
            <th>room</th>
            <th>offset</th>
            <th title="arrival - timestamp (publisher's clock vs this browser's)">latency</th>
            <th>payload</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <Fragment key={e.seq}>
              <tr
                data-testid="event-row"
                class={open === e.seq ? "open" : ""}
                onClick={() => setOpen(open === e.seq ? undefined : e.seq)}
              >
                <td class="mono muted">{time(e.receivedAt)}</td>
                <td>
                  <span class={`via ${e.via === "raw" ? "raw" : "sio"}`}>{e.via}</span>
                </td>
                <td class="type" data-field="type">
                  <span class={`badge t-${e.type.split(".")[0]}`}>{e.type}</span>
                </td>
                <td class="room mono" data-field="room">
                  {e.room ?? ""}
                </td>
                <td class="mono" data-field="offset">
                  {e.offset ?? ""}
                </td>
                <td class="mono num" data-field="latency">
                  {e.latencyMs === undefined ? "" : `${e.latencyMs} ms`}
                </td>
                <td class="payload mono" data-field="payload">
                  {JSON.stringify(e.payload)}
                </td>
              </tr>
              {open === e.seq && (
                <tr class="detail">
                  <td colSpan={7}>
                    <pre>
                      {JSON.stringify(
                        {
                          type: e.type,
                          room: e.room,
                          offset: e.offset,
                          timestamp: e.timestamp,
                          payload: e.payload,
                        },
                        null,
                        2,
                      )}
                    </pre>
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </tbody>
      </table>
    </div>
  );
}
