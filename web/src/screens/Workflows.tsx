import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, when } from "../api";
import { CopyButton, usePoll } from "../bits";
import { lineOf, locate } from "../jsonpos";
import { navigate } from "../router";
import { Field, FormError, formValues, Select, StatusBadge, useSubmit } from "../ui";

export type Workflow = {
  id: string;
  slug?: string;
  name: string;
  description?: string;
  version: string;
  data: any;
  enabled: boolean;
  workflowHash: string;
  updatedAt: string;
};
type Trigger = {
  id: string;
  workflowId: string;
  name: string;
  enabled: boolean;
  type: "manual" | "webhook" | "schedule";
  config: any;
  lastRunAt?: string | null;
  webhookUrl?: string;
  nextRuns?: string[];
};
export type Execution = {
  id: string;
  workflowId: string;
  workflowName: string;
  workflowVersion?: string;
  sessionId?: string;
  triggerType: string;
  triggerName?: string;
  status: string;
  variables?: any;
  outputs?: any;
  error?: string | null;
  resumeToken?: string | null;
  approval?: { stepId: string; prompt: string; requestedAt: string } | null;
  startedAt?: string;
  completedAt?: string | null;
  steps?: Step[];
};
type Step = {
  id: string;
  stepId: string;
  attempt: number;
  status: string;
  input?: any;
  output?: any;
  error?: any;
  startedAt?: string | null;
  completedAt?: string | null;
  sequence: number;
};
type Snapshot = {
  id: string;
  version: string;
  name: string;
  workflowHash: string;
  source: string;
  notes?: string | null;
  createdAt: string;
  sequence: number;
};
type FieldErr = { path: string; message: string };

const enc = encodeURIComponent;
const FINAL = ["completed", "failed", "cancelled"];

const EXAMPLE = JSON.stringify(
  {
    steps: [
      { id: "build", type: "bash", command: "echo building" },
      { id: "ship", type: "approval", prompt: "Ship it?" },
      { id: "done", type: "bash", command: "echo shipped" },
    ],
  },
  null,
  2,
);

