import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError, when } from "../api";
import { renderMarkdown } from "../markdown";
import { navigate } from "../router";
import { Field, FormError, TextArea, useSubmit } from "../ui";

type Entry = { path: string; size: number; updatedAt: string; pinned: boolean };
type MemFile = { path: string; content: string; title: string; version: number; pinned: boolean; updatedAt: string; relevance: number };
type Hit = { path: string; snippet: string; relevance: number };

const enc = encodeURIComponent;

/** /memory?path=folder/ browses; /memory?file=a/b.md views one file; ?q= searches. */
export function Memory({ query }: { query: string }) {
  const q = new URLSearchParams(query);
  const file = q.get("file");
  const folder = q.get("path") ?? "";
  const search = q.get("q") ?? "";
  return (
    <section>
      <div class="row between wrap">
        <h1>Memory</h1>
        <button type="button" class="secondary" onClick={() => navigate("/memory?file=&new=1")}>
          New file
        </button>
      </div>
      <SearchBox initial={search} />
      {q.get("new") ? (
        <Editor file={null} />
      ) : file ? (
        <FileView key={file} path={file} />
      ) : search ? (
        <Results key={search} query={search} />
      ) : (
        <Browser key={folder} folder={folder} />
      )}
    </section>
  );
}

function SearchBox({ initial }: { initial: string }) {
  const [text, setText] = useState(initial);
  return (
    <form
      role="search"
      class="row"
      onSubmit={(e) => {
        e.preventDefault();
        navigate(text.trim() ? `/memory?q=${enc(text.trim())}` : "/memory");
      }}
    >
      <label for="mem-search" class="sr-only">
        Search memory
      </label>
      <input id="mem-search" type="search" value={text} placeholder="Search memory" onInput={(e) => setText(e.currentTarget.value)} />
      <button type="submit">Search</button>
    </form>
  );
}

function Crumbs({ path }: { path: string }) {
  const parts = path.split("/").filter(Boolean);
  return (
    <nav aria-label="Folder" class="crumbs small">
      <a href="/memory">memory</a>
      {parts.map((p, i) => {
        const to = parts.slice(0, i + 1).join("/");
        const last = i === parts.length - 1;
        return (
          <>
            {" / "}
            {last && !path.endsWith("/") ? <span>{p}</span> : <a href={`/memory?path=${enc(to + "/")}`}>{p}</a>}
          </>
        );
      })}
    </nav>
  );
}

function Browser({ folder }: { folder: string }) {
  const [files, setFiles] = useState<Entry[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<{ files: Entry[] }>("GET", `/api/me/memory?path=${enc(folder)}`)
      .then((r) => setFiles(r.files ?? []))
      .catch((e) => setError(e.message));
  }, [folder]);
  // The server lists every file under the folder; show its direct files
  // and the first segment of deeper paths as folders.
  const { dirs, here } = useMemo(() => {
    const dirs = new Map<string, number>();
    const here: Entry[] = [];
    for (const f of files ?? []) {
      const rest = f.path.slice(folder.length);
      const slash = rest.indexOf("/");
      if (slash < 0) here.push(f);
      else dirs.set(rest.slice(0, slash), (dirs.get(rest.slice(0, slash)) ?? 0) + 1);
    }
    return { dirs: [...dirs.entries()].sort(), here };
  }, [files, folder]);
  return (
    <>
      <Crumbs path={folder} />
      <FormError message={error} />
      {files && files.length === 0 && <p class="muted">No files here. Agents write memory as they work; you can add a file too.</p>}
      <ul class="plain files" aria-label="Files">
        {dirs.map(([d, n]) => (
          <li key={d}>
            <a href={`/memory?path=${enc(folder + d + "/")}`}>
              <span aria-hidden="true">📁 </span>
              {d}/
            </a>{" "}
            <span class="muted small">{n} files</span>
          </li>
        ))}
        {here.map((f) => (
          <li key={f.path}>
            <a href={`/memory?file=${enc(f.path)}`}>{f.path.slice(folder.length)}</a>{" "}
            <span class="muted small">
              {f.size} bytes · {when(f.updatedAt)}
              {f.pinned && " · pinned"}
            </span>
          </li>
        ))}
      </ul>
    </>
  );
}

