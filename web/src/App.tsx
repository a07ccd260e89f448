import { lazy, Suspense } from "preact/compat";
import { useEffect, useState } from "preact/hooks";
import { api, auth, toLogin, type User } from "./api";
import { navigate, onLinkClick, useLocation } from "./router";
import { Invite, Login, LoginLink, Setup } from "./screens/Auth";
import { applyTheme, effectiveTheme } from "./theme";

// The signed-in screens load on demand, so that login and setup stay small.
const Sessions = lazy(() => import("./screens/Sessions").then((m) => ({ default: m.Sessions })));
const SessionView = lazy(() => import("./screens/Session").then((m) => ({ default: m.SessionView })));
const Settings = lazy(() => import("./screens/Settings").then((m) => ({ default: m.Settings })));

const PUBLIC = ["/login", "/setup"];

export function App() {
  const loc = useLocation();
  const path = loc.split("?")[0];
  const [user, setUser] = useState<User | null>(null);
  const [checked, setChecked] = useState(false);

  // First run: while no user exists, every page is the setup page.
  useEffect(() => {
    api<{ needsSetup: boolean }>("GET", "/auth/setup")
      .then((r) => {
        if (r.needsSetup && path !== "/setup") navigate("/setup", true);
        else if (!r.needsSetup && path === "/setup") navigate("/login", true);
      })
      .catch(() => {})
      .finally(() => setChecked(true));
  }, []);

  const isPublic = PUBLIC.includes(path) || path.startsWith("/invite/") || path.startsWith("/login/link/");
  useEffect(() => {
    if (isPublic) return;
    if (!auth.token()) {
      toLogin();
      return;
    }
    if (!user)
      api<{ user: User }>("GET", "/api/auth/me")
        .then((r) => setUser(r.user))
        .catch(() => {});
  }, [path, isPublic, user]);

  useEffect(() => {
    document.title = titleFor(path);
    // Move focus to the new page for keyboard and screen reader users.
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [path]);

  async function logout() {
    try {
      await api("POST", "/api/auth/logout");
    } catch {
      /* logged out locally anyway */
    }
    auth.clear();
    setUser(null);
    navigate("/login");
  }

  let page;
  if (!checked) page = null;
  else if (path === "/setup") page = <Setup onDone={() => setUser(null)} />;
  else if (path === "/login") page = <Login onDone={() => setUser(null)} />;
  else if (path.startsWith("/invite/")) page = <Invite code={decodeURIComponent(path.slice(8))} />;
  else if (path.startsWith("/login/link/")) page = <LoginLink token={decodeURIComponent(path.slice(12))} onDone={() => setUser(null)} />;
  else if (!auth.token()) page = null;
  else if (path === "/" || path === "/sessions") page = <Sessions />;
  else if (path.startsWith("/sessions/")) page = <SessionView key={path} id={decodeURIComponent(path.slice(10))} />;
  else if (path === "/settings" || path.startsWith("/settings/")) page = user && <Settings user={user} onUser={setUser} tab={path.slice(10)} />;
  else page = <NotFound />;

  return (
    <div class="shell" data-router onClick={onLinkClick as any}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={auth.token() ? "/" : "/login"}>
          agentops
        </a>
        {!isPublic && auth.token() && (
          <nav aria-label="Main">
            <a href="/" aria-current={path === "/" || path.startsWith("/sessions") ? "page" : undefined}>
              Sessions
            </a>
            <a href="/settings" aria-current={path.startsWith("/settings") ? "page" : undefined}>
              Settings
            </a>
          </nav>
        )}
        <span class="spacer" />
        <ThemeToggle />
        {!isPublic && auth.token() && (
          <button type="button" class="link" onClick={logout}>
            Log out{user && <span class="who"> ({user.email})</span>}
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p class="muted">Loading…</p>}>{page}</Suspense>
      </main>
    </div>
  );
}

function ThemeToggle() {
  const [theme, setTheme] = useState(effectiveTheme());
  const next = theme === "dark" ? "light" : "dark";
  return (
    <button
      type="button"
      class="link"
      aria-label={`Switch to ${next} theme`}
      onClick={() => {
        applyTheme(next);
        setTheme(next);
      }}
    >
      {theme === "dark" ? "Light" : "Dark"} theme
    </button>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        <a href="/">Back to sessions</a>
      </p>
    </section>
  );
}

function titleFor(path: string): string {
  if (path === "/login") return "Log in · agentops";
  if (path === "/setup") return "Set up · agentops";
  if (path.startsWith("/invite/")) return "Invite · agentops";
  if (path.startsWith("/login/link/")) return "Log in with a link · agentops";
  if (path.startsWith("/sessions/")) return "Session · agentops";
  if (path.startsWith("/settings")) return "Settings · agentops";
  return "Sessions · agentops";
}
