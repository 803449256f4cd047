// Shared by the unit tests: a fixed instant and a profiles row to vary (each test file sets its own defaults).
import type { ProfileRow } from "./types";

// 2026-01-02 03:04:05 UTC
export const AT = Date.UTC(2026, 0, 2, 3, 4, 5) / 1000;

export const profileRow = (more: Partial<ProfileRow> = {}): ProfileRow => ({
  conn_id: "crm",
  grant_type: "client_credentials",
  state: "ready",
  description: "has a valid access token",
  expires_at: null,
  expires_at_text: null,
  scope: null,
  last_refresh: null,
  last_refresh_text: null,
  last_error: null,
  refresh_token_present: false,
  can_authorize: false,
  authorize_label: "Authorize",
  redirect_uri: null,
  ...more,
});