function Results({ query }: { query: string }) {
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<{ results: Hit[] }>("GET", `/api/me/memory/search?query=${enc(query)}&limit=50`)
      .then((r) => setHits(r.results))
      .catch((e) => setError(e.message));
  }, [query]);
  return (
    <>
      <h2>Results for “{query}”</h2>
      <FormError message={error} />
      {hits && hits.length === 0 && <p class="muted">Nothing matches.</p>}
      <ol class="plain" aria-label="Search results">
        {(hits ?? []).map((h) => (
          <li key={h.path}>
            <a href={`/memory?file=${enc(h.path)}`}>{h.path}</a> <span class="muted small">{Math.round(h.relevance * 100)}%</span>
            <pre class="snippet">
              <Marked text={h.snippet} words={query} />
            </pre>
          </li>
        ))}
      </ol>
    </>
  );
}

/** The snippet with the query's words marked. */
function Marked({ text, words }: { text: string; words: string }) {
  const ws = words
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length >= 2);
  if (!ws.length) return <>{text}</>;
  const re = new RegExp(`(${ws.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "giu");
  const parts = text.split(re);
  return <>{parts.map((p, i) => (i % 2 ? <mark>{p}</mark> : p))}</>;
}

function FileView({ path }: { path: string }) {
  const [file, setFile] = useState<MemFile | null | undefined>(undefined);
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState("");
  const load = () =>
    api<{ file: MemFile | null }>("GET", `/api/me/memory?path=${enc(path)}`)
      .then((r) => setFile(r.file))
      .catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, [path]);
  const html = useMemo(() => (file ? renderMarkdown(file.content) : ""), [file?.content]);
  const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const remove = async () => {
    if (!confirm(`Delete ${path}?`)) return;
    try {
      await api("DELETE", `/api/me/memory?path=${enc(path)}`);
      navigate(folder ? `/memory?path=${enc(folder)}` : "/memory");
    } catch (e: any) {
      setError(e.message);
    }
  };
  if (file === undefined) return <FormError message={error} />;
  if (file === null)
    return (
      <>
        <Crumbs path={path} />
        <p>This file does not exist (any more).</p>
      </>
    );
  return (
    <>
      <Crumbs path={path} />
      <div class="session-head">
        <h2>{file.title || path}</h2>
        <span class="muted small">
          v{file.version} · {when(file.updatedAt)}
          {file.pinned && " · pinned"}
        </span>
        <span class="spacer" />
        {!editing && (
          <button type="button" class="secondary" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
        <button type="button" class="danger" onClick={remove}>
          Delete
        </button>
      </div>
      <FormError message={error} />
      {editing ? (
        <Editor
          file={file}
          onDone={() => {
            setEditing(false);
            load();
          }}
        />
      ) : (
        <div class="md memory-file" dangerouslySetInnerHTML={{ __html: html }} />
      )}
    </>
  );
}

function Editor({ file, onDone }: { file: MemFile | null; onDone?: () => void }) {
  const [content, setContent] = useState(file?.content ?? "");
  const s = useSubmit(["path", "content"]);
  return (
    <form
      aria-label={file ? "Edit file" : "New file"}
      onSubmit={(e) => {
        e.preventDefault();
        const fd = new FormData(e.currentTarget as HTMLFormElement);
        const path = file ? file.path : String(fd.get("path") ?? "");
        s.run(async () => {
          try {
            const r = await api<{ file: MemFile }>("PUT", "/api/me/memory", { path, content });
            if (onDone) onDone();
            else navigate(`/memory?file=${enc(r.file.path)}`);
          } catch (err) {
            if (err instanceof ApiError && !err.field) throw new ApiError(err.status, err.code, err.message, "content");
            throw err;
          }
        });
      }}
    >
      {!file && <h2>New file</h2>}
      {!file && <Field label="Path" name="path" required placeholder="notes/ideas.md" error={s.fieldErrors.path} />}
      <TextArea
        label="Content (markdown)"
        name="content"
        rows={16}
        value={content}
        onInput={(e: any) => setContent(e.currentTarget.value)}
        error={s.fieldErrors.content}
        class="mono"
      />
      <FormError message={s.formError} />
      <div class="row">
        <button type="submit" disabled={s.busy}>
          Save
        </button>
        <button type="button" class="secondary" onClick={() => (onDone ? onDone() : history.back())}>
          Cancel
        </button>
      </div>
    </form>
  );
}
