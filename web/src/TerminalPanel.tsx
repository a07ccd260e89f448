// A shell in the session's workspace (GET /api/sessions/:id/terminal),
// drawn by xterm.js. Loaded on demand: the session screen imports it only
// when the Terminal tab is first opened.
import { useEffect, useRef, useState } from "preact/hooks";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { auth } from "./api";

type State = { kind: "connecting" } | { kind: "open" } | { kind: "ended"; message: string };

// The page's CSP allows no inline <style> elements, and xterm.js writes
// its cell dimensions and theme into such elements. Their text is copied
// into constructed style sheets (CSSOM, which the CSP allows), kept in
// step as xterm rewrites them.
function adoptStyles(root: HTMLElement): () => void {
  const sheets = new Map<HTMLStyleElement, CSSStyleSheet>();
  const sync = () => {
    for (const el of root.querySelectorAll("style")) {
      let sheet = sheets.get(el);
      if (!sheet) {
        sheet = new CSSStyleSheet();
        sheets.set(el, sheet);
        document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
      }
      sheet.replaceSync(el.textContent ?? "");
    }
  };
  const mo = new MutationObserver(sync);
  mo.observe(root, { subtree: true, childList: true, characterData: true });
  sync();
  return () => {
    mo.disconnect();
    const mine = new Set(sheets.values());
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => !mine.has(s));
  };
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export default function TerminalPanel({ id, visible }: { id: string; visible: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const fit = useRef<FitAddon | null>(null);
  const [state, setState] = useState<State>({ kind: "connecting" });
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const el = host.current!;
    const unadopt = adoptStyles(el);
    const term = new Terminal({
      cursorBlink: true,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 14,
      scrollback: 5000,
      theme: { background: cssVar("--code-bg") || "#000000", foreground: cssVar("--fg") || "#ffffff", cursor: cssVar("--accent") },
    });
    const fa = new FitAddon();
    fit.current = fa;
    term.loadAddon(fa);
    term.open(el);
    fa.fit();

    const enc = new TextEncoder();
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${location.host}/api/sessions/${encodeURIComponent(id)}/terminal?cols=${term.cols}&rows=${term.rows}`;
    const sock = new WebSocket(url, ["agentops.terminal", "bearer." + (auth.token() ?? "")]);
    sock.binaryType = "arraybuffer";
    let opened = false;
    let exit: { exitCode?: number | null; reason?: string } | null = null;
    const send = (b: Uint8Array | string) => {
      if (sock.readyState === WebSocket.OPEN) sock.send(b);
    };
    sock.onopen = () => {
      opened = true;
      setState({ kind: "open" });
      term.focus();
    };
    sock.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) term.write(new Uint8Array(ev.data));
      else
        try {
          exit = JSON.parse(ev.data);
        } catch {}
    };
    sock.onclose = async () => {
      let message: string;
      if (exit) {
        message =
          exit.exitCode != null ? `The shell ended (exit status ${exit.exitCode}).` : exit.reason || "The shell ended.";
      } else if (!opened) {
        // A refused upgrade tells the page nothing: ask the same route
        // over plain HTTP, which answers with the reason.
        message = "Could not open a terminal.";
        try {
          const r = await fetch(`/api/sessions/${encodeURIComponent(id)}/terminal`, {
            headers: { Authorization: `Bearer ${auth.token() ?? ""}` },
          });
          if (r.status !== 426) message = (await r.json()).error ?? message;
        } catch {}
      } else {
        message = "The connection was lost; the shell has ended.";
      }
      term.write(`\r\n[${message}]\r\n`);
      term.options.disableStdin = true;
      setState({ kind: "ended", message });
    };

    term.onData((d) => send(enc.encode(d)));
    term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
    term.onResize(({ cols, rows }) => send(JSON.stringify({ type: "resize", cols, rows })));
    // Ctrl+Shift+C copies the selection (Ctrl+C stays the shell's
    // interrupt). Pasting is the browser's own (Ctrl+V, Ctrl+Shift+V, the
    // context menu), which xterm.js takes from its paste event: the key is
    // only kept from reaching the shell as ^V.
    term.attachCustomKeyEventHandler((e) => {
      if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === "KeyC" && term.hasSelection()) {
        navigator.clipboard?.writeText(term.getSelection()).catch(() => {});
        return false;
      }
      return e.code !== "KeyV";
    });
    const ro = new ResizeObserver(() => {
      if (el.offsetParent !== null) fa.fit();
    });
    ro.observe(el);

    return () => {
      ro.disconnect();
      sock.onclose = null;
      sock.close(1000);
      term.dispose();
      unadopt();
      fit.current = null;
    };
  }, [id, generation]);

  useEffect(() => {
    if (visible) fit.current?.fit();
  }, [visible]);

  return (
    <div class="terminal-panel">
      <div class="row terminal-bar">
        <span class="muted small" aria-live="polite">
          {state.kind === "connecting" ? "Starting a shell…" : state.kind === "open" ? "Shell in the workspace" : state.message}
        </span>
        <span class="spacer" />
        {state.kind === "ended" && (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setState({ kind: "connecting" });
              setGeneration((g) => g + 1);
            }}
          >
            New shell
          </button>
        )}
      </div>
      <div class="terminal-host" ref={host} aria-label="Terminal" />
    </div>
  );
}
