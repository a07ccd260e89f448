import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import { Field, FormError, Select, TextArea, formValues, useSubmit } from "../ui";

type ModelGroup = { provider: string; models: { id: string; name: string }[] };
type Agent = {
  id: string;
  name: string;
  installed: boolean | null;
  version?: string;
  usable: boolean;
  missingCredential?: string;
  models?: ModelGroup[];
};
type Available = { models: ModelGroup[]; agents?: Agent[] };
type Persona = { id: string; name: string; isDefault?: boolean };

const FIELDS = ["workspace", "title", "agent", "initialModel", "initialPrompt", "personaId", "repoUrl", "branch", "repoPath"];

/** The create-session dialog (a modal <dialog>: focus stays inside, Escape closes). */
export function CreateSession({ onClose, onCreated }: { onClose: () => void; onCreated: (id: string) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [avail, setAvail] = useState<Available | null>(null);
  const [personas, setPersonas] = useState<Persona[]>([]);
  const [agent, setAgent] = useState("");
  const [source, setSource] = useState<"empty" | "url" | "path">("empty");
  const f = useSubmit(FIELDS);

  useEffect(() => {
    ref.current?.showModal();
    api<Available>("GET", "/api/sessions/available-models")
      .then((a) => {
        setAvail(a);
        const first = a.agents?.find((x) => x.usable) ?? a.agents?.[0];
        if (first) setAgent(first.id);
      })
      .catch((e) => f.setFormError(e.message));
    api<{ personas: Persona[] }>("GET", "/api/personas")
      .then((r) => setPersonas(r.personas ?? []))
      .catch(() => {});
  }, []);

  const agents = avail?.agents;
  const current = agents?.find((a) => a.id === agent);
  // An agent's models come grouped by provider, as the top-level list does.
  const models: { id: string; name: string }[] = (current?.models ?? avail?.models ?? []).flatMap((g) =>
    g.models.map((m) => ({ id: m.id, name: `${m.name} (${g.provider})` })),
  );
  let agentHint = "";
  if (current && current.installed === false)
    agentHint = `${current.name} is not installed on this server. Install it with: agentops agents install ${current.id}`;
  else if (current && !current.usable)
    agentHint = `${current.name} has no usable key${current.missingCredential ? ` (${current.missingCredential})` : ""}: add one in Settings → Provider keys.`;

  return (
    <dialog ref={ref} class="dialog" aria-labelledby="create-title" onClose={onClose}>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          f.run(async () => {
            const body: Record<string, unknown> = { workspace: v.workspace.trim() };
            if (v.title.trim()) body.title = v.title.trim();
            if (agent) body.agent = agent;
            if (v.initialModel) body.initialModel = v.initialModel;
            if (v.personaId) body.personaId = v.personaId;
            if (v.initialPrompt?.trim()) body.initialPrompt = v.initialPrompt;
            if (source === "url") {
              body.repoUrl = v.repoUrl.trim();
              if (v.branch?.trim()) body.branch = v.branch.trim();
            }
            if (source === "path") body.repoPath = v.repoPath.trim();
            const r = await api<{ session: { id: string } }>("POST", "/api/sessions", body);
            onCreated(r.session.id);
          });
        }}
      >
        <h2 id="create-title">New session</h2>
        <Field label="Title" name="title" maxLength={200} error={f.fieldErrors.title} />
        <Field
          label="Workspace name"
          name="workspace"
          required
          maxLength={100}
          hint="A short name for the work, e.g. my-app."
          error={f.fieldErrors.workspace}
        />
        <fieldset>
          <legend>Code</legend>
          <label class="radio">
            <input type="radio" name="source" checked={source === "empty"} onChange={() => setSource("empty")} /> Empty workspace
          </label>
          <label class="radio">
            <input type="radio" name="source" checked={source === "url"} onChange={() => setSource("url")} /> Clone a repository URL
          </label>
          <label class="radio">
            <input type="radio" name="source" checked={source === "path"} onChange={() => setSource("path")} /> A repository on this
            server
          </label>
          {source === "url" && (
            <>
              <Field label="Repository URL" name="repoUrl" required type="url" error={f.fieldErrors.repoUrl} />
              <Field label="Branch or ref (optional)" name="branch" error={f.fieldErrors.branch} />
            </>
          )}
          {source === "path" && (
            <Field
              label="Repository path"
              name="repoPath"
              required
              hint="A path under the server's repository roots."
              error={f.fieldErrors.repoPath}
            />
          )}
        </fieldset>
        {agents && agents.length > 0 && (
          <Select
            label="Agent"
            name="agent"
            value={agent}
            onChange={(e: Event) => setAgent((e.currentTarget as HTMLSelectElement).value)}
            hint={agentHint || undefined}
            error={f.fieldErrors.agent}
          >
            {agents.map((a) => (
              <option value={a.id}>
                {a.name}
                {a.installed === false ? " (not installed)" : !a.usable ? " (no key)" : a.version ? ` ${a.version}` : ""}
              </option>
            ))}
          </Select>
        )}
        <Select label="Model" name="initialModel" error={f.fieldErrors.initialModel}>
          <option value="">Default</option>
          {models.map((m) => (
            <option value={m.id}>{m.name}</option>
          ))}
        </Select>
        {personas.length > 0 && (
          <Select label="Persona" name="personaId" error={f.fieldErrors.personaId}>
            <option value="">None</option>
            {personas.map((p) => (
              <option value={p.id}>{p.name}</option>
            ))}
          </Select>
        )}
        <TextArea label="First prompt (optional)" name="initialPrompt" rows={4} error={f.fieldErrors.initialPrompt} />
        <FormError message={f.formError} />
        <div class="row end">
          <button type="button" class="secondary" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" disabled={f.busy}>
            Create
          </button>
        </div>
      </form>
    </dialog>
  );
}
