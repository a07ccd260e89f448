import { useEffect, useRef, useState } from "preact/hooks";
import { api, STATUSES, when, type Session } from "../api";
import { subscribeEvents } from "../events";
import { navigate } from "../router";
import { StatusBadge } from "../ui";
import { CreateSession } from "./CreateSession";

type Page = { sessions: Session[]; cursor?: string; hasMore: boolean };

export function Sessions() {
  const params = new URLSearchParams(location.search);
  const [status, setStatus] = useState(params.get("status") ?? "");
  const [q, setQ] = useState(params.get("q") ?? "");
  const [list, setList] = useState<Session[] | null>(null);
  const [cursor, setCursor] = useState<string | undefined>();
  const [err, setErr] = useState("");
  const [creating, setCreating] = useState(false);
  const [live, setLive] = useState("");
  const reload = useRef(() => {});

  async function load(more = false) {
    const p = new URLSearchParams({ limit: "50" });
    if (status) p.set("status", status);
    if (q.trim()) p.set("q", q.trim());
    if (more && cursor) p.set("cursor", cursor);
    try {
      const r = await api<Page>("GET", "/api/sessions?" + p.toString());
      setList((old) => (more && old ? [...old, ...r.sessions] : r.sessions));
      setCursor(r.hasMore ? r.cursor : undefined);
      setErr("");
    } catch (e: any) {
      setErr(e.message);
    }
  }
  reload.current = () => load();

  // Filters live in the URL, so a reload or a shared link keeps them.
  useEffect(() => {
    const p = new URLSearchParams();
    if (status) p.set("status", status);
    if (q.trim()) p.set("q", q.trim());
    const url = "/sessions" + (p.toString() ? "?" + p : "");
    if (url !== location.pathname + location.search) history.replaceState(null, "", url);
    const t = setTimeout(() => load(), q ? 250 : 0);
    return () => clearTimeout(t);
  }, [status, q]);

  useEffect(
    () =>
      subscribeEvents(
        (e) => {
          if (!e.sessionId || !e.type.startsWith("session.")) return;
          const st = e.data?.status as string | undefined;
          if (e.type === "session.started") {
            reload.current();
            return;
          }
          setList((old) => {
            if (!old) return old;
            const i = old.findIndex((s) => s.id === e.sessionId);
            if (i < 0) return old;
            const s = { ...old[i] };
            if (st) s.status = st;
            if (e.type === "session.errored") {
              s.status = "error";
              s.errorMessage = e.data?.error;
            }
            if (s.title) setLive(`${s.title}: ${s.status}`);
            const out = old.slice();
            out[i] = s;
            return out;
          });
        },
        () => reload.current(),
      ),
    [],
  );

  return (
    <section>
      <div class="row between">
        <h1>Sessions</h1>
        <button type="button" onClick={() => setCreating(true)}>
          New session
        </button>
      </div>
      <div class="filters" role="search">
        <div class="field inline">
          <label for="session-q">Search titles</label>
          <input id="session-q" type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </div>
        <div class="field inline">
          <label for="session-status">Status</label>
          <select id="session-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </div>
      </div>
      <p class="sr-only" aria-live="polite">
        {live}
      </p>
      {err && <p role="alert" class="form-error">{err}</p>}
      {list === null ? (
        <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <p class="muted">{q || status ? "No session matches." : "No sessions yet. Start one with “New session”."}</p>
      ) : (
        <ul class="sessions">
          {list.map((s) => (
            <li key={s.id}>
              <a href={"/sessions/" + s.id}>
                <span class="title">{s.title || s.workspace}</span>
                <StatusBadge status={s.status} />
                <span class="muted small">
                  {s.agent} · {s.workspace} · {when(s.lastActiveAt)}
                </span>
                {s.errorMessage && <span class="small error-text">{s.errorMessage}</span>}
              </a>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" class="secondary" onClick={() => load(true)}>
          Show more
        </button>
      )}
      {creating && <CreateSession onClose={() => setCreating(false)} onCreated={(id) => navigate("/sessions/" + id)} />}
    </section>
  );
}
