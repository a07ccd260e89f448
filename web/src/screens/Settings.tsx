import { useEffect, useState } from "preact/hooks";
import { api, when, type User } from "../api";
import { Field, FormError, Select, formValues, useSubmit } from "../ui";

const TABS: [string, string][] = [
  ["", "Profile"],
  ["keys", "API keys"],
  ["credentials", "Provider keys"],
  ["agents", "Agents"],
  ["admin", "Users and invites"],
];

export function Settings({ user, onUser, tab }: { user: User; onUser: (u: User) => void; tab: string }) {
  const t = tab.replace(/^\//, "");
  const tabs = TABS.filter(([k]) => k !== "admin" || user.role === "admin");
  return (
    <section>
      <h1>Settings</h1>
      <nav aria-label="Settings" class="tabs">
        {tabs.map(([k, label]) => (
          <a href={"/settings" + (k ? "/" + k : "")} aria-current={t === k ? "page" : undefined}>
            {label}
          </a>
        ))}
      </nav>
      {t === "" && <Profile user={user} onUser={onUser} />}
      {t === "keys" && <ApiKeys />}
      {t === "credentials" && <Credentials />}
      {t === "agents" && <Agents />}
      {t === "admin" && user.role === "admin" && <Admin me={user} />}
    </section>
  );
}

function Profile({ user, onUser }: { user: User; onUser: (u: User) => void }) {
  const f = useSubmit(["name", "gitName", "gitEmail", "timezone", "uiQueueMode"]);
  const pw = useSubmit(["currentPassword", "newPassword"]);
  const [saved, setSaved] = useState("");
  return (
    <>
      <h2>Profile</h2>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          setSaved("");
          f.run(async () => {
            const r = await api<{ user: User }>("PATCH", "/api/auth/me", {
              name: v.name,
              gitName: v.gitName,
              gitEmail: v.gitEmail,
              timezone: v.timezone || undefined,
              uiQueueMode: v.uiQueueMode,
            });
            onUser(r.user);
            setSaved("Saved.");
          });
        }}
      >
        <p>
          Email: <strong>{user.email}</strong> ({user.role})
        </p>
        <Field label="Name" name="name" defaultValue={user.name ?? ""} maxLength={255} error={f.fieldErrors.name} />
        <Field label="Git author name" name="gitName" defaultValue={user.gitName ?? ""} maxLength={255} error={f.fieldErrors.gitName} />
        <Field label="Git author email" name="gitEmail" type="email" defaultValue={user.gitEmail ?? ""} error={f.fieldErrors.gitEmail} />
        <Field
          label="Time zone"
          name="timezone"
          defaultValue={user.timezone ?? ""}
          hint="An IANA name, e.g. Europe/Paris."
          error={f.fieldErrors.timezone}
        />
        <Select label="Prompts sent while the agent works" name="uiQueueMode" value={user.uiQueueMode ?? "followup"} error={f.fieldErrors.uiQueueMode}>
          <option value="followup">wait for the turn to end</option>
          <option value="steer">stop the turn and steer</option>
          <option value="collect">collect into one prompt</option>
        </Select>
        <FormError message={f.formError} />
        <div class="row">
          <button type="submit" disabled={f.busy}>
            Save profile
          </button>
          <span role="status">{saved}</span>
        </div>
      </form>
      <h2>Password</h2>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          const form = e.currentTarget as HTMLFormElement;
          pw.run(async () => {
            await api("POST", "/api/auth/me/password", { currentPassword: v.currentPassword, newPassword: v.newPassword });
            form.reset();
            pw.setFormError("Password changed. Other logins have been signed out.");
          });
        }}
      >
        <Field label="Current password" name="currentPassword" type="password" required autoComplete="current-password" error={pw.fieldErrors.currentPassword} />
        <Field label="New password" name="newPassword" type="password" required minLength={8} autoComplete="new-password" error={pw.fieldErrors.newPassword} />
        <FormError message={pw.formError} />
        <button type="submit" disabled={pw.busy}>
          Change password
        </button>
      </form>
    </>
  );
}

type Key = { id: string; name: string; prefix: string; createdAt: string; lastUsedAt: string | null; expiresAt: string | null };

