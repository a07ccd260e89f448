import { lazy, memo, Suspense } from "preact/compat";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, auth, toLogin, when, type Message, type Part, type Session } from "../api";
import { SESSION_FRAME } from "../events";
import { renderMarkdown } from "../markdown";
import { Transcript } from "../transcript";
import { StatusBadge, useId } from "../ui";

// The workspace panels (review, files, artifacts) live in ../review and load
// on demand; this screen forwards its socket's git frames to them.
const SessionPanels = lazy(() => import("../review/Panels"));

type Question = {
  id: string;
  title: string;
  body?: string;
  actions?: { id: string; label: string }[];
  expiresAt?: number;
};
type Runner = {
  runnerConnected?: boolean;
  runnerReady?: boolean;
  runnerBusy?: boolean;
  sandboxRunning?: boolean;
  promptsQueued?: number;
};
type Pending = { messageId: string; content: string } | null;

// xterm.js is loaded only when the Terminal tab is first opened.
const TerminalPanel = lazy(() => import("../TerminalPanel"));

// The transcript shows its newest PAGE messages at first: a long session
// opens at once, and earlier ones render on request.
const PAGE = 200;

// "deleted": the session no longer exists (another tab removed it);
// "ended": it is terminated; the socket is not reopened in either case.
type Conn = "connecting" | "open" | "reconnecting" | "ended" | "deleted";

