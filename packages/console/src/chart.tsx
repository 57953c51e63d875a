import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

/** Series colours, one per node in order. */
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777"];

interface Props {
  title: string;
  /** Unit shown on the y axis values. */
  unit: string;
  /** Seconds since the epoch. */
  x: readonly number[];
  /** One series per label, aligned with `x` (null: no value). */
  series: readonly { label: string; values: readonly (number | null)[] }[];
  testId: string;
  /** Whole numbers only on the y axis (counts). @default false */
  integer?: boolean;
}

/** A uPlot time-series chart that follows its container's width. */
export function Chart({ title, unit, x, series, testId, integer = false }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const labels = series.map((s) => s.label).join("\u0000");
  const data = [x, ...series.map((s) => s.values)] as uPlot.AlignedData;

  // A new set of series (a node joined or left) needs a new plot.
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 170,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      // Counts and rates start at zero; an idle series still gets a visible axis.
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [
        { stroke: "#64748b", grid: { stroke: "#e2e8f0" } },
        {
          stroke: "#64748b",
          grid: { stroke: "#e2e8f0" },
          size: 50,
          ...(integer
            ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] }
            : {}),
          values: (_u, ticks) => ticks.map((v) => `${+v.toFixed(2)}${unit}`),
        },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length]!,
          width: 2,
          points: { show: false },
          spanGaps: false,
        })),
      ],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const observer = new ResizeObserver(() => {
      if (el.clientWidth > 0) u.setSize({ width: el.clientWidth, height: 170 });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = undefined;
    };
    // Rebuilt only when the series change; data flows in through setData below.
  }, [labels, unit, integer]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <div class="chart card" data-testid={testId}>
      <h3>{title}</h3>
      <div ref={box} />
    </div>
  );
}