function ApiKeys() {
  const [keys, setKeys] = useState<Key[]>([]);
  const [shown, setShown] = useState("");
  const f = useSubmit(["name", "expiresInDays"]);
  const load = () => api<{ keys: Key[] }>("GET", "/api/api-keys").then((r) => setKeys(r.keys));
  useEffect(() => void load(), []);
  return (
    <>
      <h2>API keys</h2>
      <p>Keys let scripts and the CLI act as you. A new key is shown once.</p>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          const form = e.currentTarget as HTMLFormElement;
          f.run(async () => {
            const r = await api<{ token: string }>("POST", "/api/api-keys", {
              name: v.name,
              expiresInDays: v.expiresInDays ? Number(v.expiresInDays) : undefined,
            });
            setShown(r.token);
            form.reset();
            await load();
          });
        }}
      >
        <Field label="Key name" name="name" required maxLength={100} error={f.fieldErrors.name} />
        <Field label="Expires after (days, optional)" name="expiresInDays" type="number" min={1} max={3650} error={f.fieldErrors.expiresInDays} />
        <FormError message={f.formError} />
        <button type="submit" disabled={f.busy}>
          Create key
        </button>
      </form>
      {shown && (
        <div class="notice" role="status">
          <p>Copy this key now; it will not be shown again:</p>
          <code class="secret">{shown}</code>
        </div>
      )}
      {keys.length === 0 ? (
        <p class="muted">No API keys yet.</p>
      ) : (
      <table>
        <caption class="sr-only">Your API keys</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td>
                <code>{k.prefix}</code>
              </td>
              <td>{k.lastUsedAt ? when(k.lastUsedAt) : "never"}</td>
              <td>{k.expiresAt ? when(k.expiresAt) : "never"}</td>
              <td>
                <button
                  type="button"
                  class="link danger-text"
                  aria-label={`Revoke ${k.name}`}
                  onClick={async () => {
                    await api("DELETE", "/api/api-keys/" + k.id);
                    await load();
                  }}
                >
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      )}
    </>
  );
}

type Cred = { provider: string; baseUrl?: string; models?: string[]; updatedAt: string };

