import { useEffect, useState } from "preact/hooks";
import { api, when } from "../api";
import { duration } from "../bits";
import { navigate } from "../router";
import { FormError, StatusBadge } from "../ui";

type Hero = {
  totalSessions: number;
  activeSessions: number;
  totalMessages: number;
  uniqueRepos: number;
  totalToolCalls: number;
  avgSessionDurationSeconds: number;
  estimatedLinesChanged: number;
  sessionHours: number;
};
type Point = { date: string; sessions: number; messages: number };
type Stats = {
  hero: Hero;
  userHero: Hero;
  delta: { sessions: number; messages: number };
  activity: Point[];
  topRepos: { workspace: string; sessionCount: number; messageCount: number }[];
  recentSessions: { id: string; workspace: string; status: string; messageCount: number; toolCallCount: number; durationSeconds: number; createdAt: string }[];
  activeSessions: { id: string; workspace: string; status: string; lastActiveAt: string }[];
  timezone: string;
};

const PERIODS = [7, 14, 30, 90];

export function Dashboard({ query }: { query: string }) {
  const days = Number(new URLSearchParams(query).get("days")) || 14;
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    api<Stats>("GET", `/api/dashboard/stats?unit=days&period=${days}&tz=${encodeURIComponent(tz)}`)
      .then(setStats)
      .catch((e) => setError(e.message));
  }, [days]);
  return (
    <section>
      <div class="row between wrap">
        <h1>Dashboard</h1>
        <label class="inline-label">
          Period
          <select value={days} onChange={(e) => navigate(`/dashboard?days=${e.currentTarget.value}`, true)}>
            {PERIODS.map((p) => (
              <option value={p}>last {p} days</option>
            ))}
          </select>
        </label>
      </div>
      <FormError message={error} />
      {stats && (
        <>
          <dl class="hero" aria-label="Figures">
            <Figure label="Sessions" value={stats.hero.totalSessions} delta={stats.delta.sessions} />
            <Figure label="Active now" value={stats.hero.activeSessions} />
            <Figure label="Messages" value={stats.hero.totalMessages} delta={stats.delta.messages} />
            <Figure label="Tool calls" value={stats.hero.totalToolCalls} />
            <Figure label="Workspaces" value={stats.hero.uniqueRepos} />
            <Figure label="Session hours" value={stats.hero.sessionHours} />
          </dl>
          <h2 id="chart-h">Daily activity</h2>
          <Chart points={stats.activity} />
          <div class="cols">
            <div>
              <h2>Active sessions</h2>
              {stats.activeSessions.length === 0 ? (
                <p class="muted">None running.</p>
              ) : (
                <ul class="plain">
                  {stats.activeSessions.map((s) => (
                    <li key={s.id}>
                      <a href={`/sessions/${s.id}`}>{s.workspace}</a> <StatusBadge status={s.status} />{" "}
                      <span class="muted small">active {when(s.lastActiveAt)}</span>
                    </li>
                  ))}
                </ul>
              )}
            </div>
            <div>
              <h2>Recent sessions</h2>
              {stats.recentSessions.length === 0 ? (
                <p class="muted">No sessions yet.</p>
              ) : (
                <ul class="plain">
                  {stats.recentSessions.map((s) => (
                    <li key={s.id}>
                      <a href={`/sessions/${s.id}`}>{s.workspace}</a> <StatusBadge status={s.status} />{" "}
                      <span class="muted small">
                        {s.messageCount} messages · {s.toolCallCount} tool calls · {duration(s.durationSeconds)}
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </div>
          </div>
          {stats.topRepos.length > 0 && (
            <>
              <h2>Top workspaces</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Workspace</th>
                    <th scope="col">Sessions</th>
                    <th scope="col">Messages</th>
                  </tr>
                </thead>
                <tbody>
                  {stats.topRepos.map((r) => (
                    <tr key={r.workspace}>
                      <td>{r.workspace}</td>
                      <td>{r.sessionCount}</td>
                      <td>{r.messageCount}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          <p class="muted small">Times in {stats.timezone}. Figures are for everyone on this server; the session lists are yours.</p>
        </>
      )}
    </section>
  );
}

function Figure({ label, value, delta }: { label: string; value: number; delta?: number }) {
  return (
    <div class="figure">
      <dt>{label}</dt>
      <dd>
        <span class="big">{value.toLocaleString()}</span>
        {delta !== undefined && delta !== 0 && (
          <span class={"small " + (delta > 0 ? "status-completed" : "muted")}>
            {" "}
            {delta > 0 ? "+" : ""}
            {delta}% vs the period before
          </span>
        )}
      </dd>
    </div>
  );
}

/** Bars for sessions per day, a line for messages; the numbers are in a table for screen readers. */
function Chart({ points }: { points: Point[] }) {
  const W = 720;
  const H = 200;
  const pad = { l: 36, r: 36, t: 10, b: 28 };
  const n = Math.max(points.length, 1);
  const bw = (W - pad.l - pad.r) / n;
  const maxS = Math.max(1, ...points.map((p) => p.sessions));
  const maxM = Math.max(1, ...points.map((p) => p.messages));
  const y = (v: number, max: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const line = points.map((p, i) => `${i ? "L" : "M"}${(pad.l + bw * (i + 0.5)).toFixed(1)},${y(p.messages, maxM).toFixed(1)}`).join(" ");
  const every = Math.ceil(n / 10);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-h chart-desc" preserveAspectRatio="none">
        <desc id="chart-desc">
          Sessions per day as bars and messages per day as a line, from {points[0]?.date} to {points[points.length - 1]?.date}.
        </desc>
        <line x1={pad.l} x2={W - pad.r} y1={H - pad.b} y2={H - pad.b} class="axis" />
        {points.map((p, i) => (
          <rect class="bar" x={pad.l + bw * i + bw * 0.15} width={bw * 0.7} y={y(p.sessions, maxS)} height={H - pad.b - y(p.sessions, maxS)}>
            <title>
              {p.date}: {p.sessions} sessions, {p.messages} messages
            </title>
          </rect>
        ))}
        <path d={line} class="line" fill="none" />
        {points.map((p, i) =>
          i % every === 0 ? (
            <text x={pad.l + bw * (i + 0.5)} y={H - 8} text-anchor="middle" class="tick">
              {p.date.slice(5)}
            </text>
          ) : null,
        )}
        <text x={4} y={pad.t + 10} class="tick">
          {maxS}
        </text>
        <text x={W - 4} y={pad.t + 10} text-anchor="end" class="tick">
          {maxM}
        </text>
      </svg>
      <figcaption class="small">
        <span class="key bar-key" aria-hidden="true" /> sessions (left scale) <span class="key line-key" aria-hidden="true" /> messages (right scale)
      </figcaption>
      <details>
        <summary class="small">The numbers</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Sessions</th>
              <th scope="col">Messages</th>
            </tr>
          </thead>
          <tbody>
            {points.map((p) => (
              <tr key={p.date}>
                <td>{p.date}</td>
                <td>{p.sessions}</td>
                <td>{p.messages}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
