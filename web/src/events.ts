import { api } from "./api";

export type BusEvent = { id: string; type: string; sessionId?: string; data?: any };

/**
 * Follows the user's event bus over SSE. EventSource cannot send headers,
 * so it authenticates with a ticket; when the ticket has expired (its own
 * reconnect gets 401 and gives up) a new ticket resumes from the last id.
 * onReset is called when the server cannot continue from our id: reload.
 */
export function followEvents(onEvent: (e: BusEvent) => void, onReset: () => void): () => void {
  let es: EventSource | null = null;
  let lastId = "";
  let stopped = false;
  let timer = 0;
  async function open() {
    if (stopped) return;
    try {
      const { ticket } = await api<{ ticket: string }>("POST", "/api/events/ticket");
      if (stopped) return;
      const q = new URLSearchParams({ ticket });
      if (lastId) q.set("lastEventId", lastId);
      es = new EventSource("/api/events?" + q.toString());
      es.onmessage = (m) => {
        lastId = m.lastEventId || lastId;
        try {
          onEvent(JSON.parse(m.data));
        } catch {
          /* not an event */
        }
      };
      es.addEventListener("ready", (m) => (lastId = (m as MessageEvent).lastEventId || lastId));
      es.addEventListener("reset", (m) => {
        lastId = (m as MessageEvent).lastEventId || lastId;
        onReset();
      });
      es.onerror = () => {
        if (es && es.readyState === EventSource.CLOSED) {
          es = null;
          timer = window.setTimeout(open, 2000);
        }
      };
    } catch {
      timer = window.setTimeout(open, 5000);
    }
  }
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    es?.close();
  };
}

type Listener = { onEvent: (e: BusEvent) => void; onReset: () => void };
const listeners = new Set<Listener>();
let stopShared: (() => void) | null = null;

/**
 * Like followEvents, but every caller in the page shares one stream: the
 * header's bell and the screen under it would otherwise hold two, and a
 * browser allows only six HTTP/1.1 connections per host across its tabs.
 * The stream closes when the last subscriber leaves.
 */
export function subscribeEvents(onEvent: (e: BusEvent) => void, onReset: () => void): () => void {
  const l = { onEvent, onReset };
  listeners.add(l);
  if (!stopShared)
    stopShared = followEvents(
      (e) => listeners.forEach((x) => x.onEvent(e)),
      () => listeners.forEach((x) => x.onReset()),
    );
  return () => {
    listeners.delete(l);
    if (listeners.size === 0 && stopShared) {
      stopShared();
      stopShared = null;
    }
  };
}

/** The session screen re-dispatches its socket's git frames (files-changed, git-state, pr-created) on window under this name, for the workspace panels. */
export const SESSION_FRAME = "agentops:session-frame";
