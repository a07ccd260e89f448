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
const Workflows = lazy(() => import("./screens/Workflows").then((m) => ({ default: m.Workflows })));
const WorkflowView = lazy(() => import("./screens/Workflows").then((m) => ({ default: m.WorkflowView })));
const ExecutionView = lazy(() => import("./screens/Workflows").then((m) => ({ default: m.ExecutionView })));
const Memory = lazy(() => import("./screens/Memory").then((m) => ({ default: m.Memory })));
const Dashboard = lazy(() => import("./screens/Dashboard").then((m) => ({ default: m.Dashboard })));
const Inbox = lazy(() => import("./screens/Notifications").then((m) => ({ default: m.Inbox })));
const Bell = lazy(() => import("./screens/Notifications").then((m) => ({ default: m.Bell })));

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
  else if (path === "/workflows") page = <Workflows />;
  else if (path.startsWith("/workflows/")) page = <WorkflowView key={path} id={decodeURIComponent(path.slice(11))} />;
  else if (path.startsWith("/executions/")) page = <ExecutionView key={path} id={decodeURIComponent(path.slice(12))} />;
  else if (path === "/memory") page = <Memory query={loc.slice(path.length)} />;
  else if (path === "/dashboard") page = <Dashboard query={loc.slice(path.length)} />;
  else if (path === "/notifications") page = <Inbox />;
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
            <a href="/workflows" aria-current={path.startsWith("/workflows") || path.startsWith("/executions") ? "page" : undefined}>
              Workflows
            </a>
            <a href="/memory" aria-current={path === "/memory" ? "page" : undefined}>
              Memory
            </a>
            <a href="/dashboard" aria-current={path === "/dashboard" ? "page" : undefined}>
              Dashboard
            </a>
            <a href="/settings" aria-current={path.startsWith("/settings") ? "page" : undefined}>
              Settings
            </a>
          </nav>
        )}
        <span class="spacer" />
        {!isPublic && auth.token() && (
          <Suspense fallback={null}>
            <Bell current={path === "/notifications"} />
          </Suspense>
        )}
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
  if (path.startsWith("/workflows")) return "Workflows · agentops";
  if (path.startsWith("/executions/")) return "Workflow run · agentops";
  if (path === "/memory") return "Memory · agentops";
  if (path === "/dashboard") return "Dashboard · agentops";
  if (path === "/notifications") return "Notifications · agentops";
  return "Sessions · agentops";
}