export function SessionView({ id }: { id: string }) {
  const [session, setSession] = useState<Session | null>(null);
  const [runner, setRunner] = useState<Runner>({});
  const [agentStatus, setAgentStatus] = useState("");
  const [conn, setConn] = useState<Conn>("connecting");
  const [questions, setQuestions] = useState<Question[]>([]);
  const [pending, setPending] = useState<Pending>(null);
  const [notice, setNotice] = useState("");
  const [, setTick] = useState(0);
  const [shown, setShown] = useState(PAGE);
  // The Terminal tab mounts on first use and stays mounted (its shell
  // lives as long as its socket) while the transcript is shown.
  const [tab, setTab] = useState<"transcript" | "terminal">("transcript");
  const [terminalOpened, setTerminalOpened] = useState(false);
  const ws = useRef<WebSocket | null>(null);
  const tr = useRef<Transcript>(null as any);

  // Re-render at most once a frame however fast chunks arrive.
  const frame = useRef(0);
  const follow = useRef(true);
  const redraw = () => {
    if (!frame.current)
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        const el = document.scrollingElement!;
        follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        setTick((t) => t + 1);
      });
  };
  // Keep the newest text in view while the reader is at the end; leave
  // the page where it is when they scrolled up to read.
  useLayoutEffect(() => {
    if (follow.current) {
      const el = document.scrollingElement!;
      el.scrollTop = el.scrollHeight;
    }
  });

  useEffect(() => {
    let stopped = false;
    let retry = 0;
    let timer = 0;
    let reloading: Promise<void> | null = null;
    let again = false;
    let gapTries = 0;

    // Reload the transcript over REST (after a (re)connect, or when a chunk
    // leaves a gap); streamed text may reach the database up to a second
    // after the socket, so a gap is retried a few times.
    const reload = (fresh = false): Promise<void> => {
      if (reloading) {
        // A load that started before the socket subscribed may miss what
        // happened in between: load once more after it.
        again ||= fresh;
        return reloading;
      }
      reloading = api<{ messages: Message[] }>("GET", `/api/sessions/${encodeURIComponent(id)}/messages`)
        .then((r) => {
          tr.current.load(r.messages);
          redraw();
        })
        .catch(() => {})
        .finally(() => {
          reloading = null;
          if (again) {
            again = false;
            reload();
          } else if (tr.current.hasGap() && gapTries++ < 20) timer = window.setTimeout(() => reload(), 500);
          else gapTries = 0;
        });
      return reloading;
    };
    tr.current = new Transcript(() => {
      if (!reloading) timer = window.setTimeout(() => reload(), 300);
    });

    const loadSession = () =>
      api<{ session: Session; doStatus: Runner & { agentState?: string } }>("GET", `/api/sessions/${encodeURIComponent(id)}`).then(
        (r) => {
          setSession(r.session);
          setRunner(r.doStatus ?? {});
          return r.session;
        },
      );

    const connect = () => {
      if (stopped) return;
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const sock = new WebSocket(`${proto}//${location.host}/api/sessions/${encodeURIComponent(id)}/ws?role=client`, [
        "agentops.v2",
        "valet",
        "bearer." + (auth.token() ?? ""),
      ]);
      ws.current = sock;
      sock.onmessage = (ev) => {
        let f: any;
        try {
          f = JSON.parse(ev.data);
        } catch {
          return;
        }
        onFrame(f);
      };
      sock.onclose = async (ev) => {
        if (ws.current === sock) ws.current = null;
        if (stopped) return;
        try {
          const s = await loadSession();
          if (s.status === "terminated" || s.status === "archived" || ev.code === 4004) {
            setConn("ended");
            await reload();
            return;
          }
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) {
            setConn("deleted");
            return;
          }
          if (e instanceof ApiError && e.status === 401) {
            toLogin();
            return;
          }
        }
        setConn("reconnecting");
        retry = Math.min(retry + 1, 6);
        timer = window.setTimeout(connect, Math.min(250 * 2 ** retry, 8000));
      };
    };

    const onFrame = (f: any) => {
      const t = tr.current;
      switch (f.type) {
        case "init":
          retry = 0;
          setConn("open");
          setSession((s) => (s ? { ...s, status: f.session?.status ?? s.status, title: f.session?.title ?? s.title } : s));
          setRunner(f.data ?? {});
          setPending(f.data?.pendingPrompt ?? null);
          setQuestions([]);
          reload(true);
          break;
        case "status":
          if (f.data) {
            const d = { ...f.data };
            if (typeof d.queuedPrompts === "number") d.promptsQueued = d.queuedPrompts;
            if (d.runnerConnected === false) d.runnerReady = false;
            setRunner((r) => ({ ...r, ...d }));
            if (typeof f.data.status === "string") setSession((s) => (s ? { ...s, status: f.data.status } : s));
          }
          break;
        case "agentStatus":
          // The server calls a runner ready at its first idle after connecting.
          if (f.status === "idle") setRunner((r) => ({ ...r, runnerConnected: true, runnerReady: true }));
          setAgentStatus(f.status === "idle" ? "" : f.status + (f.detail ? ` ${f.detail}` : ""));
          break;
        case "message":
        case "message.updated":
          if (f.data?.id) t.upsert(f.data);
          redraw();
          break;
        case "message.part.updated":
          t.part(f.messageId, f.index, f.part);
          redraw();
          break;
        case "chunk":
          t.chunk(f.messageId, f.content ?? "", f.offset ?? 0);
          redraw();
          break;
        case "messages.removed":
          t.remove(f.messageIds ?? []);
          redraw();
          break;
        case "interactive_prompt":
          if (f.prompt?.id)
            setQuestions((qs) => [...qs.filter((q) => q.id !== f.prompt.id), f.prompt as Question]);
          break;
        case "interactive_prompt_resolved":
        case "interactive_prompt_expired":
          setQuestions((qs) => qs.filter((q) => q.id !== f.promptId));
          break;
        case "queue.state":
          setPending(f.data?.pending ?? null);
          break;
        case "queue.withdrawn":
          setPending(null);
          break;
        case "error":
          setNotice(f.error ?? f.message ?? "Error");
          break;
        case "files-changed":
        case "git-state":
        case "pr-created":
          dispatchEvent(new CustomEvent(SESSION_FRAME, { detail: f }));
          break;
      }
    };

    reload(); // in parallel with the session and the socket
    loadSession()
      .then((s) => {
        if (s.status === "terminated" || s.status === "archived") {
          setConn("ended");
          reload();
        } else connect();
      })
      .catch((e) => {
        if (e instanceof ApiError && e.status === 404) setConn("deleted");
        else connect();
      });

    return () => {
      stopped = true;
      clearTimeout(timer);
      cancelAnimationFrame(frame.current);
      ws.current?.close(1000);
    };
  }, [id]);

  const send = (f: object) => {
    if (ws.current?.readyState === WebSocket.OPEN) ws.current.send(JSON.stringify(f));
    else setNotice("Not connected; try again in a moment.");
  };
  // Stable across renders, so that unchanged messages skip re-rendering.
  const sendRef = useRef(send);
  sendRef.current = send;
  const revert = useCallback((messageId: string) => sendRef.current({ type: "revert", messageId }), []);
  const act = async (what: "hibernate" | "wake" | "terminate") => {
    try {
      if (what === "terminate") await api("DELETE", `/api/sessions/${encodeURIComponent(id)}`);
      else await api("POST", `/api/sessions/${encodeURIComponent(id)}/${what}`);
    } catch (e: any) {
      setNotice(e.message);
    }
  };

  if (conn === "deleted")
    return (
      <section>
        <h1>Session not found</h1>
        <p role="alert">This session does not exist any more (it may have been deleted in another tab).</p>
        <p>
          <a href="/">Back to sessions</a>
        </p>
      </section>
    );

  const all = tr.current ? tr.current.list() : [];
  const messages = all.length > shown ? all.slice(all.length - shown) : all;
  const status = session?.status ?? "";
  const live = conn !== "ended" && status !== "terminated";
  return (
    <section class="session">
      <div class="session-head">
        <h1>{session?.title || session?.workspace || "Session"}</h1>
        {status && <StatusBadge status={status} />}
        <span class="muted small" aria-live="polite">
          {conn === "reconnecting" ? "Reconnecting…" : conn === "connecting" ? "Connecting…" : conn === "ended" ? "Ended" : ""}
          {conn === "open" &&
            (runner.runnerConnected
              ? runner.runnerReady
                ? "Runner ready"
                : "Runner starting"
              : status === "hibernated"
                ? "Sandbox stopped (wake or send a prompt to resume)"
                : "No runner connected")}
          {conn === "open" && runner.promptsQueued ? ` · ${runner.promptsQueued} queued` : ""}
          {agentStatus && ` · Agent ${agentStatus}`}
        </span>
        <span class="spacer" />
        {live && status === "hibernated" && (
          <button type="button" class="secondary" onClick={() => act("wake")}>
            Wake
          </button>
        )}
        {live && status === "running" && (
          <button type="button" class="secondary" onClick={() => act("hibernate")}>
            Hibernate
          </button>
        )}
        {live && (
          <button
            type="button"
            class="danger"
            onClick={() => confirm("End this session? Its runner stops; the transcript stays.") && act("terminate")}
          >
            End session
          </button>
        )}
      </div>
      {session?.errorMessage && (
        <p class="form-error" role="alert">
          {session.errorMessage}
        </p>
      )}
      {live && (
        <div class="session-tabs" role="tablist" aria-label="Session views">
          <button type="button" role="tab" id="tab-transcript" aria-controls="panel-transcript"
            aria-selected={tab === "transcript"} onClick={() => setTab("transcript")}>
            Transcript
          </button>
          <button type="button" role="tab" id="tab-terminal" aria-controls="panel-terminal"
            aria-selected={tab === "terminal"} onClick={() => { setTab("terminal"); setTerminalOpened(true); }}>
            Terminal
          </button>
        </div>
      )}
      {live && terminalOpened && (
        <div id="panel-terminal" role="tabpanel" aria-labelledby="tab-terminal" hidden={tab !== "terminal"}>
          <Suspense fallback={<p class="muted">Loading the terminal…</p>}>
            <TerminalPanel id={id} visible={tab === "terminal"} />
          </Suspense>
        </div>
      )}
      <div class="log" role="log" id="panel-transcript" aria-label="Transcript" hidden={live && tab !== "transcript"}
        aria-busy={runner.runnerBusy ? "true" : "false"}>
        {all.length > shown && (
          <button type="button" class="link" onClick={() => setShown((n) => n + PAGE * 2)}>
            Show earlier messages ({all.length - shown} more)
          </button>
        )}
        {messages.length === 0 && <p class="muted">No messages yet.</p>}
        {messages.map((m) => (
          <MessageView key={m.id} m={m} onRevert={live ? revert : undefined} />
        ))}
      </div>
      {questions.map((q) => (
        <QuestionCard key={q.id} q={q} onAnswer={(a) => send({ type: "answer", questionId: q.id, answer: a })} />
      ))}
      {pending && (
        <div class="queue" role="region" aria-label="Queued prompt">
          <p>
            <strong>Queued:</strong> <span class="pre">{pending.content}</span>
          </p>
          <div class="row">
            <button type="button" class="secondary" onClick={() => send({ type: "queue.promote" })}>
              Run now
            </button>
            <button type="button" class="secondary" onClick={() => send({ type: "queue.withdraw" })}>
              Withdraw
            </button>
          </div>
        </div>
      )}
      {notice && (
        <p class="form-error" role="alert">
          {notice}{" "}
          <button type="button" class="link" onClick={() => setNotice("")}>
            Dismiss
          </button>
        </p>
      )}
      {live ? (
        <Composer
          id={id}
          busy={!!runner.runnerBusy || !!agentStatus}
          onAbort={() => send({ type: "abort" })}
          onError={setNotice}
        />
      ) : (
        <p class="muted">
          This session has ended. <a href="/">Back to sessions</a>
        </p>
      )}
      <Suspense fallback={null}>
        <SessionPanels id={id} live={live} />
      </Suspense>
    </section>
  );
}

