// Small pieces the part-2 screens share: copy to the clipboard, durations,
// a poller, and a tab list.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

/** A button that copies text; says "Copied" for a moment (announced politely). */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState("");
  return (
    <>
      <button
        type="button"
        class="secondary small-btn"
        aria-label={label}
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(text);
            setDone("Copied");
          } catch {
            setDone("Copy failed: select the text and copy it");
          }
          setTimeout(() => setDone(""), 2500);
        }}
      >
        Copy
      </button>
      <span class="muted small" aria-live="polite">
        {done}
      </span>
    </>
  );
}

export function duration(seconds: number | undefined | null): string {
  if (seconds === undefined || seconds === null || isNaN(seconds)) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

/** Calls fn now and every ms while active is true. */
export function usePoll(fn: () => void, ms: number, active: boolean) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => ref.current(), ms);
    return () => clearInterval(t);
  }, [active, ms]);
}

/** Accessible tabs (buttons with role=tab; arrow keys move between them). */
export function Tabs<T extends string>({
  label,
  tabs,
  current,
  onChange,
  children,
}: {
  label: string;
  tabs: [T, string][];
  current: T;
  onChange: (t: T) => void;
  children: ComponentChildren;
}) {
  const base = label.replace(/\W+/g, "-").toLowerCase();
  return (
    <div class="tabbed">
      <div role="tablist" aria-label={label} class="tablist">
        {tabs.map(([id, name], i) => (
          <button
            type="button"
            role="tab"
            id={`${base}-tab-${id}`}
            aria-selected={current === id ? "true" : "false"}
            aria-controls={`${base}-panel`}
            tabIndex={current === id ? 0 : -1}
            onClick={() => onChange(id)}
            onKeyDown={(e) => {
              const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
              if (!d) return;
              const next = tabs[(i + d + tabs.length) % tabs.length][0];
              onChange(next);
              setTimeout(() => document.getElementById(`${base}-tab-${next}`)?.focus());
            }}
          >
            {name}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${base}-panel`} aria-labelledby={`${base}-tab-${current}`} class="tabpanel">
        {children}
      </div>
    </div>
  );
}
