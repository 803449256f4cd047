// Unit tests of rows.ts: what a profiles row shows and offers, the notices derived from API answers, the busy
// map, the row list after an answer and the callback's token in the URL. Run by `npm test`.
import { describe, expect, it } from "vitest";

import {
  OUTCOME_PARAM,
  endBusy,
  errorNotice,
  errorTitles,
  fatalView,
  forgetNotice,
  forgetPrompt,
  outcomeToken,
  replaceRow,
  rowButtons,
  rowView,
  savedNotice,
  startBusy,
  testNotice,
} from "./rows";
import { AT, profileRow } from "./testRows";
import type { ProfileRow } from "./types";

const row = profileRow;

describe("rowView", () => {
  it("labels and colours the state and words the grant", () => {
    const view = rowView(row({ state: "needs_reauthorization", grant_type: "authorization_code" }));
    expect(view.stateLabel).toBe("needs re-authorization");
    expect(view.stateColor).toBe("orange");
    expect(view.grant).toBe("authorization code");
  });

  it("shows the redirect URI only for rows that can be authorized and have one", () => {
    expect(rowView(row({ can_authorize: true, redirect_uri: "https://af/cb" })).redirectUri).toBe("https://af/cb");
    expect(rowView(row({ can_authorize: false, redirect_uri: "https://af/cb" })).redirectUri).toBeNull();
    expect(rowView(row({ can_authorize: true, redirect_uri: null })).redirectUri).toBeNull();
  });

  it("hides the description of a failing row whose failure says it, keeps it otherwise", () => {
    const failure = { kind: "token_request", message: "401 from the token endpoint", at: AT, where: "task" };
    const failing = rowView(row({ state: "failing", description: "fails", last_failure: failure }));
    expect(failing.description).toBeNull();
    expect(failing.failure).toEqual({
      head: "token_request at 2026-01-02 03:04 UTC in task",
      message: "401 from the token endpoint",
    });
    expect(rowView(row({ state: "failing", description: "fails" })).description).toBe("fails");
    expect(rowView(row({ state: "error", description: "bad", last_failure: failure })).description).toBe("bad");
  });

  it("has no failure and no success when none is recorded", () => {
    const view = rowView(row());
    expect(view.failure).toBeNull();
    expect(view.success).toBeNull();
  });

  it("words the last success", () => {
    expect(rowView(row({ last_success: { kind: "test", at: AT } })).success).toBe("test (at 2026-01-02 03:04 UTC)");
  });

  it("prefers the server's token times, then formats the epochs, then shows a dash", () => {
    const texts = rowView(row({ expires_at: AT, expires_at_text: "in 5 min", last_refresh: AT, last_refresh_text: "now" }));
    expect([texts.expires, texts.refreshed]).toEqual(["in 5 min", "now"]);
    const epochs = rowView(row({ expires_at: AT, last_refresh: AT }));
    expect([epochs.expires, epochs.refreshed]).toEqual(["2026-01-02 03:04 UTC", "2026-01-02 03:04 UTC"]);
    const none = rowView(row());
    expect([none.expires, none.refreshed]).toEqual(["—", "—"]);
  });

  it("says when the refresh token expires, flagging one within a week and one expired", () => {
    const DAY = 86400;
    const later = rowView(row({ refresh_expires_at: AT + 12 * DAY + 60 }), AT);
    expect(later.refreshExpiry).toEqual({ text: "Refresh token expires in 12 days", urgency: "later" });
    const soon = rowView(row({ refresh_expires_at: AT + 3 * DAY + 60 }), AT);
    expect(soon.refreshExpiry).toEqual({
      text: "Refresh token expires in 3 days — authorize again before then",
      urgency: "soon",
    });
    const expired = rowView(row({ state: "needs_reauthorization", refresh_expires_at: AT - 1 }), AT);
    expect(expired.refreshExpiry).toEqual({
      text: "Refresh token expired at 2026-01-02 03:04 UTC — authorize again",
      urgency: "expired",
    });
  });

  it("prefers the server's wording of the refresh token's expiry, and shows none when none is stated", () => {
    const worded = row({ refresh_expires_at: AT + 60, refresh_expiry_text: "refresh token expires in 1 minute" });
    expect(rowView(worded, AT).refreshExpiry).toEqual({ text: "Refresh token expires in 1 minute", urgency: "soon" });
    expect(rowView(row(), AT).refreshExpiry).toBeNull();
    expect(rowView(row({ refresh_expires_at: null, refresh_expiry_text: null }), AT).refreshExpiry).toBeNull();
  });
});

