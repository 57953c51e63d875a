import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ConsoleApiError, fetchInfo, fetchOverview } from "./api";
import { Chart } from "./chart";
import { storeConsoleToken, storedConsoleToken } from "./token";
import type { ConsoleInfo, NodeStats, Overview as OverviewData } from "./types";

/** The rolling window the charts show. */
const WINDOW_SEC = 5 * 60;
const INTERVALS = [1000, 2000, 5000] as const;

interface Sample {
  /** Browser clock, seconds. */
  t: number;
  data: OverviewData;
}

/** Per-second rates of one node between two samples. */
interface Rates {
  published: number;
  received: number;
  delivered: number;
}

function ratesOf(prev: NodeStats | undefined, cur: NodeStats): Rates | undefined {
  if (prev === undefined) return undefined;
  const dt = (cur.at - prev.at) / 1000;
  if (dt <= 0) return undefined;
  // A counter that went down means the node restarted: no rate for this step.
  const rate = (a: number, b: number) => (b >= a ? (b - a) / dt : 0);
  return {
    published: rate(prev.totals.published, cur.totals.published),
    received: rate(prev.totals.received, cur.totals.received),
    delivered: rate(prev.totals.framesDelivered, cur.totals.framesDelivered),
  };
}

const nodeIn = (s: Sample | undefined, id: string) => s?.data.nodes.find((n) => n.node === id);

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function transportsOf(n: NodeStats): string {
  return (
    n.connections.byKind
      .filter((k) => k.count > 0)
      .map((k) =>
        k.protocol === "raw"
          ? `raw ${k.endpoint}: ${k.count}`
          : `socket.io ${k.transport}: ${k.count}`,
      )
      .join(", ") || "none"
  );
}

/**
 * The cluster at a glance, polled from `/console/api/overview` while the view
 * is shown: nodes, connections, rooms, event rates over a rolling window,
 * slow consumers, auth failures, the bus.
 */
