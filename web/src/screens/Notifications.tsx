import { useEffect, useState } from "preact/hooks";
import { api, when } from "../api";
import { subscribeEvents } from "../events";
import { FormError } from "../ui";

type Note = {
  id: string;
  messageType: "notification" | "question" | "approval";
  content: string;
  read: boolean;
  createdAt: string;
  contextSessionId?: string;
  contextExecutionId?: string;
};

const CHANGED = "app:notifications";

/** Tells the bell to count again (the inbox marked something read). */
export function notificationsChanged() {
  dispatchEvent(new Event(CHANGED));
}

/** The header's bell: the unread count, kept live by the event bus. */
export function Bell({ current }: { current: boolean }) {
  const [count, setCount] = useState<number | null>(null);
  useEffect(() => {
    const recount = () =>
      api<{ count: number }>("GET", "/api/me/notifications/count")
        .then((r) => setCount(r.count))
        .catch(() => {});
    recount();
    const stop = subscribeEvents(
      (e) => {
        if (e.type === "notification") recount();
      },
      recount,
    );
    addEventListener(CHANGED, recount);
    return () => {
      stop();
      removeEventListener(CHANGED, recount);
    };
  }, []);
  const label = count ? `Notifications, ${count} unread` : "Notifications";
  return (
    <a href="/notifications" class="bell" aria-label={label} aria-current={current ? "page" : undefined}>
      <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
        <path
          fill="currentColor"
          d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
        />
      </svg>
      {count ? (
        <span class="count" data-testid="unread-count">
          {count > 99 ? "99+" : count}
        </span>
      ) : null}
    </a>
  );
}

export function Inbox() {
  const [items, setItems] = useState<Note[] | null>(null);
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [cursor, setCursor] = useState<string | undefined>();
  const [error, setError] = useState("");
  const load = (more = false) => {
    const q = new URLSearchParams({ limit: "50" });
    if (unreadOnly) q.set("unreadOnly", "true");
    if (more && cursor) q.set("cursor", cursor);
    api<{ messages: Note[]; cursor?: string; hasMore: boolean }>("GET", "/api/me/notifications?" + q)
      .then((r) => {
        setItems((old) => (more && old ? [...old, ...r.messages] : r.messages));
        setCursor(r.hasMore ? r.cursor : undefined);
      })
      .catch((e) => setError(e.message));
  };
  useEffect(() => {
    load();
    const stop = subscribeEvents(
      (e) => {
        if (e.type === "notification") load();
      },
      () => load(),
    );
    return stop;
  }, [unreadOnly]);
  const act = async (path: string) => {
    try {
      await api("PUT", path);
      notificationsChanged();
      load();
    } catch (e: any) {
      setError(e.message);
    }
  };
  return (
    <section>
      <div class="row between wrap">
        <h1>Notifications</h1>
        <div class="row wrap">
          <label class="inline-label">
            <input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.currentTarget.checked)} /> Unread only
          </label>
          <button type="button" class="secondary" onClick={() => act("/api/me/notifications/read-all")}>
            Mark all read
          </button>
        </div>
      </div>
      <FormError message={error} />
      {items && items.length === 0 && <p class="muted">Nothing here.</p>}
      <ul class="plain inbox" aria-label="Inbox">
        {(items ?? []).map((n) => (
          <li key={n.id} class={n.read ? "read" : "unread"}>
            <div class="row wrap">
              <span class="badge">{n.messageType}</span>
              {!n.read && <strong class="small">unread</strong>}
              <span class="muted small">{when(n.createdAt)}</span>
              <span class="spacer" />
              {!n.read && (
                <button type="button" class="link" onClick={() => act(`/api/me/notifications/${encodeURIComponent(n.id)}/read`)}>
                  Mark read
                </button>
              )}
            </div>
            <p class="pre">{n.content}</p>
            <p class="small">
              {n.contextExecutionId && <a href={`/executions/${encodeURIComponent(n.contextExecutionId)}`}>Open the run</a>}{" "}
              {n.contextSessionId && <a href={`/sessions/${encodeURIComponent(n.contextSessionId)}`}>Open the session</a>}
            </p>
          </li>
        ))}
      </ul>
      {cursor && (
        <button type="button" class="secondary" onClick={() => load(true)}>
          Load more
        </button>
      )}
    </section>
  );
}
