import { useEffect, useMemo, useState } from "preact/hooks";
import { api } from "../api";
import { FormError } from "../ui";
import { highlightLines, languageOf } from "./highlight";

type Entry = { name: string; path: string; type: "file" | "directory" };
const enc = encodeURIComponent;

/** Browse the session's workspace (/api/files/list) and view a file (/api/files/read). */
export function FileBrowser({ id }: { id: string }) {
  const [dir, setDir] = useState("");
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [file, setFile] = useState<string | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    setError("");
    api<{ files: Entry[]; truncated?: boolean }>("GET", `/api/files/list?sessionId=${enc(id)}&path=${enc(dir)}`)
      .then((r) => {
        setEntries(r.files);
        setTruncated(!!r.truncated);
      })
      .catch((e) => setError(e.message));
  }, [id, dir]);
  const parts = dir.split("/").filter(Boolean);
  return (
    <div class="files-panel">
      <nav aria-label="Workspace folder" class="crumbs small">
        <button type="button" class="link" onClick={() => (setDir(""), setFile(null))}>
          workspace
        </button>
        {parts.map((p, i) => (
          <>
            {" / "}
            <button type="button" class="link" onClick={() => (setDir(parts.slice(0, i + 1).join("/")), setFile(null))}>
              {p}
            </button>
          </>
        ))}
      </nav>
      <FormError message={error} />
      <div class="files-cols">
        <ul class="plain tree" aria-label="Workspace files">
          {dir && (
            <li>
              <button type="button" class="link" onClick={() => setDir(parts.slice(0, -1).join("/"))}>
                ..
              </button>
            </li>
          )}
          {(entries ?? []).map((e) => (
            <li key={e.path}>
              <button
                type="button"
                class={"link" + (file === e.path ? " current" : "")}
                onClick={() => (e.type === "directory" ? (setDir(e.path), setFile(null)) : setFile(e.path))}
              >
                {e.type === "directory" ? `${e.name}/` : e.name}
              </button>
            </li>
          ))}
          {entries && entries.length === 0 && <li class="muted">Empty folder.</li>}
          {truncated && <li class="muted small">More entries than can be shown.</li>}
        </ul>
        {file && <FileView key={file} id={id} path={file} />}
      </div>
    </div>
  );
}

function FileView({ id, path }: { id: string; path: string }) {
  const [f, setF] = useState<{ content: string; encoding?: string } | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<{ content: string; encoding?: string }>("GET", `/api/files/read?sessionId=${enc(id)}&path=${enc(path)}`)
      .then(setF)
      .catch((e) => setError(e.message));
  }, [id, path]);
  const lines = useMemo(() => (f && f.encoding !== "base64" ? highlightLines(f.content.replace(/\n$/, "").split("\n"), languageOf(path)) : []), [f, path]);
  return (
    <div class="file-view" role="region" aria-label={`File ${path}`}>
      <h3 class="mono">{path}</h3>
      <FormError message={error} />
      {f?.encoding === "base64" && <p class="muted">Binary file ({Math.floor((f.content.length * 3) / 4)} bytes): not shown.</p>}
      {f && f.encoding !== "base64" && (
        <table class="diff-table">
          <tbody>
            {lines.map((html, i) => (
              <tr>
                <td class="num">{i + 1}</td>
                <td class="code hljs" dangerouslySetInnerHTML={{ __html: html || " " }} />
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
