import { useEffect, useState } from "preact/hooks";

const EVENT = "app:navigate";

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  dispatchEvent(new Event(EVENT));
}

/** The current path and query; re-renders on navigation. */
export function useLocation(): string {
  const [loc, setLoc] = useState(location.pathname + location.search);
  useEffect(() => {
    const on = () => setLoc(location.pathname + location.search);
    addEventListener(EVENT, on);
    addEventListener("popstate", on);
    return () => {
      removeEventListener(EVENT, on);
      removeEventListener("popstate", on);
    };
  }, []);
  return loc;
}

/** Follows same-origin links without reloading the page. */
export function onLinkClick(e: MouseEvent) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element).closest("a");
  if (!a || a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
  if (!a.closest("[data-router]")) return;
  e.preventDefault();
  navigate(a.pathname + a.search + a.hash);
}

/** The path after login: only a local path, never another origin. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}
