import { navigate } from "./router";

const TOKEN_KEY = "agentops.token";

export const auth = {
  token: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (t: string) => localStorage.setItem(TOKEN_KEY, t),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

/** The common error body, {error, code, details?}, with the HTTP status. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
    public body?: any,
  ) {
    super(message);
  }
}

/** Sends the user to login, and back here after. */
export function toLogin() {
  auth.clear();
  const here = location.pathname + location.search;
  if (location.pathname !== "/login") navigate("/login?next=" + encodeURIComponent(here), true);
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const t = auth.token();
  if (t) headers.Authorization = "Bearer " + t;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "NETWORK", "The server cannot be reached. Check your connection and try again.");
  }
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401 && t && !path.startsWith("/auth/")) {
      toLogin();
    }
    const msg = typeof data?.error === "string" ? humanize(data.error) : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, data?.code ?? "HTTP_" + res.status, msg, data?.details?.field, data);
  }
  return data as T;
}

const WORDS: Record<string, string> = {
  invalid_credentials: "Wrong email or password.",
  too_many_attempts: "Too many failed logins. Wait a few minutes and try again.",
  email_already_registered: "An account with this email already exists.",
  not_allowed: "Sign-up needs an invite on this server.",
  invalid_invite: "This invite is not valid (used, expired, or unknown).",
  invalid_login_link: "This login link is not valid (used, expired, or unknown). Ask an admin for a new one.",
};

function humanize(e: string): string {
  return WORDS[e] ?? e;
}

export type User = {
  id: string;
  email: string;
  name?: string;
  gitName?: string;
  gitEmail?: string;
  role: "admin" | "member";
  uiQueueMode?: string;
  timezone?: string;
  idleTimeoutSeconds?: number;
};

export type Part =
  | { type: "text"; text: string; streaming?: boolean }
  | { type: "tool-call"; callId: string; toolName: string; status: string; args?: any; result?: any; error?: any }
  | { type: "finish"; reason: string }
  | { type: "error"; message: string }
  | { type: string; [k: string]: any };

export type Usage = {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  costUsd?: number;
};

export type Message = {
  id: string;
  role: "user" | "assistant" | "system";
  content: string;
  parts: Part[] | null;
  authorName?: string;
  authorEmail?: string;
  createdAt: string | number;
  usage?: Usage;
};

export type Session = {
  id: string;
  workspace: string;
  status: string;
  title?: string;
  agent: string;
  personaId?: string;
  errorMessage?: string;
  createdAt: string;
  lastActiveAt: string;
};

export const STATUSES = [
  "initializing",
  "running",
  "hibernating",
  "hibernated",
  "restoring",
  "terminated",
  "error",
  "archived",
];

export function when(t: string | number | undefined): string {
  if (t === undefined || t === null) return "";
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  return isNaN(d.getTime()) ? "" : d.toLocaleString();
}
