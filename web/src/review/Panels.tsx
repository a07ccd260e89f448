// The session screen's workspace panels: Review (changed files, diff,
// commit/push/pull request), Files (browse the workspace) and Artifacts.
// Kept apart from Session.tsx, which only renders <SessionPanels> and
// forwards its socket's git frames as a window event (events.ts SESSION_FRAME).
import { useEffect, useState } from "preact/hooks";
import { Tabs } from "../bits";
import { Artifacts } from "./Artifacts";
import { FileBrowser } from "./Files";
import { Review } from "./Review";

type Tab = "review" | "files" | "artifacts";

export function SessionPanels({ id, live }: { id: string; live: boolean }) {
  const [tab, setTab] = useState<Tab>(() => (sessionStorage.getItem("agentops.panel") as Tab) || "review");
  const [open, setOpen] = useState(() => sessionStorage.getItem("agentops.panelOpen") === "1");
  useEffect(() => sessionStorage.setItem("agentops.panel", tab), [tab]);
  useEffect(() => sessionStorage.setItem("agentops.panelOpen", open ? "1" : ""), [open]);
  // Closed, it is one line under the composer, so that the transcript's end
  // stays in view; open, it shows what the agent changed.
  return (
    <details class="panels" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>
        <h2>Workspace: review, files, artifacts</h2>
      </summary>
      {open && (
        <Tabs
          label="Workspace panels"
          tabs={[
            ["review", "Review"],
            ["files", "Files"],
            ["artifacts", "Artifacts"],
          ]}
          current={tab}
          onChange={setTab}
        >
          {tab === "review" && <Review id={id} live={live} />}
          {tab === "files" && <FileBrowser id={id} />}
          {tab === "artifacts" && <Artifacts id={id} />}
        </Tabs>
      )}
    </details>
  );
}

export default SessionPanels;
