import { useEffect, useState } from "preact/hooks";
import { api, ApiError, auth } from "../api";
import { FormError } from "../ui";

type Artifact = { key: string; size: number; uploaded: string };
const enc = encodeURIComponent;
const keyPath = (k: string) => k.split("/").map(enc).join("/");

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A session's artifacts: list, upload with progress (XHR: fetch cannot report upload progress), download, delete. */
export function Artifacts({ id }: { id: string }) {
  const [items, setItems] = useState<Artifact[] | null>(null);
  const [cursor, setCursor] = useState<string | undefined>();
  const [progress, setProgress] = useState<{ name: string; loaded: number; total: number } | null>(null);
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const load = (more = false) => {
    const q = new URLSearchParams({ sessionId: id, limit: "100" });
    if (more && cursor) q.set("cursor", cursor);
    api<{ files: Artifact[]; cursor?: string }>("GET", "/api/files/backup?" + q)
      .then((r) => {
        setItems((old) => (more && old ? [...old, ...r.files] : r.files));
        setCursor(r.cursor);
      })
      .catch((e) => setError(e.message));
  };
  useEffect(() => load(), [id]);

  const upload = (file: File) => {
    setError("");
    setDone("");
    setProgress({ name: file.name, loaded: 0, total: file.size });
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/files/backup/${keyPath(file.name)}?sessionId=${enc(id)}`);
    xhr.setRequestHeader("Authorization", "Bearer " + (auth.token() ?? ""));
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (e) => setProgress({ name: file.name, loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.onload = () => {
      setProgress(null);
      if (xhr.status >= 200 && xhr.status < 300) {
        setDone(`Uploaded ${file.name}.`);
        load();
      } else {
        let msg = `${xhr.status} ${xhr.statusText}`;
        try {
          msg = JSON.parse(xhr.responseText).error ?? msg;
        } catch {}
        setError(`${file.name}: ${msg}`);
      }
    };
    xhr.onerror = () => {
      setProgress(null);
      setError("The upload failed: the server cannot be reached.");
    };
    xhr.send(file);
  };

  // The download needs the bearer header, so it is fetched and handed to
  // the browser as a blob URL with the artifact's name.
  const download = async (a: Artifact) => {
    setError("");
    try {
      const r = await fetch(`/api/files/backup/${keyPath(a.key)}?sessionId=${enc(id)}`, { headers: { Authorization: "Bearer " + (auth.token() ?? "") } });
      if (!r.ok) throw new ApiError(r.status, "HTTP_" + r.status, (await r.json().catch(() => null))?.error ?? r.statusText);
      const url = URL.createObjectURL(await r.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = a.key.split("/").pop() ?? a.key;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e: any) {
      setError(e.message);
    }
  };
  const remove = async (a: Artifact) => {
    if (!confirm(`Delete ${a.key}?`)) return;
    try {
      await api("DELETE", `/api/files/backup/${keyPath(a.key)}?sessionId=${enc(id)}`);
      load();
    } catch (e: any) {
      setError(e.message);
    }
  };
  return (
    <div class="artifacts">
      <div class="field">
        <label for="artifact-upload">Upload an artifact</label>
        <input
          id="artifact-upload"
          type="file"
          disabled={!!progress}
          onChange={(e) => {
            const f = e.currentTarget.files?.[0];
            if (f) upload(f);
            e.currentTarget.value = "";
          }}
        />
      </div>
      {progress && (
        <div class="row">
          <label for="upload-progress" class="small">
            Uploading {progress.name}
          </label>
          <progress id="upload-progress" max={progress.total || 1} value={progress.loaded} />
          <span class="small">{progress.total ? Math.round((100 * progress.loaded) / progress.total) : 0}%</span>
        </div>
      )}
      <p class="ok-text small" aria-live="polite">
        {done}
      </p>
      <FormError message={error} />
      {items && items.length === 0 && <p class="muted">No artifacts yet.</p>}
      {items && items.length > 0 && (
        <table aria-label="Artifacts">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Size</th>
              <th scope="col">Uploaded</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((a) => (
              <tr key={a.key}>
                <td class="mono">{a.key}</td>
                <td>{size(a.size)}</td>
                <td>{new Date(a.uploaded).toLocaleString()}</td>
                <td class="row">
                  <button type="button" class="link" onClick={() => download(a)}>
                    Download <span class="sr-only">{a.key}</span>
                  </button>
                  <button type="button" class="link danger-text" onClick={() => remove(a)}>
                    Delete <span class="sr-only">{a.key}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" class="secondary" onClick={() => load(true)}>
          Load more
        </button>
      )}
    </div>
  );
}