export function Workflows() {
  const [list, setList] = useState<Workflow[] | null>(null);
  const [error, setError] = useState("");
  const [creating, setCreating] = useState(false);
  useEffect(() => {
    api<{ workflows: Workflow[] }>("GET", "/api/workflows")
      .then((r) => setList(r.workflows))
      .catch((e) => setError(e.message));
  }, []);
  return (
    <section>
      <div class="row between wrap">
        <h1>Workflows</h1>
        {!creating && (
          <button type="button" onClick={() => setCreating(true)}>
            New workflow
          </button>
        )}
      </div>
      <FormError message={error} />
      {creating && <NewWorkflow onCancel={() => setCreating(false)} />}
      {list && list.length === 0 && !creating && <p class="muted">No workflows yet.</p>}
      {list && list.length > 0 && (
        <ul class="sessions">
          {list.map((w) => (
            <li key={w.id}>
              <a href={`/workflows/${enc(w.id)}`}>
                <span class="title">{w.name}</span>
                <span class="muted small">{w.id}</span>
                <span class="muted small">v{w.version}</span>
                <span class="muted small">{w.data?.steps?.length ?? 0} steps</span>
                {!w.enabled && <span class="badge status-archived">disabled</span>}
                <span class="muted small">updated {when(w.updatedAt)}</span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function NewWorkflow({ onCancel }: { onCancel: () => void }) {
  const [text, setText] = useState(EXAMPLE);
  const [errs, setErrs] = useState<FieldErr[]>([]);
  const s = useSubmit(["id", "name", "slug"]);
  return (
    <form
      class="card"
      aria-label="New workflow"
      onSubmit={(e) => {
        const v = formValues(e);
        setErrs([]);
        s.run(async () => {
          const data = parseOrThrow(text);
          try {
            const r = await api<{ workflow: Workflow }>("POST", "/api/workflows/sync", { id: v.id, name: v.name, data });
            navigate(`/workflows/${enc(r.workflow.id)}`);
          } catch (e) {
            setErrs(stepErrors(e));
            throw e;
          }
        });
      }}
    >
      <h2>New workflow</h2>
      <div class="row wrap">
        <Field label="Id" name="id" required maxLength={100} pattern="[A-Za-z0-9._:\-]+" error={s.fieldErrors.id} hint="Letters, digits, . _ : -" />
        <Field label="Name" name="name" required error={s.fieldErrors.name} />
      </div>
      <JsonEditor label="Definition" value={text} onInput={setText} errors={errs} />
      <FormError message={errs.length ? "" : s.formError} />
      <div class="row">
        <button type="submit" disabled={s.busy}>
          Create workflow
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function parseOrThrow(text: string): any {
  try {
    return JSON.parse(text);
  } catch (e: any) {
    throw new Error("The definition is not valid JSON: " + e.message);
  }
}

function stepErrors(e: unknown): FieldErr[] {
  if (!(e instanceof ApiError)) return [];
  const list = e.body?.details?.errors;
  if (Array.isArray(list) && list.length) return list;
  return [];
}

/**
 * A JSON textarea with line numbers; the server's validation errors are
 * listed under it, each with its line, and a click selects the failing value.
 */
export function JsonEditor({
  label,
  value,
  onInput,
  errors,
}: {
  label: string;
  value: string;
  onInput: (s: string) => void;
  errors: FieldErr[];
}) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  let syntax = "";
  try {
    JSON.parse(value);
  } catch (e: any) {
    syntax = e.message;
  }
  const lines = value.split("\n").length;
  const located = errors.map((er) => {
    const sp = locate(value, er.path);
    return { ...er, span: sp, line: sp ? lineOf(value, sp.start) : null };
  });
  const bad = new Set(located.map((l) => l.line));
  const select = (start: number, end: number) => {
    const ta = ref.current!;
    ta.focus();
    ta.setSelectionRange(start, end);
    const line = lineOf(value, start);
    ta.scrollTop = Math.max(0, (line - 3) * parseFloat(getComputedStyle(ta).lineHeight || "20"));
  };
  return (
    <div class="field">
      <label for="json-editor">{label}</label>
      <div class="json-editor">
        <div class="gutter" aria-hidden="true" ref={gutter}>
          {Array.from({ length: lines }, (_, i) => (
            <div class={bad.has(i + 1) ? "bad" : undefined}>{i + 1}</div>
          ))}
        </div>
        <textarea
          id="json-editor"
          ref={ref}
          spellcheck={false}
          rows={Math.min(30, Math.max(10, lines + 1))}
          value={value}
          aria-invalid={errors.length || syntax ? "true" : undefined}
          aria-describedby={errors.length || syntax ? "json-editor-errors" : undefined}
          onInput={(e) => onInput(e.currentTarget.value)}
          onScroll={(e) => gutter.current && (gutter.current.scrollTop = e.currentTarget.scrollTop)}
        />
      </div>
      <div id="json-editor-errors">
        {syntax && <p class="field-error">JSON: {syntax}</p>}
        {located.length > 0 && (
          <div role="alert">
            <ul class="step-errors">
              {located.map((l) => (
                <li>
                  {l.span ? (
                    <button type="button" class="link" onClick={() => select(l.span!.start, l.span!.end)}>
                      Line {l.line}
                    </button>
                  ) : null}{" "}
                  <code>{l.path || "data"}</code>: {l.message}
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
    </div>
  );
}

export function WorkflowView({ id }: { id: string }) {
  const [wf, setWf] = useState<Workflow | null>(null);
  const [missing, setMissing] = useState(false);
  const [notice, setNotice] = useState("");
  const [rev, setRev] = useState(0);
  const load = () =>
    api<{ workflow: Workflow }>("GET", `/api/workflows/${enc(id)}`)
      .then((r) => setWf(r.workflow))
      .catch((e) => (e instanceof ApiError && e.status === 404 ? setMissing(true) : setNotice(e.message)));
  useEffect(() => {
    load();
  }, [id]);
  const changed = () => {
    load();
    setRev((r) => r + 1);
  };
  if (missing)
    return (
      <section>
        <h1>Workflow not found</h1>
        <p>
          <a href="/workflows">Back to workflows</a>
        </p>
      </section>
    );
  if (!wf) return <FormError message={notice} />;
  const run = async () => {
    setNotice("");
    try {
      const r = await api<{ executionId: string }>("POST", "/api/triggers/manual/run", { workflowId: wf.id });
      navigate(`/executions/${enc(r.executionId)}`);
    } catch (e: any) {
      setNotice(e.message);
    }
  };
  const toggle = async () => {
    try {
      await api("PUT", `/api/workflows/${enc(wf.id)}`, { enabled: !wf.enabled });
      changed();
    } catch (e: any) {
      setNotice(e.message);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the workflow "${wf.name}" with its triggers and history?`)) return;
    try {
      await api("DELETE", `/api/workflows/${enc(wf.id)}`);
      navigate("/workflows");
    } catch (e: any) {
      setNotice(e.message);
    }
  };
  return (
    <section>
      <p class="small">
        <a href="/workflows">Workflows</a> /
      </p>
      <div class="session-head">
        <h1>{wf.name}</h1>
        <span class="muted small">
          v{wf.version} · <code>{wf.workflowHash.slice(0, 15)}</code>
        </span>
        {!wf.enabled && <span class="badge status-archived">disabled</span>}
        <span class="spacer" />
        <button type="button" onClick={run} disabled={!wf.enabled}>
          Run now
        </button>
        <button type="button" class="secondary" onClick={toggle}>
          {wf.enabled ? "Disable" : "Enable"}
        </button>
        <button type="button" class="danger" onClick={remove}>
          Delete
        </button>
      </div>
      <FormError message={notice} />
      <Definition key={wf.workflowHash} wf={wf} onSaved={changed} />
      <Triggers wf={wf} />
      <Executions workflowId={wf.id} rev={rev} />
      <History wf={wf} rev={rev} onRolledBack={changed} />
    </section>
  );
}

function Definition({ wf, onSaved }: { wf: Workflow; onSaved: () => void }) {
  const [text, setText] = useState(() => JSON.stringify(wf.data, null, 2));
  const [errs, setErrs] = useState<FieldErr[]>([]);
  const [saved, setSaved] = useState("");
  const s = useSubmit();
  return (
    <form
      aria-labelledby="def-h"
      onSubmit={(e) => {
        e.preventDefault();
        setErrs([]);
        setSaved("");
        s.run(async () => {
          const data = parseOrThrow(text);
          try {
            await api("PUT", `/api/workflows/${enc(wf.id)}`, { data });
            setSaved("Saved.");
            onSaved();
          } catch (e) {
            setErrs(stepErrors(e));
            throw e;
          }
        });
      }}
    >
      <h2 id="def-h">Definition</h2>
      <JsonEditor label="Steps (JSON)" value={text} onInput={setText} errors={errs} />
      <FormError message={errs.length ? "" : s.formError} />
      <div class="row">
        <button type="submit" disabled={s.busy}>
          Save definition
        </button>
        <span class="muted small" aria-live="polite">
          {saved}
        </span>
      </div>
    </form>
  );
}

function History({ wf, rev, onRolledBack }: { wf: Workflow; rev: number; onRolledBack: () => void }) {
  const [items, setItems] = useState<Snapshot[]>([]);
  const [current, setCurrent] = useState("");
  const [notice, setNotice] = useState("");
  useEffect(() => {
    api<{ currentWorkflowHash: string; history: Snapshot[] }>("GET", `/api/workflows/${enc(wf.id)}/history?limit=50`)
      .then((r) => {
        setItems(r.history);
        setCurrent(r.currentWorkflowHash);
      })
      .catch((e) => setNotice(e.message));
  }, [wf.id, rev]);
  const rollback = async (h: Snapshot) => {
    if (!confirm(`Restore the definition of version ${h.version}?`)) return;
    try {
      const r = await api<{ message?: string }>("POST", `/api/workflows/${enc(wf.id)}/rollback`, { targetWorkflowHash: h.workflowHash });
      setNotice(r.message ?? "");
      onRolledBack();
    } catch (e: any) {
      setNotice(e.message);
    }
  };
  return (
    <>
      <h2>History</h2>
      <FormError message={notice} />
      {items.length === 0 ? (
        <p class="muted">No history yet.</p>
      ) : (
        <table aria-label="Version history">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Change</th>
              <th scope="col">When</th>
              <th scope="col">Hash</th>
              <th scope="col">
                <span class="sr-only">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((h) => (
              <tr key={h.id}>
                <td>{h.version}</td>
                <td>{h.source}</td>
                <td>{when(h.createdAt)}</td>
                <td>
                  <code>{h.workflowHash.slice(7, 15)}</code>
                </td>
                <td>
                  {h.workflowHash === current ? (
                    <span class="muted small">current</span>
                  ) : (
                    <button type="button" class="link" onClick={() => rollback(h)}>
                      Roll back to v{h.version}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Executions({ workflowId, rev }: { workflowId: string; rev: number }) {
  const [items, setItems] = useState<Execution[]>([]);
  const load = () =>
    api<{ executions: Execution[] }>("GET", `/api/workflows/${enc(workflowId)}/executions?limit=20`)
      .then((r) => setItems(r.executions))
      .catch(() => {});
  useEffect(() => {
    load();
  }, [workflowId, rev]);
  usePoll(load, 3000, items.some((x) => !FINAL.includes(x.status)));
  return (
    <>
      <h2>Executions</h2>
      {items.length === 0 ? <p class="muted">No runs yet.</p> : <ExecutionList items={items} />}
    </>
  );
}

export function ExecutionList({ items, showWorkflow }: { items: Execution[]; showWorkflow?: boolean }) {
  return (
    <ul class="sessions" aria-label="Executions">
      {items.map((x) => (
        <li key={x.id}>
          <a href={`/executions/${enc(x.id)}`}>
            <span class="title">{showWorkflow ? x.workflowName : `Run ${x.id.slice(0, 8)}`}</span>
            <StatusBadge status={x.status} />
            <span class="muted small">{x.triggerType}</span>
            <span class="muted small">{when(x.startedAt)}</span>
            {x.error && <span class="error-text small">{x.error}</span>}
          </a>
        </li>
      ))}
    </ul>
  );
}

// ---- triggers

function randomSecret(): string {
  const b = new Uint8Array(24);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function Triggers({ wf }: { wf: Workflow }) {
  const [items, setItems] = useState<Trigger[]>([]);
  const [editing, setEditing] = useState<Trigger | "new" | null>(null);
  const [shownSecret, setShownSecret] = useState<{ id: string; secret: string } | null>(null);
  const [notice, setNotice] = useState("");
  const load = () =>
    api<{ triggers: Trigger[] }>("GET", `/api/triggers?workflowId=${enc(wf.id)}`)
      .then((r) => setItems(r.triggers))
      .catch((e) => setNotice(e.message));
  useEffect(() => {
    load();
  }, [wf.id]);
  const act = async (fn: () => Promise<unknown>) => {
    setNotice("");
    try {
      await fn();
    } catch (e: any) {
      setNotice(e.message);
    }
    load();
  };
  return (
    <>
      <div class="row between">
        <h2>Triggers</h2>
        {editing === null && (
          <button type="button" class="secondary" onClick={() => setEditing("new")}>
            Add trigger
          </button>
        )}
      </div>
      <FormError message={notice} />
      {editing !== null && (
        <TriggerForm
          wf={wf}
          trigger={editing === "new" ? null : editing}
          onDone={(t, secret) => {
            setEditing(null);
            if (t && secret) setShownSecret({ id: t.id, secret });
            load();
          }}
        />
      )}
      {items.length === 0 && editing === null && <p class="muted">No triggers: run the workflow by hand, or add a webhook or schedule.</p>}
      <ul class="plain" aria-label="Triggers">
        {items.map((t) => (
          <li key={t.id} class="trigger">
            <div class="row wrap">
              <strong>{t.name}</strong>
              <span class="badge">{t.type}</span>
              {!t.enabled && <span class="badge status-archived">disabled</span>}
              <span class="spacer" />
              {t.type === "manual" && (
                <button
                  type="button"
                  class="secondary small-btn"
                  onClick={() =>
                    act(async () => {
                      const r = await api<{ executionId: string }>("POST", `/api/triggers/${enc(t.id)}/run`, {});
                      navigate(`/executions/${enc(r.executionId)}`);
                    })
                  }
                >
                  Run
                </button>
              )}
              <button type="button" class="link" onClick={() => setEditing(t)}>
                Edit <span class="sr-only">{t.name}</span>
              </button>
              <button type="button" class="link" onClick={() => act(() => api("POST", `/api/triggers/${enc(t.id)}/${t.enabled ? "disable" : "enable"}`))}>
                {t.enabled ? "Disable" : "Enable"} <span class="sr-only">{t.name}</span>
              </button>
              <button
                type="button"
                class="link danger-text"
                onClick={() => confirm(`Delete the trigger "${t.name}"?`) && act(() => api("DELETE", `/api/triggers/${enc(t.id)}`))}
              >
                Delete <span class="sr-only">{t.name}</span>
              </button>
            </div>
            {t.type === "webhook" && (
              <div class="small">
                <div class="row wrap">
                  <span>
                    {t.config.method ?? "POST"} <code class="secret">{t.webhookUrl}</code>
                  </span>
                  <CopyButton text={t.webhookUrl ?? ""} label={`Copy the webhook URL of ${t.name}`} />
                </div>
                {shownSecret?.id === t.id ? (
                  <div class="notice">
                    <p>
                      Signing secret (shown once; the server keeps it sealed). Sign each body with HMAC-SHA256 and send the hex in{" "}
                      <code>X-Webhook-Signature</code>.
                    </p>
                    <div class="row wrap">
                      <code class="secret">{shownSecret.secret}</code>
                      <CopyButton text={shownSecret.secret} label="Copy the signing secret" />
                    </div>
                  </div>
                ) : (
                  <p class="muted">{t.config.hasSecret ? "Signed with a secret (not shown again; edit to replace it)." : "No signing secret."}</p>
                )}
              </div>
            )}
            {t.type === "schedule" && (
              <div class="small">
                <p>
                  <code>{t.config.cron}</code> ({t.config.timezone || "UTC"})
                </p>
                {t.nextRuns && t.nextRuns.length > 0 && (
                  <>
                    <p class="muted">Next runs:</p>
                    <ol class="next-runs" aria-label={`Next runs of ${t.name}`}>
                      {t.nextRuns.map((r) => (
                        <li>
                          <time dateTime={r}>{new Date(r).toLocaleString()}</time>
                        </li>
                      ))}
                    </ol>
                  </>
                )}
              </div>
            )}
            {t.lastRunAt && <p class="muted small">Last run {when(t.lastRunAt)}</p>}
          </li>
        ))}
      </ul>
    </>
  );
}

function TriggerForm({ wf, trigger, onDone }: { wf: Workflow; trigger: Trigger | null; onDone: (t: Trigger | null, secret?: string) => void }) {
  const [type, setType] = useState<Trigger["type"]>(trigger?.type ?? "manual");
  const [secret, setSecret] = useState(trigger ? "" : randomSecret());
  const s = useSubmit(["name", "config.path", "config.method", "config.cron", "config.timezone", "config.secret", "variableMapping"]);
  const c = trigger?.config ?? {};
  return (
    <form
      class="card"
      aria-label={trigger ? "Edit trigger" : "New trigger"}
      onSubmit={(e) => {
        const v = formValues(e);
        s.run(async () => {
          const config: any = { type };
          if (type === "webhook") {
            config.path = v.path;
            config.method = v.method;
            if (secret) config.secret = secret;
          } else if (type === "schedule") {
            config.cron = v.cron;
            if (v.timezone) config.timezone = v.timezone;
          }
          const body = { workflowId: wf.id, name: v.name, config };
          if (trigger) {
            const r = await api<{ trigger: Trigger }>("PATCH", `/api/triggers/${enc(trigger.id)}`, body);
            onDone(r.trigger, type === "webhook" && secret ? secret : undefined);
          } else {
            const t = await api<Trigger>("POST", "/api/triggers", body);
            onDone(t, type === "webhook" && secret ? secret : undefined);
          }
        });
      }}
    >
      <h3>{trigger ? `Edit ${trigger.name}` : "New trigger"}</h3>
      <Field label="Trigger name" name="name" required defaultValue={trigger?.name ?? ""} error={s.fieldErrors.name} />
      <Select label="Type" name="type" value={type} onChange={(e: any) => setType(e.currentTarget.value)} disabled={!!trigger}>
        <option value="manual">Manual (a button)</option>
        <option value="webhook">Webhook</option>
        <option value="schedule">Schedule (cron)</option>
      </Select>
      {type === "webhook" && (
        <>
          <Field
            label="Webhook path"
            name="path"
            required
            defaultValue={c.path ?? `${wf.id.replace(/[^A-Za-z0-9._~-]/g, "-")}-${Math.random().toString(36).slice(2, 8)}`}
            error={s.fieldErrors["config.path"]}
            hint="The URL will be /webhooks/<path>; unique on this server."
          />
          <Select label="Method" name="method" defaultValue={c.method ?? "POST"} error={s.fieldErrors["config.method"]}>
            {["POST", "GET", "PUT", "PATCH", "DELETE"].map((m) => (
              <option value={m}>{m}</option>
            ))}
          </Select>
          <Field
            label="Signing secret"
            name="secret"
            value={secret}
            onInput={(e: any) => setSecret(e.currentTarget.value)}
            error={s.fieldErrors["config.secret"]}
            hint={trigger ? "Leave empty to keep the current secret." : "Generated for you; you can copy it after saving."}
            autoComplete="off"
          />
          <div class="row">
            <button type="button" class="secondary small-btn" onClick={() => setSecret(randomSecret())}>
              Generate a new secret
            </button>
          </div>
        </>
      )}
      {type === "schedule" && (
        <>
          <Field
            label="Cron expression"
            name="cron"
            required
            defaultValue={c.cron ?? "0 9 * * 1-5"}
            error={s.fieldErrors["config.cron"]}
            hint="minute hour day-of-month month day-of-week"
          />
          <Field
            label="Time zone"
            name="timezone"
            defaultValue={c.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC"}
            error={s.fieldErrors["config.timezone"]}
          />
        </>
      )}
      <FormError message={s.formError} />
      <div class="row">
        <button type="submit" disabled={s.busy}>
          {trigger ? "Save trigger" : "Create trigger"}
        </button>
        <button type="button" class="secondary" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

// ---- one execution

export function ExecutionView({ id }: { id: string }) {
  const [x, setX] = useState<Execution | null>(null);
  const [error, setError] = useState("");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const load = () =>
    api<{ execution: Execution }>("GET", `/api/executions/${enc(id)}`)
      .then((r) => setX(r.execution))
      .catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, [id]);
  usePoll(load, 1500, !!x && !FINAL.includes(x.status));
  if (!x) return <FormError message={error} />;
  const decide = async (approve: boolean) => {
    setBusy(true);
    setError("");
    try {
      await api("POST", `/api/executions/${enc(id)}/approve`, { approve, resumeToken: x.resumeToken, reason: reason || undefined });
      await load();
    } catch (e: any) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  const cancel = async () => {
    try {
      await api("POST", `/api/executions/${enc(id)}/cancel`, {});
      load();
    } catch (e: any) {
      setError(e.message);
    }
  };
  const steps = [...(x.steps ?? [])].sort((a, b) => a.sequence - b.sequence);
  return (
    <section>
      <p class="small">
        <a href="/workflows">Workflows</a> / <a href={`/workflows/${enc(x.workflowId)}`}>{x.workflowName}</a> /
      </p>
      <div class="session-head">
        <h1>Run {x.id.slice(0, 8)}</h1>
        <span aria-live="polite">
          <StatusBadge status={x.status} />
        </span>
        <span class="muted small">
          {x.triggerName ? `${x.triggerName} (${x.triggerType})` : x.triggerType} · started {when(x.startedAt)}
          {x.completedAt && ` · ended ${when(x.completedAt)}`}
        </span>
        <span class="spacer" />
        {!FINAL.includes(x.status) && (
          <button type="button" class="danger" onClick={() => confirm("Cancel this run?") && cancel()}>
            Cancel run
          </button>
        )}
      </div>
      {x.sessionId && (
        <p class="small">
          Runs in <a href={`/sessions/${enc(x.sessionId)}`}>its session</a>.
        </p>
      )}
      {x.error && (
        <p class="form-error" role="alert">
          {x.error}
        </p>
      )}
      <FormError message={error} />
      {x.status === "waiting_approval" && x.approval && (
        <div class="question" role="region" aria-label="Approval">
          <p class="q-title">{x.approval.prompt || "Approve this step?"}</p>
          <p class="muted small">
            Step <code>{x.approval.stepId}</code>, asked {when(x.approval.requestedAt)}
          </p>
          <Field label="Reason (optional)" name="reason" value={reason} onInput={(e: any) => setReason(e.currentTarget.value)} />
          <div class="row">
            <button type="button" disabled={busy} onClick={() => decide(true)}>
              Approve
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => decide(false)}>
              Deny
            </button>
          </div>
        </div>
      )}
      <h2>Step trace</h2>
      {steps.length === 0 ? (
        <p class="muted">No step has run yet.</p>
      ) : (
        <ol class="trace" aria-label="Step trace">
          {steps.map((st) => (
            <li key={st.id}>
              <details class={"tool tool-" + st.status}>
                <summary>
                  <span class="tool-name">{st.stepId}</span> <StatusBadge status={st.status} />
                  {st.attempt > 1 && <span class="muted small"> attempt {st.attempt}</span>}
                  {st.startedAt && st.completedAt && (
                    <span class="muted small"> · {Math.max(0, new Date(st.completedAt).getTime() - new Date(st.startedAt).getTime())} ms</span>
                  )}
                </summary>
                {st.input != null && (
                  <>
                    <p class="small muted">Input</p>
                    <pre>{fmt(st.input)}</pre>
                  </>
                )}
                {st.output != null && (
                  <>
                    <p class="small muted">Output</p>
                    <pre>{fmt(st.output)}</pre>
                  </>
                )}
                {st.error != null && (
                  <>
                    <p class="small muted">Error</p>
                    <pre class="error-text">{fmt(st.error)}</pre>
                  </>
                )}
              </details>
            </li>
          ))}
        </ol>
      )}
      {x.variables && Object.keys(x.variables).length > 0 && (
        <details>
          <summary>Variables</summary>
          <pre>{fmt(x.variables)}</pre>
        </details>
      )}
      {x.outputs && Object.keys(x.outputs).length > 0 && (
        <details>
          <summary>Outputs</summary>
          <pre>{fmt(x.outputs)}</pre>
        </details>
      )}
    </section>
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