function Composer({ id, busy, onAbort, onError }: { id: string; busy: boolean; onAbort: () => void; onError: (s: string) => void }) {
  const [text, setText] = useState("");
  const [mode, setMode] = useState("followup");
  const [sending, setSending] = useState(false);
  const inputId = useId("prompt");
  async function submit(e: Event) {
    e.preventDefault();
    if (!text.trim()) return;
    setSending(true);
    try {
      await api("POST", `/api/sessions/${encodeURIComponent(id)}/prompt`, { content: text, queueMode: mode });
      setText("");
    } catch (err: any) {
      onError(err.message);
    } finally {
      setSending(false);
    }
  }
  return (
    <form class="composer" onSubmit={submit}>
      <label for={inputId} class="sr-only">
        Prompt
      </label>
      <textarea
        id={inputId}
        rows={3}
        value={text}
        placeholder="Ask the agent… (Ctrl+Enter sends)"
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e);
        }}
      />
      <div class="row">
        <label class="inline-label">
          When busy{" "}
          <select value={mode} onChange={(e) => setMode(e.currentTarget.value)}>
            <option value="followup">queue after the turn</option>
            <option value="steer">steer: stop the turn and send</option>
            <option value="collect">collect into one prompt</option>
          </select>
        </label>
        <span class="spacer" />
        {busy && (
          <button type="button" class="secondary" onClick={onAbort}>
            Stop
          </button>
        )}
        <button type="submit" disabled={sending || !text.trim()}>
          Send
        </button>
      </div>
    </form>
  );
}

