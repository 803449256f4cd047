// Unit tests of format.ts: how the page words a profile's status and its recorded failures.
import { describe, expect, it } from "vitest";

import {
  failureText,
  formatDuration,
  formatEpoch,
  grantLabel,
  recordText,
  refreshExpiryText,
  stateColor,
  stateLabel,
} from "./format";
import { AT, profileRow } from "./testRows";
import type { ProfileRow } from "./types";

const row = (more: Partial<ProfileRow> = {}): ProfileRow =>
  profileRow({ state: "failing", description: "", ...more });

describe("states and grants", () => {
  it("words known states and colours them", () => {
    expect(stateLabel("needs_reauthorization")).toBe("needs re-authorization");
    expect(stateLabel("not_tested")).toBe("not tested yet");
    expect(stateColor("ready")).toBe("green");
    expect(stateColor("not_authorized")).toBe("orange");
    expect(stateColor("failing")).toBe("red");
  });

  it("words an unknown state by its key, in gray", () => {
    expect(stateLabel("some_new_state")).toBe("some new state");
    expect(stateColor("some_new_state")).toBe("gray");
  });

  it("words a grant type by its key", () => {
    expect(grantLabel("authorization_code")).toBe("authorization code");
  });
});

describe("formatEpoch", () => {
  it("gives a UTC minute", () => {
    expect(formatEpoch(AT)).toBe("2026-01-02 03:04 UTC");
  });

  it("gives null for anything that is not a positive finite number", () => {
    for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "1700000000", null, undefined]) {
      expect(formatEpoch(value)).toBeNull();
    }
  });
});

describe("recordText", () => {
  it("gives nothing for no record, the time of a number and a string as it is", () => {
    expect(recordText(null)).toBeNull();
    expect(recordText(undefined)).toBeNull();
    expect(recordText("")).toBeNull();
    expect(recordText(AT)).toBe("2026-01-02 03:04 UTC");
    expect(recordText("it failed")).toBe("it failed");
  });

  it("words kind, message, time and where a task failed", () => {
    const text = recordText({
      kind: "invalid_client",
      message: "bad secret",
      at: AT,
      dag_id: "sync",
      task_id: "fetch",
      try_number: 2,
      map_index: null,
    });
    expect(text).toBe("invalid_client: bad secret (at 2026-01-02 03:04 UTC) — dag sync, task fetch, try_number 2");
  });

  it("words a source as it is, and a nested place by its keys", () => {
    expect(recordText({ kind: "ok", time: AT, source: "test" })).toBe("ok (at 2026-01-02 03:04 UTC) — test");
    expect(recordText({ where: { dag: "sync", task: "", try: 1 } })).toBe(" — dag sync, try 1");
  });

  it("gives null for an empty record", () => {
    expect(recordText({})).toBeNull();
  });
});

describe("failureText", () => {
  it("heads a recorded failure with its kind, time and place, and keeps its message apart", () => {
    const failure = { kind: "invalid_client", message: "bad secret", at: AT, where: "sync/fetch/try 2" };
    expect(failureText(row({ last_failure: failure }))).toEqual({
      head: "invalid_client at 2026-01-02 03:04 UTC in sync/fetch/try 2",
      message: "bad secret",
    });
    expect(failureText(row({ last_failure: {} }))).toEqual({ head: "failure", message: "" });
  });

  it("falls back to the record's text, then the row's last error", () => {
    expect(failureText(row({ last_failure: "it failed", last_error: "older" }))).toEqual({ head: "it failed", message: "" });
    expect(failureText(row({ last_error: "older" }))).toEqual({ head: "older", message: "" });
    expect(failureText(row())).toBeNull();
  });
});

describe("formatDuration and refreshExpiryText", () => {
  it.each([
    [12 * 86400 + 7200, "12 days"],
    [86400, "1 day"],
    [5 * 3600 + 59, "5 hours"],
    [3600, "1 hour"],
    [20 * 60 + 30, "20 minutes"],
    [60, "1 minute"],
    [59, "less than a minute"],
  ])("words %d seconds as %s, as the server does", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it("words a refresh token's stated expiry: later, within a week, passed, or none", () => {
    expect(refreshExpiryText(AT + 30 * 86400, AT)).toBe("refresh token expires in 30 days");
    expect(refreshExpiryText(AT + 7 * 86400, AT)).toBe("refresh token expires in 7 days — authorize again before then");
    expect(refreshExpiryText(AT, AT)).toBe("refresh token expired at 2026-01-02 03:04 UTC — authorize again");
    expect(refreshExpiryText(null, AT)).toBeNull();
    expect(refreshExpiryText("soon", AT)).toBeNull();
  });
});