function Credentials() {
  const [creds, setCreds] = useState<Cred[]>([]);
  const [test, setTest] = useState<Record<string, string>>({});
  const f = useSubmit(["provider", "key", "baseUrl", "models"]);
  const load = () => api<Cred[]>("GET", "/api/auth/me/credentials").then(setCreds);
  useEffect(() => void load(), []);
  async function check(p: string) {
    setTest((t) => ({ ...t, [p]: "Testing…" }));
    try {
      const r = await api<{ ok: boolean; error?: string }>("POST", `/api/auth/me/credentials/${encodeURIComponent(p)}/test`);
      setTest((t) => ({ ...t, [p]: r.ok ? "The key works." : `The key did not work: ${r.error ?? "unknown error"}` }));
    } catch (e: any) {
      setTest((t) => ({ ...t, [p]: e.status === 404 ? "This server cannot test keys yet." : e.message }));
    }
  }
  return (
    <>
      <h2>Provider keys</h2>
      <p>Your sessions get these keys in their environment. The keys are stored encrypted and never shown again.</p>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          const form = e.currentTarget as HTMLFormElement;
          f.run(async () => {
            const models = v.models
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean);
            await api("PUT", `/api/auth/me/credentials/${encodeURIComponent(v.provider.trim())}`, {
              key: v.key,
              baseUrl: v.baseUrl.trim() || undefined,
              models: models.length ? models : undefined,
            });
            form.reset();
            await load();
          });
        }}
      >
        <Field
          label="Provider"
          name="provider"
          required
          list="providers"
          hint="anthropic, openai, google, github, or custom-<name> for an OpenAI-compatible server."
          error={f.fieldErrors.provider}
        />
        <datalist id="providers">
          <option value="anthropic" />
          <option value="openai" />
          <option value="google" />
          <option value="github" />
        </datalist>
        <Field label="Key" name="key" type="password" required autoComplete="off" error={f.fieldErrors.key} />
        <Field label="Base URL (optional)" name="baseUrl" type="url" error={f.fieldErrors.baseUrl} />
        <Field label="Models (optional, comma-separated)" name="models" error={f.fieldErrors.models} />
        <FormError message={f.formError} />
        <button type="submit" disabled={f.busy}>
          Save key
        </button>
      </form>
      <ul class="plain">
        {creds.map((c) => (
          <li key={c.provider} class="row wrap">
            <strong>{c.provider}</strong>
            {c.baseUrl && <span class="muted small">{c.baseUrl}</span>}
            <span class="muted small">updated {when(c.updatedAt)}</span>
            <span class="spacer" />
            <button type="button" class="secondary" onClick={() => check(c.provider)}>
              Test this key
            </button>
            <button
              type="button"
              class="link danger-text"
              aria-label={`Delete the ${c.provider} key`}
              onClick={async () => {
                await api("DELETE", "/api/auth/me/credentials/" + encodeURIComponent(c.provider));
                await load();
              }}
            >
              Delete
            </button>
            {test[c.provider] && (
              <span role="status" class="small">
                {test[c.provider]}
              </span>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

type AgentInfo = { id: string; name: string; installed: boolean | null; version?: string; usable: boolean; missingCredential?: string };

function Agents() {
  const [data, setData] = useState<{ models: { provider: string; models: { id: string; name: string }[] }[]; agents?: AgentInfo[] } | null>(null);
  useEffect(() => void api("GET", "/api/sessions/available-models").then(setData), []);
  if (!data) return <p class="muted">Loading…</p>;
  return (
    <>
      <h2>Agents</h2>
      {data.agents ? (
        <table>
          <caption class="sr-only">Coding agents</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Installed</th>
              <th scope="col">Version</th>
              <th scope="col">Ready</th>
            </tr>
          </thead>
          <tbody>
            {data.agents.map((a) => (
              <tr key={a.id}>
                <td>{a.name}</td>
                <td>{a.installed === null ? "on the runner's machine" : a.installed ? "yes" : <>no: <code>agentops agents install {a.id}</code></>}</td>
                <td>{a.version ?? ""}</td>
                <td>{a.usable ? "yes" : `needs ${a.missingCredential ?? "a key"}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>This server reports models only. Install more agents with <code>agentops agents install NAME</code>.</p>
      )}
      <h3>Models</h3>
      <ul class="plain">
        {data.models.map((g) => (
          <li key={g.provider}>
            <strong>{g.provider}</strong>: {g.models.map((m) => m.name).join(", ")}
          </li>
        ))}
      </ul>
    </>
  );
}

type Invite = { id: string; code: string; email: string | null; role: string; acceptedAt: string | null; expiresAt: string };

function Admin({ me }: { me: User }) {
  const [users, setUsers] = useState<User[]>([]);
  const [invites, setInvites] = useState<Invite[]>([]);
  const [err, setErr] = useState("");
  const f = useSubmit(["email", "role"]);
  const load = () =>
    Promise.all([api<User[]>("GET", "/api/admin/users").then(setUsers), api<Invite[]>("GET", "/api/admin/invites").then(setInvites)]).catch(
      (e) => setErr(e.message),
    );
  useEffect(() => void load(), []);
  const guard = async (fn: () => Promise<unknown>) => {
    setErr("");
    try {
      await fn();
      await load();
    } catch (e: any) {
      setErr(e.message);
    }
  };
  return (
    <>
      <h2>Users</h2>
      <FormError message={err} />
      <table>
        <caption class="sr-only">Users</caption>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.id}>
              <td>{u.email}</td>
              <td>{u.name ?? ""}</td>
              <td>
                <select
                  aria-label={`Role of ${u.email}`}
                  value={u.role}
                  onChange={(e) => guard(() => api("PATCH", "/api/admin/users/" + u.id, { role: e.currentTarget.value }))}
                >
                  <option value="member">member</option>
                  <option value="admin">admin</option>
                </select>
              </td>
              <td>
                {u.id !== me.id && (
                  <button
                    type="button"
                    class="link danger-text"
                    aria-label={`Delete ${u.email}`}
                    onClick={() => confirm(`Delete ${u.email} and everything they own?`) && guard(() => api("DELETE", "/api/admin/users/" + u.id))}
                  >
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Invites</h2>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          f.run(async () => {
            await api("POST", "/api/admin/invites", { email: v.email.trim() || undefined, role: v.role });
            await load();
          });
        }}
      >
        <Field label="Email (optional)" name="email" type="email" error={f.fieldErrors.email} />
        <Select label="Role" name="role" error={f.fieldErrors.role}>
          <option value="member">member</option>
          <option value="admin">admin</option>
        </Select>
        <FormError message={f.formError} />
        <button type="submit" disabled={f.busy}>
          Create invite
        </button>
      </form>
      <ul class="plain">
        {invites.map((i) => (
          <li key={i.id} class="row wrap">
            <code>{location.origin + "/invite/" + i.code}</code>
            <span class="small">
              {i.role}
              {i.email ? ` · ${i.email}` : ""} · {i.acceptedAt ? "accepted" : `expires ${when(i.expiresAt)}`}
            </span>
            <span class="spacer" />
            <button type="button" class="link danger-text" aria-label="Delete invite" onClick={() => guard(() => api("DELETE", "/api/admin/invites/" + i.id))}>
              Delete
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}