function QuestionCard({ q, onAnswer }: { q: Question; onAnswer: (a: string) => void }) {
  const [text, setText] = useState("");
  const [now, setNow] = useState(Date.now());
  const inputId = useId("answer");
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const left = q.expiresAt ? Math.max(0, Math.round((q.expiresAt - now) / 1000)) : null;
  return (
    <div class="question" role="region" aria-label="Question from the agent">
      <p class="q-title">{q.title || q.body}</p>
      {q.body && q.title && q.body !== q.title && <p>{q.body}</p>}
      {left !== null && (
        <p class="muted small">
          Expires in {Math.floor(left / 60)}:{String(left % 60).padStart(2, "0")}
        </p>
      )}
      <div class="row wrap">
        {(q.actions ?? []).map((a) => (
          <button type="button" class="secondary" onClick={() => onAnswer(a.id)}>
            {a.label}
          </button>
        ))}
      </div>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (text.trim()) onAnswer(text);
        }}
      >
        <label for={inputId} class="sr-only">
          Your answer
        </label>
        <input id={inputId} value={text} placeholder="Your answer" onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit">Answer</button>
      </form>
    </div>
  );
}

const MessageView = memo(function MessageView({ m, onRevert }: { m: Message; onRevert?: (id: string) => void }) {
  const author = m.role === "user" ? m.authorName || m.authorEmail || "You" : m.role === "assistant" ? "Agent" : "System";
  return (
    <article class={"msg msg-" + m.role} aria-label={`${author} message`}>
      <header class="msg-head">
        <span class="author">{author}</span>
        <span class="muted small">{when(m.createdAt)}</span>
        <span class="spacer" />
        {m.role === "user" && onRevert && (
          <button
            type="button"
            class="link small"
            onClick={() => confirm("Revert: remove this message and everything after it?") && onRevert(m.id)}
          >
            Revert to here
          </button>
        )}
      </header>
      {m.role === "user" ? <p class="pre">{m.content}</p> : <Parts parts={m.parts ?? []} fallback={m.content} />}
      {m.usage && <UsageLine u={m.usage} />}
    </article>
  );
});