describe("rowButtons", () => {
  const actions = (r: ProfileRow, working?: string) => rowButtons(r, working).map((b) => b.action);

  it("offers Test, Edit and Forget tokens, and Authorize first only where the row can be authorized", () => {
    expect(actions(row())).toEqual(["test", "edit", "forget"]);
    expect(actions(row({ can_authorize: true }))).toEqual(["authorize", "test", "edit", "forget"]);
  });

  it("labels Authorize as the server says (Authorize or Re-authorize)", () => {
    const [first] = rowButtons(row({ can_authorize: true, authorize_label: "Re-authorize" }), undefined);
    expect(first).toMatchObject({ action: "authorize", label: "Re-authorize" });
    expect(rowButtons(row(), undefined).map((b) => b.label)).toEqual(["Test", "Edit", "Forget tokens"]);
  });

  it("enables every button when nothing runs", () => {
    const buttons = rowButtons(row({ can_authorize: true }), undefined);
    expect(buttons.every((b) => !b.disabled && !b.loading)).toBe(true);
  });

  it.each(["authorize", "test", "forget"])("disables all and spins only the running %s", (working) => {
    const buttons = rowButtons(row({ can_authorize: true }), working);
    expect(buttons.every((b) => b.disabled)).toBe(true);
    expect(buttons.filter((b) => b.loading).map((b) => b.action)).toEqual([working]);
  });
});

describe("busy map and rows", () => {
  it("marks and clears one connection's running action, leaving the others", () => {
    const busy = startBusy({ other: "test" }, "crm", "forget");
    expect(busy).toEqual({ other: "test", crm: "forget" });
    expect(endBusy(busy, "crm")).toEqual({ other: "test" });
    expect(busy).toEqual({ other: "test", crm: "forget" });
  });

  it("replaces the answer's row by connection id, keeping order", () => {
    const rows = [row({ conn_id: "a" }), row({ conn_id: "b" })];
    const updated = replaceRow(rows, row({ conn_id: "b", state: "failing" }));
    expect(updated?.map((r) => [r.conn_id, r.state])).toEqual([
      ["a", "ready"],
      ["b", "failing"],
    ]);
  });

  it("keeps the rows without a row in the answer, and makes a list from none", () => {
    const rows = [row()];
    expect(replaceRow(rows, undefined)).toBe(rows);
    expect(replaceRow(null, row())).toEqual([]);
  });
});

describe("notices", () => {
  it("words a Test's answer", () => {
    expect(testNotice("crm", { ok: true, message: "token fetched" })).toEqual({
      kind: "success",
      title: "Test of 'crm' passed",
      message: "token fetched",
    });
    expect(testNotice("crm", { ok: false, message: "401" })).toMatchObject({ kind: "error", title: "Test of 'crm' failed" });
  });

  it("words a Forget tokens answer", () => {
    expect(forgetNotice("crm", { ok: true, message: "removed" })).toEqual({
      kind: "success",
      title: "Tokens of 'crm' removed",
      message: "removed",
    });
    expect(forgetNotice("crm", { ok: false, message: "store down" }).kind).toBe("error");
  });

  it("says the next step after saving, by grant", () => {
    expect(savedNotice("crm", true, "authorization_code")).toEqual({
      kind: "success",
      title: "Connection 'crm' added",
      message: "Press Authorize to sign in at the provider.",
    });
    expect(savedNotice("crm", false, "client_credentials")).toMatchObject({
      title: "Connection 'crm' saved",
      message: "Press Test to fetch a token now.",
    });
  });

  it("makes an error notice from an Error or anything else", () => {
    expect(errorNotice(errorTitles.test("crm"), new Error("boom"))).toEqual({
      kind: "error",
      title: "Test of 'crm' failed",
      message: "boom",
    });
    expect(errorNotice(errorTitles.reload, "offline").message).toBe("offline");
    expect(errorTitles.authorize("crm")).toBe("Could not start authorizing 'crm'");
    expect(errorTitles.forget("crm")).toBe("Could not forget the tokens of 'crm'");
  });

  it("asks before forgetting tokens, and says nothing when no connection is chosen", () => {
    expect(forgetPrompt("crm")).toContain("Remove the stored refresh and access tokens of 'crm'?");
    expect(forgetPrompt("crm")).toContain("Its client secret and settings stay.");
    expect(forgetPrompt(null)).toBe("");
  });

  it("offers to sign in only when the page load was refused as signed out", () => {
    expect(fatalView(401)).toEqual({ signedOut: true, title: "Sign in to Airflow first" });
    expect(fatalView(500)).toEqual({ signedOut: false, title: "The OAuth profiles page cannot load" });
  });
});

describe("outcomeToken", () => {
  it("takes the callback's token and the address without it, keeping the rest", () => {
    const href = `https://af.example/team/plugin/oauth?tab=1&${OUTCOME_PARAM}=abc.def#top`;
    expect(outcomeToken(href)).toEqual({ token: "abc.def", cleaned: "https://af.example/team/plugin/oauth?tab=1#top" });
  });

  it("leaves the address alone without a token (or with an empty one)", () => {
    expect(outcomeToken("https://af.example/plugin/oauth?tab=1")).toEqual({ token: null, cleaned: null });
    expect(outcomeToken(`https://af.example/plugin/oauth?${OUTCOME_PARAM}=`)).toEqual({ token: null, cleaned: null });
  });
});
