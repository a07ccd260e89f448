import { useEffect, useState } from "preact/hooks";
import { api, ApiError, auth } from "../api";
import { navigate, safeNext } from "../router";
import { Field, FormError, formValues, useSubmit } from "../ui";

type Done = { onDone: () => void };

const ACCOUNT = ["name", "email", "password"];

export function Setup({ onDone }: Done) {
  const f = useSubmit(ACCOUNT);
  return (
    <section class="narrow">
      <h1>Set up agentops</h1>
      <p>Create the first account. It becomes the administrator of this server.</p>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          f.run(async () => {
            const r = await api<{ sessionToken: string }>("POST", "/auth/email/register", {
              name: v.name || undefined,
              email: v.email,
              password: v.password,
            });
            auth.set(r.sessionToken);
            onDone();
            navigate("/", true);
          });
        }}
      >
        <Field label="Name" name="name" autoComplete="name" error={f.fieldErrors.name} />
        <Field label="Email" name="email" type="email" required autoComplete="email" error={f.fieldErrors.email} />
        <Field
          label="Password"
          name="password"
          type="password"
          required
          minLength={8}
          autoComplete="new-password"
          hint="At least 8 characters."
          error={f.fieldErrors.password}
        />
        <FormError message={f.formError} />
        <button type="submit" disabled={f.busy}>
          Create admin account
        </button>
      </form>
    </section>
  );
}

export function Login({ onDone }: Done) {
  const f = useSubmit(ACCOUNT);
  const next = safeNext(new URLSearchParams(location.search).get("next"));
  return (
    <section class="narrow">
      <h1>Log in</h1>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          f.run(async () => {
            const r = await api<{ sessionToken: string }>("POST", "/auth/email/login", { email: v.email, password: v.password });
            auth.set(r.sessionToken);
            onDone();
            navigate(next, true);
          });
        }}
      >
        <Field label="Email" name="email" type="email" required autoComplete="username" error={f.fieldErrors.email} />
        <Field
          label="Password"
          name="password"
          type="password"
          required
          autoComplete="current-password"
          error={f.fieldErrors.password}
        />
        <FormError message={f.formError} />
        <button type="submit" disabled={f.busy}>
          Log in
        </button>
      </form>
    </section>
  );
}

type InviteInfo = { code: string; role: string; orgName?: string; status: string };

export function Invite({ code }: { code: string }) {
  const [info, setInfo] = useState<InviteInfo | null>(null);
  const [err, setErr] = useState("");
  const f = useSubmit(ACCOUNT);
  const signedIn = !!auth.token();
  useEffect(() => {
    api<InviteInfo>("GET", "/invites/" + encodeURIComponent(code))
      .then(setInfo)
      .catch((e) => setErr(e instanceof ApiError && e.status === 404 ? "This invite does not exist." : String(e.message)));
  }, [code]);

  if (err)
    return (
      <section class="narrow">
        <h1>Invite</h1>
        <p role="alert">{err}</p>
      </section>
    );
  if (!info) return <p class="muted">Loading…</p>;
  if (info.status !== "valid")
    return (
      <section class="narrow">
        <h1>Invite</h1>
        <p role="alert">This invite has been {info.status === "accepted" ? "used" : "expired"}. Ask for a new one.</p>
      </section>
    );
  return (
    <section class="narrow">
      <h1>You are invited{info.orgName ? ` to ${info.orgName}` : ""}</h1>
      <p>
        The invite makes you {info.role === "admin" ? "an administrator" : "a member"}.
      </p>
      {signedIn ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            f.run(async () => {
              await api("POST", `/api/invites/${encodeURIComponent(code)}/accept`);
              navigate("/", true);
            });
          }}
        >
          <FormError message={f.formError} />
          <button type="submit" disabled={f.busy}>
            Accept the invite
          </button>
        </form>
      ) : (
        <form
          onSubmit={(e) => {
            const v = formValues(e);
            f.run(async () => {
              const r = await api<{ sessionToken: string }>("POST", "/auth/email/register", {
                name: v.name || undefined,
                email: v.email,
                password: v.password,
                inviteCode: code,
              });
              auth.set(r.sessionToken);
              navigate("/", true);
            });
          }}
        >
          <h2>Create your account</h2>
          <Field label="Name" name="name" autoComplete="name" error={f.fieldErrors.name} />
          <Field label="Email" name="email" type="email" required autoComplete="email" error={f.fieldErrors.email} />
          <Field
            label="Password"
            name="password"
            type="password"
            required
            minLength={8}
            autoComplete="new-password"
            hint="At least 8 characters."
            error={f.fieldErrors.password}
          />
          <FormError message={f.formError} />
          <button type="submit" disabled={f.busy}>
            Create account
          </button>
          <p>
            Already have an account? <a href={"/login?next=" + encodeURIComponent("/invite/" + code)}>Log in</a> and come back
            to this link.
          </p>
        </form>
      )}
    </section>
  );
}

/**
 * A one-time login link (/login/link/:token). Nothing is spent until the
 * button is pressed, so a link previewer fetching the page uses nothing
 * up; then the page asks for a new password.
 */
export function LoginLink({ token, onDone }: { token: string } & Done) {
  const f = useSubmit(["newPassword"]);
  const [in_, setIn] = useState(false);
  if (!in_)
    return (
      <section class="narrow">
        <h1>Log in with a link</h1>
        <p>This link logs you in once. Afterwards you choose a password for your next logins.</p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            f.run(async () => {
              const r = await api<{ sessionToken: string }>("POST", "/auth/login-link", { token });
              auth.set(r.sessionToken);
              onDone();
              setIn(true);
            });
          }}
        >
          <FormError message={f.formError} />
          <button type="submit" disabled={f.busy}>
            Log in
          </button>
        </form>
      </section>
    );
  return (
    <section class="narrow">
      <h1>Choose a password</h1>
      <p>You are logged in. Choose the password for your next logins.</p>
      <form
        onSubmit={(e) => {
          const v = formValues(e);
          f.run(async () => {
            await api("POST", "/api/auth/me/password", { newPassword: v.newPassword });
            navigate("/", true);
          });
        }}
      >
        <Field
          label="New password"
          name="newPassword"
          type="password"
          required
          minLength={8}
          autoComplete="new-password"
          hint="At least 8 characters."
          error={f.fieldErrors.newPassword}
        />
        <FormError message={f.formError} />
        <button type="submit" disabled={f.busy}>
          Set password
        </button>
      </form>
      <p>
        <a href="/">Later</a>
      </p>
    </section>
  );
}
