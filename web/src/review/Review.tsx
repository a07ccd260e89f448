import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { FormError } from "../ui";
import { parseDiff, pairLines, type Hunk, type Line } from "./diff";
import { highlightLines, languageOf } from "./highlight";
import { SESSION_FRAME } from "../events";

type Changed = { filePath: string; oldPath?: string; status: string; additions: number; deletions: number; binary?: boolean };
type DiffFile = { path: string; oldPath?: string; status: string; binary?: boolean; diff?: string; truncated?: boolean };
type GitState = { branch?: string; baseBranch?: string; sourceRepoUrl?: string; commitCount?: number; dirtyFiles?: number; prUrl?: string; prNumber?: number };

const enc = encodeURIComponent;

const CODES: Record<string, string> = {
  TURN_RUNNING: "The agent is in the middle of a turn: wait for it to finish, then try again.",
  SESSION_HIBERNATED: "The session is hibernated: wake it first.",
  RUNNER_NOT_READY: "The runner is not ready yet: try again in a moment.",
};
const say = (e: any) => (e instanceof ApiError && CODES[e.code] ? `${CODES[e.code]} (${e.message})` : e?.message ?? String(e));

export function Review({ id, live }: { id: string; live: boolean }) {
  const [files, setFiles] = useState<Changed[] | null>(null);
  const [git, setGit] = useState<GitState | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState("");
  const [pr, setPr] = useState<{ number: number; url: string; title?: string } | null>(null);
  const load = () => {
    api<{ files: Changed[] }>("GET", `/api/sessions/${enc(id)}/files-changed`)
      .then((r) => setFiles(r.files))
      .catch((e) => setError(say(e)));
    api<{ gitState: GitState | null }>("GET", `/api/sessions/${enc(id)}/git-state`)
      .then((r) => setGit(r.gitState))
      .catch(() => {});
  };
  useEffect(() => {
    load();
    const on = (ev: Event) => {
      const f = (ev as CustomEvent).detail;
      // The frame's entries name the file `path`; the REST list's `filePath`.
      if (f.type === "files-changed") setFiles((f.files ?? []).map((x: any) => ({ ...x, filePath: x.filePath ?? x.path })));
      else if (f.type === "git-state") setGit((g) => ({ ...g, ...(f.data ?? {}) }));
      else if (f.type === "pr-created") setPr(f.pr ?? f.data?.pr ?? f.data ?? null);
    };
    addEventListener(SESSION_FRAME, on);
    return () => removeEventListener(SESSION_FRAME, on);
  }, [id]);
  const sel = files?.find((f) => f.filePath === selected) ?? null;
  return (
    <div class="review">
      <div class="row between wrap">
        <p class="small muted">
          {git?.branch ? (
            <>
              Branch <code>{git.branch}</code>
              {git.baseBranch && (
                <>
                  {" "}
                  from <code>{git.baseBranch}</code>
                </>
              )}
              {typeof git.commitCount === "number" && ` · ${git.commitCount} commits`}
              {typeof git.dirtyFiles === "number" && ` · ${git.dirtyFiles} uncommitted`}
            </>
          ) : (
            "No git state reported yet."
          )}
        </p>
        <button type="button" class="secondary small-btn" onClick={load}>
          Refresh
        </button>
      </div>
      <FormError message={error} />
      {files && files.length === 0 && <p class="muted">No changes against the base commit.</p>}
      {files && files.length > 0 && (
        <ul class="changed" aria-label="Changed files">
          {files.map((f) => (
            <li key={f.filePath}>
              <button
                type="button"
                class={"link file-link" + (selected === f.filePath ? " current" : "")}
                aria-pressed={selected === f.filePath ? "true" : "false"}
                onClick={() => setSelected(selected === f.filePath ? null : f.filePath)}
              >
                {f.oldPath ? `${f.oldPath} → ${f.filePath}` : f.filePath}
              </button>{" "}
              <span class={"badge change-" + f.status}>{f.status}</span>{" "}
              {f.binary ? (
                <span class="muted small">binary</span>
              ) : (
                <span class="small">
                  <span class="add-text">+{f.additions}</span> <span class="del-text">−{f.deletions}</span>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {sel && <FileDiff key={sel.filePath + (files?.length ?? 0) + sel.additions + sel.deletions} id={id} file={sel} />}
      {live && <GitActions id={id} git={git} pr={pr} onDone={load} />}
    </div>
  );
}

function FileDiff({ id, file }: { id: string; file: Changed }) {
  const [d, setD] = useState<DiffFile | null>(null);
  const [error, setError] = useState("");
  const [mode, setMode] = useState<"unified" | "split">(() => (localStorage.getItem("agentops.diffMode") as any) || "unified");
  useEffect(() => {
    api<{ files: DiffFile[] }>("GET", `/api/sessions/${enc(id)}/diff?path=${enc(file.filePath)}`)
      .then((r) => setD(r.files.find((x) => x.path === file.filePath) ?? r.files[0] ?? null))
      .catch((e) => setError(say(e)));
  }, [id, file.filePath]);
  const choose = (m: "unified" | "split") => {
    setMode(m);
    localStorage.setItem("agentops.diffMode", m);
  };
  return (
    <div class="diff-box" role="region" aria-label={`Diff of ${file.filePath}`}>
      <div class="row between wrap">
        <h3 class="mono">{file.filePath}</h3>
        <div class="row" role="group" aria-label="Diff view">
          <button type="button" class="secondary small-btn" aria-pressed={mode === "unified" ? "true" : "false"} onClick={() => choose("unified")}>
            Unified
          </button>
          <button type="button" class="secondary small-btn" aria-pressed={mode === "split" ? "true" : "false"} onClick={() => choose("split")}>
            Side by side
          </button>
        </div>
      </div>
      <FormError message={error} />
      {!d && !error && <p class="muted">Loading the diff…</p>}
      {d?.binary && <p class="muted">Binary file: not shown.</p>}
      {d && !d.binary && d.diff !== undefined && <DiffView path={d.path} diff={d.diff} mode={mode} />}
      {d?.truncated && <p class="muted small">The diff is cut: it is too large to show whole.</p>}
    </div>
  );
}

type Rendered = Line & { html: string };

function highlightHunk(h: Hunk, lang: string | undefined): Rendered[] {
  const oldSide = h.lines.filter((l) => l.kind !== "add");
  const newSide = h.lines.filter((l) => l.kind !== "del");
  const oh = highlightLines(
    oldSide.map((l) => l.text),
    lang,
  );
  const nh = highlightLines(
    newSide.map((l) => l.text),
    lang,
  );
  let oi = 0;
  let ni = 0;
  return h.lines.map((l) => {
    if (l.kind === "del") return { ...l, html: oh[oi++] };
    if (l.kind === "add") return { ...l, html: nh[ni++] };
    oi++;
    return { ...l, html: nh[ni++] };
  });
}

export function DiffView({ path, diff, mode }: { path: string; diff: string; mode: "unified" | "split" }) {
  const hunks = useMemo(() => {
    const lang = languageOf(path);
    return parseDiff(diff).map((h) => ({ header: h.header, lines: highlightHunk(h, lang) }));
  }, [path, diff]);
  if (hunks.length === 0) return <p class="muted">No textual changes.</p>;
  const sign = (k: string) => (k === "add" ? "+" : k === "del" ? "−" : " ");
  const label = (k: string) => (k === "add" ? "added" : k === "del" ? "removed" : "");
  return (
    <div class={"diff diff-" + mode}>
      <table class="diff-table" aria-label={`${mode === "split" ? "Side-by-side" : "Unified"} diff of ${path}`}>
        {mode === "unified" ? (
          <thead class="sr-only">
            <tr>
              <th scope="col">Old line</th>
              <th scope="col">New line</th>
              <th scope="col">Change</th>
              <th scope="col">Code</th>
            </tr>
          </thead>
        ) : (
          <thead class="sr-only">
            <tr>
              <th scope="col">Old line</th>
              <th scope="col">Old code</th>
              <th scope="col">New line</th>
              <th scope="col">New code</th>
            </tr>
          </thead>
        )}
        {hunks.map((h) => (
          <tbody>
            <tr class="hunk">
              <td colSpan={4}>{h.header}</td>
            </tr>
            {mode === "unified"
              ? h.lines.map((l) => (
                  <tr class={"ln-" + l.kind}>
                    <td class="num">{l.old ?? ""}</td>
                    <td class="num">{l.new ?? ""}</td>
                    <td class="sign" aria-label={label(l.kind) || undefined}>
                      {sign(l.kind)}
                    </td>
                    <td class="code hljs" dangerouslySetInnerHTML={{ __html: l.html || " " }} />
                  </tr>
                ))
              : pairLines(h.lines).map(({ left, right }) => {
                  const L = left as Rendered | undefined;
                  const R = right as Rendered | undefined;
                  return (
                    <tr>
                      <td class={"num " + (L ? "ln-" + L.kind : "empty")}>{L?.old ?? ""}</td>
                      <td class={"code hljs " + (L ? "ln-" + L.kind : "empty")} dangerouslySetInnerHTML={{ __html: L ? L.html || " " : "" }} />
                      <td class={"num " + (R ? "ln-" + R.kind : "empty")}>{R?.new ?? ""}</td>
                      <td class={"code hljs " + (R ? "ln-" + R.kind : "empty")} dangerouslySetInnerHTML={{ __html: R ? R.html || " " : "" }} />
                    </tr>
                  );
                })}
          </tbody>
        ))}
      </table>
    </div>
  );
}

/**
 * Commit, push and open a pull request (issue 17's routes). Every error the
 * server gives is shown as it is, with a plain word for the 409 codes.
 */
function GitActions({ id, git, pr, onDone }: { id: string; git: GitState | null; pr: { number: number; url: string; title?: string } | null; onDone: () => void }) {
  const [message, setMessage] = useState("");
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [base, setBase] = useState("");
  const [repo, setRepo] = useState("");
  const [draft, setDraft] = useState(false);
  const [busy, setBusy] = useState("");
  const [error, setError] = useState("");
  const [ok, setOk] = useState("");
  const [made, setMade] = useState<{ number: number; url: string; title?: string } | null>(null);
  useEffect(() => {
    if (git?.sourceRepoUrl && !repo) setRepo(git.sourceRepoUrl);
    if (git?.baseBranch && !base) setBase(git.baseBranch);
  }, [git?.sourceRepoUrl, git?.baseBranch]);
  const shown = made ?? pr ?? (git?.prUrl ? { number: git.prNumber ?? 0, url: git.prUrl } : null);
  const run = async (what: string, fn: () => Promise<string>) => {
    setBusy(what);
    setError("");
    setOk("");
    try {
      setOk(await fn());
      onDone();
    } catch (e) {
      setError(say(e));
    } finally {
      setBusy("");
    }
  };
  return (
    <div class="git-actions">
      <h3>Commit and publish</h3>
      <form
        class="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          run("commit", async () => {
            const r = await api<{ commit: { sha: string; message: string } }>("POST", `/api/sessions/${enc(id)}/commit`, { message });
            setMessage("");
            return `Committed ${r.commit.sha.slice(0, 7)}: ${r.commit.message}`;
          });
        }}
      >
        <label for="commit-msg" class="sr-only">
          Commit message
        </label>
        <input id="commit-msg" value={message} placeholder="Commit message" required onInput={(e) => setMessage(e.currentTarget.value)} />
        <button type="submit" disabled={!!busy || !message.trim()}>
          Commit
        </button>
        <button
          type="button"
          class="secondary"
          disabled={!!busy}
          onClick={() =>
            run("push", async () => {
              const r = await api<{ branch: string; remote: string }>("POST", `/api/sessions/${enc(id)}/push`);
              return `Pushed ${r.branch} to ${r.remote}.`;
            })
          }
        >
          Push
        </button>
      </form>
      <details>
        <summary>Open a pull request</summary>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            run("pr", async () => {
              const r = await api<{ pr: { number: number; url: string; title: string; state: string } }>(
                "POST",
                `/api/repos/pull-request?repo=${enc(repo)}`,
                { branch: git?.branch || undefined, title, body: body || undefined, base: base || undefined, sessionId: id, draft },
              );
              setMade(r.pr);
              return `Opened pull request #${r.pr.number}.`;
            });
          }}
        >
          <div class="field">
            <label for="pr-repo">Repository URL</label>
            <input id="pr-repo" value={repo} required onInput={(e) => setRepo(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="pr-title">Title</label>
            <input id="pr-title" value={title} required onInput={(e) => setTitle(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="pr-body">Description</label>
            <textarea id="pr-body" rows={4} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="pr-base">Base branch</label>
            <input id="pr-base" value={base} placeholder="the repository's default" onInput={(e) => setBase(e.currentTarget.value)} />
          </div>
          <label class="inline-label">
            <input type="checkbox" checked={draft} onChange={(e) => setDraft(e.currentTarget.checked)} /> Draft
          </label>
          <button type="submit" disabled={!!busy || !title.trim() || !repo.trim()}>
            Open pull request
          </button>
        </form>
      </details>
      {busy && <p class="muted small">Working…</p>}
      <FormError message={error} />
      {ok && (
        <p class="ok-text" role="status">
          {ok}
        </p>
      )}
      {shown && (
        <p>
          Pull request:{" "}
          <a href={shown.url} target="_blank" rel="noopener noreferrer">
            #{shown.number} {shown.title ?? ""}
          </a>
        </p>
      )}
    </div>
  );
}
