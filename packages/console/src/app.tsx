import { useEffect, useState } from "preact/hooks";
import { Explorer } from "./explorer";
import { Overview } from "./overview";
import { initialToken } from "./token";

type View = "explorer" | "overview";

function viewOf(hash: string): View {
  return hash.startsWith("#/overview") ? "overview" : "explorer";
}

/**
 * The shell: two views switched by the URL fragment, both kept mounted so the
 * explorer's connection and the overview's history survive a switch.
 */
export function App() {
  // Read (and strip) a `#token=` fragment before the first render.
  const [token] = useState(initialToken);
  const [view, setView] = useState<View>(() => viewOf(location.hash));
  useEffect(() => {
    const onHash = () => setView(viewOf(location.hash));
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  return (
    <div class="shell">
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ◆
          </span>
          CalcBridge Realtime <span class="muted">console</span>
        </div>
        <nav class="tabs">
          <a
            href="#/explorer"
            class={view === "explorer" ? "tab active" : "tab"}
            data-testid="tab-explorer"
          >
            Explorer
          </a>
          <a
            href="#/overview"
            class={view === "overview" ? "tab active" : "tab"}
            data-testid="tab-overview"
          >
            Cluster overview
          </a>
        </nav>
      </header>
      <main>
        <div hidden={view !== "explorer"}>
          <Explorer initialToken={token} />
        </div>
        <div hidden={view !== "overview"}>
          <Overview active={view === "overview"} />
        </div>
      </main>
    </div>
  );
}
