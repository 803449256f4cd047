// How the page words a profile's status (the server's ProfileStatus, no secret in it).
import type { FailureRecord, ProfileRow } from "./types";

const STATE_LABELS: Record<string, string> = {
  authorized: "authorized",
  needs_reauthorization: "needs re-authorization",
  not_authorized: "not authorized",
  not_tested: "not tested yet",
  ready: "ready",
  failing: "failing",
  error: "error",
};

const STATE_COLORS: Record<string, string> = {
  authorized: "green",
  ready: "green",
  needs_reauthorization: "orange",
  not_authorized: "orange",
  not_tested: "gray",
  failing: "red",
  error: "red",
};

export const stateLabel = (state: string): string => STATE_LABELS[state] ?? state.replaceAll("_", " ");

export const stateColor = (state: string): string => STATE_COLORS[state] ?? "gray";

export const grantLabel = (grant: string): string => grant.replaceAll("_", " ");

export const formatEpoch = (epoch: unknown): string | null => {
  if (typeof epoch !== "number" || !Number.isFinite(epoch) || epoch <= 0) return null;
  return new Date(epoch * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
};

const UNITS: [string, number][] = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

/** "12 days", "5 hours", "1 minute": how long until a time (whole units, rounded down; as the server words it). */
export const formatDuration = (seconds: number): string => {
  for (const [unit, size] of UNITS) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return `${count} ${unit}${count === 1 ? "" : "s"}`;
  }
  return "less than a minute";
};

/** A refresh token expiring within this many seconds is flagged: authorize again before then. */
export const REFRESH_WARNING_SECONDS = 7 * 86400;

/** The refresh token's stated expiry, worded as the server does (null: no stated expiry). */
export const refreshExpiryText = (expiresAt: unknown, now: number): string | null => {
  const when = formatEpoch(expiresAt);
  if (when === null) return null;
  const left = (expiresAt as number) - now;
  if (left <= 0) return `refresh token expired at ${when} — authorize again`;
  const soon = left <= REFRESH_WARNING_SECONDS ? " — authorize again before then" : "";
  return `refresh token expires in ${formatDuration(left)}${soon}`;
};

const WHERE_KEYS = ["source", "where", "dag_id", "task_id", "run_id", "try_number", "map_index"];

/** A recorded failure (or success): its kind, message, time and where it happened (a test, or dag/task/try). */
export const recordText = (record: FailureRecord): string | null => {
  if (record === null || record === undefined || record === "") return null;
  if (typeof record === "number") return formatEpoch(record);
  if (typeof record === "string") return record;
  const kind = typeof record.kind === "string" ? record.kind : "";
  const message = typeof record.message === "string" ? record.message : "";
  let text = [kind, message].filter(Boolean).join(": ");
  const when = formatEpoch(record.at ?? record.time ?? record.timestamp);
  if (when) text += `${text ? " " : ""}(at ${when})`;
  const where: string[] = [];
  for (const key of WHERE_KEYS) {
    const value = record[key];
    if (value === null || value === undefined || value === "") continue;
    if (typeof value === "object") {
      where.push(
        Object.entries(value as Record<string, unknown>)
          .filter(([, v]) => v !== null && v !== undefined && v !== "")
          .map(([k, v]) => `${k} ${String(v)}`)
          .join(", "),
      );
    } else {
      where.push(key === "source" || key === "where" ? String(value) : `${key.replace("_id", "")} ${String(value)}`);
    }
  }
  if (where.length) text += ` — ${where.join(", ")}`;
  return text || null;
};

/** The failure to show for a row: what, when and where (one line), and the message. */
export const failureText = (row: ProfileRow): { head: string; message: string } | null => {
  const record = row.last_failure;
  if (record && typeof record === "object") {
    const kind = typeof record.kind === "string" ? record.kind : "failure";
    const when = formatEpoch(record.at);
    const where = typeof record.where === "string" && record.where ? `in ${record.where}` : "";
    const head = [kind, when ? `at ${when}` : "", where].filter(Boolean).join(" ");
    return { head, message: typeof record.message === "string" ? record.message : "" };
  }
  const text = recordText(record) ?? row.last_error;
  return text ? { head: text, message: "" } : null;
};