export function Overview({ active }: { active: boolean }) {
  const [info, setInfo] = useState<ConsoleInfo | undefined>(undefined);
  const [consoleToken, setConsoleToken] = useState(storedConsoleToken);
  const [draftToken, setDraftToken] = useState(consoleToken);
  const [error, setError] = useState<{ status: number; message: string } | undefined>(undefined);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [interval, setIntervalMs] = useState<number>(1000);
  const inFlight = useRef(false);

  useEffect(() => {
    fetchInfo().then(setInfo, () => setInfo({ tokenRequired: false }));
  }, []);

  useEffect(() => {
    if (!active) return;
    const poll = () => {
      if (inFlight.current) return;
      inFlight.current = true;
      fetchOverview(consoleToken).then(
        (data) => {
          inFlight.current = false;
          setError(undefined);
          const t = Date.now() / 1000;
          setSamples((list) => [...list.filter((s) => s.t > t - WINDOW_SEC), { t, data }]);
        },
        (err: unknown) => {
          inFlight.current = false;
          setError(
            err instanceof ConsoleApiError
              ? { status: err.status, message: err.message }
              : { status: 0, message: (err as Error).message },
          );
        },
      );
    };
    poll();
    const timer = setInterval(poll, interval);
    return () => clearInterval(timer);
  }, [active, consoleToken, interval]);

  const latest = samples[samples.length - 1];
  const previous = samples[samples.length - 2];

  const charts = useMemo(() => {
    const ids: string[] = [];
    for (const s of samples)
      for (const n of s.data.nodes) if (!ids.includes(n.node)) ids.push(n.node);
    const x = samples.map((s) => s.t);
    const per = (value: (cur: NodeStats, prev: NodeStats | undefined) => number | undefined) =>
      ids.map((id) => ({
        label: id,
        values: samples.map((s, i) => {
          const cur = nodeIn(s, id);
          return cur === undefined ? null : (value(cur, nodeIn(samples[i - 1], id)) ?? null);
        }),
      }));
    return {
      x,
      connections: per((cur) => cur.connections.total),
      received: per((cur, prev) => ratesOf(prev, cur)?.received),
      delivered: per((cur, prev) => ratesOf(prev, cur)?.delivered),
      published: per((cur, prev) => ratesOf(prev, cur)?.published),
    };
  }, [samples]);

  const needsToken = error?.status === 401 || (info?.tokenRequired === true && consoleToken === "");

  if (latest === undefined) {
    return (
      <div class="overview">
        {needsToken ? (
          <TokenForm
            draft={draftToken}
            setDraft={setDraftToken}
            save={() => {
              storeConsoleToken(draftToken.trim());
              setConsoleToken(draftToken.trim());
            }}
            error={error?.status === 401 ? error.message : undefined}
          />
        ) : error !== undefined ? (
          <div class="card error" data-testid="overview-error">
            {error.status || "network"}: {error.message}
          </div>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </div>
    );
  }

  const nodes = latest.data.nodes;
  const self = nodes.find((n) => n.node === latest.data.node);
  const sum = (f: (n: NodeStats) => number) => nodes.reduce((a, n) => a + f(n), 0);
  const rates = nodes.map((n) => ratesOf(nodeIn(previous, n.node), n));
  const rateSum = (k: keyof Rates) => rates.reduce((a, r) => a + (r?.[k] ?? 0), 0);
  const failures = nodes.flatMap((n) => n.authFailures.map((f) => ({ node: n.node, ...f })));

  return (
    <div class="overview" data-testid="overview" data-samples={samples.length}>
      {error !== undefined && (
        <div class="card error" data-testid="overview-error">
          {error.status || "network"}: {error.message} (showing the last answer)
        </div>
      )}
      <div class="cards">
        <Stat label="Nodes" testId="cluster-nodes" value={nodes.length}>
          {latest.data.missing.length > 0 && (
            <span class="bad">silent: {latest.data.missing.join(", ")}</span>
          )}
        </Stat>
        <Stat
          label="Connections"
          testId="cluster-connections"
          value={sum((n) => n.connections.total)}
        />
        <Stat label="Rooms" testId="cluster-rooms" value={sum((n) => n.rooms)} />
        <Stat label="Events in /s" testId="cluster-in-rate" value={rateSum("received")}>
          <span class="muted">published {fmt(rateSum("published"))}/s</span>
        </Stat>
        <Stat label="Frames out /s" testId="cluster-out-rate" value={rateSum("delivered")} />
        <Stat
          label="Slow-consumer drops"
          testId="cluster-drops"
          value={sum((n) => n.slowConsumers.disconnects + n.slowConsumers.volatileDrops)}
        />
        <Stat
          label="Auth failures"
          testId="cluster-auth-failures"
          value={sum((n) => n.authFailures.reduce((a, f) => a + f.count, 0))}
        />
        <Stat
          label={self?.bus.kind === "nats" ? "NATS" : "Bus"}
          testId="bus-state"
          value={self?.bus.status ?? "?"}
          bad={self !== undefined && !self.bus.connected}
        >
          <span class="muted">
            {self?.bus.kind === "memory"
              ? "embedded, single node"
              : `${self?.bus.reconnects ?? 0} reconnects`}
          </span>
        </Stat>
      </div>

      <div class="card-head">
        <h2>Nodes</h2>
        <label class="inline">
          refresh every{" "}
          <select
            value={interval}
            onChange={(e) => setIntervalMs(Number(e.currentTarget.value))}
            data-testid="interval"
          >
            {INTERVALS.map((ms) => (
              <option value={ms}>{ms / 1000} s</option>
            ))}
          </select>
        </label>
      </div>
      <div class="card table-wrap">
        <table class="nodes" data-testid="nodes">
          <thead>
            <tr>
              <th>node</th>
              <th>ready</th>
              <th>bus</th>
              <th class="num">connections</th>
              <th>by transport</th>
              <th class="num">rooms</th>
              <th class="num">subscriptions</th>
              <th class="num">in /s</th>
              <th class="num">out /s</th>
              <th class="num">slow-consumer drops</th>
              <th class="num">auth failures</th>
              <th class="num">memory</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n, i) => (
              <tr data-testid="node-row" data-node={n.node}>
                <td>
                  <b>{n.node}</b>
                  {n.node === latest.data.node && <span class="muted"> (this)</span>}
                </td>
                <td class={n.ready ? "good" : "bad"}>{n.ready ? "ready" : "not ready"}</td>
                <td class={n.bus.connected ? "good" : "bad"} data-field="bus">
                  {n.bus.kind} {n.bus.status}
                </td>
                <td class="num" data-field="connections">
                  {n.connections.total}
                </td>
                <td class="small" data-field="transports">
                  {transportsOf(n)}
                </td>
                <td class="num" data-field="rooms">
                  {n.rooms}
                </td>
                <td class="num">{n.subscriptions.socketio + n.subscriptions.raw}</td>
                <td class="num" data-field="in-rate">
                  {fmt(rates[i]?.received ?? 0)}
                </td>
                <td class="num" data-field="out-rate">
                  {fmt(rates[i]?.delivered ?? 0)}
                </td>
                <td class="num" data-field="drops">
                  {n.slowConsumers.disconnects + n.slowConsumers.volatileDrops}
                </td>
                <td class="num" data-field="auth-failures">
                  {n.authFailures.reduce((a, f) => a + f.count, 0)}
                </td>
                <td class="num">{bytes(n.process.rssBytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <div class="charts">
        <Chart
          title="Connections"
          unit=""
          testId="chart-connections"
          integer
          x={charts.x}
          series={charts.connections}
        />
        <Chart
          title="Events in /s (from the bus)"
          unit=""
          testId="chart-in"
          x={charts.x}
          series={charts.received}
        />
        <Chart
          title="Frames out /s (to clients)"
          unit=""
          testId="chart-out"
          x={charts.x}
          series={charts.delivered}
        />
        <Chart
          title="Published /s (this node's publishers)"
          unit=""
          testId="chart-published"
          x={charts.x}
          series={charts.published}
        />
      </div>

      <h2>Auth failures by code</h2>
      <div class="card table-wrap">
        {failures.length === 0 ? (
          <p class="muted empty">None since the nodes started.</p>
        ) : (
          <table data-testid="auth-failures">
            <thead>
              <tr>
                <th>node</th>
                <th>close code</th>
                <th>reason</th>
                <th class="num">count</th>
              </tr>
            </thead>
            <tbody>
              {failures.map((f) => (
                <tr>
                  <td>{f.node}</td>
                  <td class="mono">{f.code}</td>
                  <td class="mono">{f.reason}</td>
                  <td class="num">{f.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <p class="muted small">
        Read from each node's Prometheus registry: the same numbers as <code>/metrics</code>. Rates
        are counter differences between polls; the window is the last {WINDOW_SEC / 60} minutes.
      </p>
    </div>
  );
}

function Stat(props: {
  label: string;
  value: string | number;
  testId: string;
  bad?: boolean;
  children?: ComponentChildren;
}) {
  return (
    <div class={`card stat ${props.bad ? "bad" : ""}`}>
      <div class="label">{props.label}</div>
      <div
        class={typeof props.value === "number" ? "value" : "value text"}
        data-testid={props.testId}
      >
        {typeof props.value === "number" ? fmt(props.value) : props.value}
      </div>
      <div class="sub">{props.children}</div>
    </div>
  );
}

function TokenForm(props: {
  draft: string;
  setDraft: (v: string) => void;
  save: () => void;
  error: string | undefined;
}) {
  return (
    <form
      class="card token-form"
      onSubmit={(e) => {
        e.preventDefault();
        props.save();
      }}
    >
      <h2>Console token</h2>
      <p class="muted">
        This node wants its console credential (<code>CONSOLE_TOKEN</code>) for the overview.
      </p>
      <div class="row">
        <input
          type="password"
          data-testid="console-token"
          value={props.draft}
          onInput={(e) => props.setDraft(e.currentTarget.value)}
          autocomplete="off"
        />
        <button class="primary" type="submit" data-testid="console-token-save">
          Use
        </button>
      </div>
      {props.error !== undefined && <div class="error">{props.error}</div>}
    </form>
  );
}
