// The OAuth profiles page's pure logic: what a row shows and offers, the notices derived from API answers,
// the busy map and the row list after an answer, and the callback's notice token in the page's URL.
// ProfilesPage.tsx keeps the state and the rendering; format.ts words a status and its records.
import {
  REFRESH_WARNING_SECONDS,
  failureText,
  formatEpoch,
  grantLabel,
  recordText,
  refreshExpiryText,
  stateColor,
  stateLabel,
} from "./format";
import type { Notice, ProfileRow } from "./types";

/** The query parameter the plugin's callback returns to the page with (its signed notice). */
export const OUTCOME_PARAM = "oauth_outcome";

export type Action = "authorize" | "test" | "edit" | "forget";

/** Action -> the connection it runs on; one running action per connection. */
export type Busy = Record<string, string>;

/** A button a row offers: its action, its label, whether it shows a spinner and whether it is disabled. */
export interface RowButton {
  action: Action;
  label: string;
  loading: boolean;
  disabled: boolean;
}

/** What a row shows: its status badge, the lines under it, its last failure and its token times. */
export interface RowView {
  grant: string;
  /** The redirect URI to register at the provider (authorization-code rows that have one). */
  redirectUri: string | null;
  stateLabel: string;
  stateColor: string;
  /** The status description, unless a failing row's failure already says it. */
  description: string | null;
  success: string | null;
  failure: { head: string; message: string } | null;
  expires: string;
  refreshed: string;
  /** When the refresh token expires, if its token response stated it; `urgency` colours it. */
  refreshExpiry: { text: string; urgency: RefreshUrgency } | null;
}

/** How near the refresh token's stated expiry is: passed, within a week, or later. */
export type RefreshUrgency = "expired" | "soon" | "later";

/** The refresh token's stated expiry: the server's wording, else worded here from the epoch; null when none. */
export const refreshExpiry = (row: ProfileRow, now: number): RowView["refreshExpiry"] => {
  const expiresAt = row.refresh_expires_at;
  const text = row.refresh_expiry_text ?? refreshExpiryText(expiresAt, now);
  if (!text) return null;
  const left = typeof expiresAt === "number" ? expiresAt - now : null;
  let urgency: RefreshUrgency = "later";
  if (left !== null && left <= 0) urgency = "expired";
  else if (left !== null && left <= REFRESH_WARNING_SECONDS) urgency = "soon";
  return { text: text.charAt(0).toUpperCase() + text.slice(1), urgency };
};

export const rowView = (row: ProfileRow, now: number = Date.now() / 1000): RowView => {
  const failure = failureText(row);
  return {
    grant: grantLabel(row.grant_type),
    redirectUri: row.can_authorize && row.redirect_uri ? row.redirect_uri : null,
    stateLabel: stateLabel(row.state),
    stateColor: stateColor(row.state),
    description: failure && row.state === "failing" ? null : row.description,
    success: recordText(row.last_success),
    failure,
    expires: row.expires_at_text ?? formatEpoch(row.expires_at) ?? "—",
    refreshed: row.last_refresh_text ?? formatEpoch(row.last_refresh) ?? "—",
    refreshExpiry: refreshExpiry(row, now),
  };
};

/**
 * The row's buttons in order: Authorize (labelled by the server: Authorize or Re-authorize; only rows that can
 * be authorized), Test, Edit, Forget tokens. While one action runs on the row, all are disabled and the running
 * one (not Edit, which opens the form) shows a spinner.
 */
export const rowButtons = (row: ProfileRow, working: string | undefined): RowButton[] => {
  const disabled = Boolean(working);
  const buttons: RowButton[] = [];
  if (row.can_authorize) {
    buttons.push({ action: "authorize", label: row.authorize_label, loading: working === "authorize", disabled });
  }
  buttons.push({ action: "test", label: "Test", loading: working === "test", disabled });
  buttons.push({ action: "edit", label: "Edit", loading: false, disabled });
  buttons.push({ action: "forget", label: "Forget tokens", loading: working === "forget", disabled });
  return buttons;
};

/** The busy map with `action` running on `connId`. */
export const startBusy = (busy: Busy, connId: string, action: string): Busy => ({ ...busy, [connId]: action });

/** The busy map with nothing running on `connId`. */
export const endBusy = (busy: Busy, connId: string): Busy => {
  const next = { ...busy };
  delete next[connId];
  return next;
};

/** The rows with the answer's row replacing the one of the same connection (unchanged without a row). */
export const replaceRow = (rows: ProfileRow[] | null, row: ProfileRow | undefined): ProfileRow[] | null => {
  if (!row) return rows;
  return (rows ?? []).map((r) => (r.conn_id === row.conn_id ? row : r));
};

export const errorNotice = (title: string, error: unknown): Notice => ({
  kind: "error",
  title,
  message: error instanceof Error ? error.message : String(error),
});

/** The titles of the notices shown when a call fails (the error's message is the notice's message). */
export const errorTitles = {
  outcome: "Authorization result",
  test: (connId: string) => `Test of '${connId}' failed`,
  authorize: (connId: string) => `Could not start authorizing '${connId}'`,
  forget: (connId: string) => `Could not forget the tokens of '${connId}'`,
  reload: "Could not reload the profiles",
} as const;

export const testNotice = (connId: string, answer: { ok: boolean; message: string }): Notice => ({
  kind: answer.ok ? "success" : "error",
  title: `Test of '${connId}' ${answer.ok ? "passed" : "failed"}`,
  message: answer.message,
});

export const forgetNotice = (connId: string, answer: { ok: boolean; message: string }): Notice => ({
  kind: answer.ok ? "success" : "error",
  title: `Tokens of '${connId}' removed`,
  message: answer.message,
});

/** After the form saved a connection: what was done and the next step for its grant. */
export const savedNotice = (connId: string, created: boolean, grant: string): Notice => ({
  kind: "success",
  title: `Connection '${connId}' ${created ? "added" : "saved"}`,
  message:
    grant === "authorization_code"
      ? "Press Authorize to sign in at the provider."
      : "Press Test to fetch a token now.",
});

/** The Forget tokens confirmation's question ("" when no connection is being forgotten). */
export const forgetPrompt = (connId: string | null): string =>
  connId
    ? `Remove the stored refresh and access tokens of '${connId}'? Tasks using it fail until it is ` +
      "authorized again. Its client secret and settings stay."
    : "";

/** The page's error when it cannot load: signed out (401: offer to sign in) or anything else. */
export const fatalView = (status: number): { signedOut: boolean; title: string } => {
  const signedOut = status === 401;
  return { signedOut, title: signedOut ? "Sign in to Airflow first" : "The OAuth profiles page cannot load" };
};

/**
 * The callback's signed notice token in the page's address, and the address without it (null when there is
 * no token: the address stays as it is).
 */
export const outcomeToken = (href: string): { token: string | null; cleaned: string | null } => {
  const url = new URL(href);
  const token = url.searchParams.get(OUTCOME_PARAM);
  if (!token) return { token: null, cleaned: null };
  url.searchParams.delete(OUTCOME_PARAM);
  return { token, cleaned: url.toString() };
};