function Parts({ parts, fallback }: { parts: Part[]; fallback: string }) {
  if (parts.length === 0 && fallback) return <Markdown text={fallback} />;
  return (
    <>
      {parts.map((p, i) => {
        if (p.type === "text") return <Markdown key={i} text={(p as any).text ?? ""} />;
        if (p.type === "tool-call") return <ToolCard key={i} p={p as any} />;
        if (p.type === "error")
          return (
            <p key={i} class="form-error">
              {(p as any).message}
            </p>
          );
        if (p.type === "finish" && (p as any).reason !== "end_turn")
          return (
            <p key={i} class="muted small">
              Turn {(p as any).reason === "canceled" ? "stopped" : "ended with an error"}.
            </p>
          );
        return null;
      })}
    </>
  );
}

function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div class="md" dangerouslySetInnerHTML={{ __html: html }} />;
}

function ToolCard({ p }: { p: { toolName: string; status: string; args?: any; result?: any; error?: any; callId: string } }) {
  return (
    <details class={"tool tool-" + p.status}>
      <summary>
        <span class="tool-name">{p.toolName}</span> <span class={"badge status-" + p.status}>{p.status}</span>
      </summary>
      {p.args !== undefined && (
        <>
          <p class="small muted">Arguments</p>
          <pre>{fmt(p.args)}</pre>
        </>
      )}
      {p.result !== undefined && p.result !== null && (
        <>
          <p class="small muted">Result</p>
          <pre>{fmt(p.result)}</pre>
        </>
      )}
      {p.error !== undefined && p.error !== null && (
        <>
          <p class="small muted">Error</p>
          <pre class="error-text">{fmt(p.error)}</pre>
        </>
      )}
    </details>
  );
}

function UsageLine({ u }: { u: NonNullable<Message["usage"]> }) {
  const parts = [`${u.inputTokens ?? 0} in`, `${u.outputTokens ?? 0} out`];
  if (u.cacheReadTokens) parts.push(`${u.cacheReadTokens} cache read`);
  if (u.cacheWriteTokens) parts.push(`${u.cacheWriteTokens} cache write`);
  return (
    <p class="usage small muted">
      Tokens: {parts.join(" · ")}
      {u.costUsd !== undefined && ` · $${u.costUsd.toFixed(4)}`}
    </p>
  );
}

function fmt(v: any): string {
  if (typeof v === "string") return v;
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

