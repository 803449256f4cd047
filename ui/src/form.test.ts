// Unit tests of form.ts: the profile form's logic (which fields show, stored/shown values, the extra built
// from the form, the checks made before the plugin's). Run by `npm test` (tests/ui/test_ui_unit.py runs it).
import { describe, expect, it } from "vitest";

import {
  MASK,
  afterProvider,
  connectionBody,
  defaultValue,
  editForm,
  grantOptionsFor,
  isEmpty,
  isRequired,
  isVisible,
  localProblems,
  matchingChoices,
  newForm,
  parseExtra,
  parseParams,
  presetChoices,
  problemsByField,
  sectionsOf,
  shown,
  stored,
  type FormState,
  type PresetChoice,
} from "./form";
import type { FormField, FormSchema, Option, Problem } from "./types";

const field = (name: string, more: Partial<FormField> = {}): FormField => ({ name, label: name, kind: "text", ...more });

const choice = (value: string, more: Partial<PresetChoice> = {}): PresetChoice => ({
  value,
  label: value,
  description: "",
  grants: [],
  params: [],
  fills: [],
  docs: null,
  register: {},
  ...more,
});

const GRANTS: Option[] = [
  { value: "client_credentials", label: "Client credentials" },
  { value: "authorization_code", label: "Authorization code" },
  { value: "password", label: "Password" },
];

const state = (more: Partial<FormState> = {}): FormState => ({
  connectionId: "crm",
  grant: "client_credentials",
  provider: "custom",
  preset: undefined,
  fields: [],
  values: {},
  masked: {},
  params: {},
  original: null,
  originalExtra: {},
  editing: false,
  ...more,
});

const extraOf = (body: { extra?: string | null }): Record<string, unknown> => JSON.parse(body.extra ?? "null");

describe("presetChoices", () => {
  it("reads each preset's value, label, grants, params and fills, and drops 'custom' and nameless ones", () => {
    const choices = presetChoices([
      { name: "github", title: "GitHub", grant_types: ["authorization_code"], fills: ["authorize_url"] },
      { value: "acme", grant_type: "client_credentials", params: [{ name: "tenant", required: true }] },
      { value: "custom", label: "Custom" },
      { label: "no value" },
    ]);
    expect(choices.map((c) => [c.value, c.label, c.grants, c.fills])).toEqual([
      ["github", "GitHub", ["authorization_code"], ["authorize_url"]],
      ["acme", "acme", ["client_credentials"], []],
    ]);
    expect(choices[1].params).toEqual([{ name: "tenant", required: true }]);
    expect(presetChoices(undefined)).toEqual([]);
  });

  it("keeps only text docs and object registers", () => {
    const [choice] = presetChoices([{ value: "x", docs: 3 as unknown as string, register: { redirect_uri: "the callback" } }]);
    expect(choice.docs).toBeNull();
    expect(choice.register).toEqual({ redirect_uri: "the callback" });
  });
});

describe("matchingChoices", () => {
  const choices = [choice("github", { label: "GitHub" }), choice("okta", { description: "Workforce identity" })];

  it("matches label, value or description, ignoring case and surrounding blanks", () => {
    expect(matchingChoices(choices, "  GITHUB ").map((c) => c.value)).toEqual(["github"]);
    expect(matchingChoices(choices, "workforce").map((c) => c.value)).toEqual(["okta"]);
    expect(matchingChoices(choices, "nothing")).toEqual([]);
  });

  it("shows every choice for an empty search", () => {
    expect(matchingChoices(choices, " ")).toEqual(choices);
  });
});

describe("grant types and the provider step", () => {
  it("offers the grants a preset allows, or all of them", () => {
    expect(grantOptionsFor(GRANTS, choice("p", { grants: ["password"] }))).toEqual([GRANTS[2]]);
    expect(grantOptionsFor(GRANTS, choice("p"))).toEqual(GRANTS);
    expect(grantOptionsFor(GRANTS, undefined)).toEqual(GRANTS);
  });

  it("goes straight to the details for a provider with one grant", () => {
    expect(afterProvider(choice("p", { grants: ["password"] }), "client_credentials")).toEqual({
      grant: "password",
      step: "details",
    });
  });

  it("asks for the grant otherwise, switching to the provider's first grant when the current one is not allowed", () => {
    const two = choice("p", { grants: ["authorization_code", "password"] });
    expect(afterProvider(two, "client_credentials")).toEqual({ grant: "authorization_code", step: "grant" });
    expect(afterProvider(two, "password")).toEqual({ grant: "password", step: "grant" });
    expect(afterProvider(undefined, "password")).toEqual({ grant: "password", step: "grant" });
  });
});

describe("isVisible", () => {
  it("shows a field of every grant, and a grant's own field only for that grant", () => {
    expect(isVisible(field("scope"), "password", undefined)).toBe(true);
    expect(isVisible(field("scope", { grants: [] }), "password", undefined)).toBe(true);
    const username = field("username", { grants: ["password"] });
    expect(isVisible(username, "password", undefined)).toBe(true);
    expect(isVisible(username, "client_credentials", undefined)).toBe(false);
  });

  it("hides the step fields and fields kept out of the form", () => {
    expect(isVisible(field("grant_type"), "password", undefined)).toBe(false);
    expect(isVisible(field("provider"), "password", undefined)).toBe(false);
    expect(isVisible(field("store", { in_form: false }), "password", undefined)).toBe(false);
  });

  it("shows raw provider parameters only for a preset that declares none", () => {
    const raw = field("provider_params", { kind: "json" });
    expect(isVisible(raw, "password", undefined)).toBe(false);
    expect(isVisible(raw, "password", choice("p", { params: [{ name: "tenant" }] }))).toBe(false);
    expect(isVisible(raw, "password", choice("p"))).toBe(true);
  });
});

describe("isRequired", () => {
  const url = field("access_url", { required_for: ["client_credentials"] });

  it("requires a field for the grants that need it", () => {
    expect(isRequired(url, "client_credentials", undefined)).toBe(true);
    expect(isRequired(url, "password", undefined)).toBe(false);
    expect(isRequired(field("scope"), "client_credentials", undefined)).toBe(false);
  });

  it("never requires a field the preset fills", () => {
    expect(isRequired(url, "client_credentials", choice("p", { fills: ["access_url"] }))).toBe(false);
  });
});

describe("shown, stored and defaultValue", () => {
  it("shows booleans as booleans, objects as indented JSON, nothing as empty text", () => {
    const flag = field("dpop", { kind: "boolean" });
    expect(shown(flag, true)).toBe(true);
    expect(shown(flag, "true")).toBe(true);
    expect(shown(flag, "false")).toBe(false);
    expect(shown(field("headers", { kind: "json" }), { a: 1 })).toBe('{\n  "a": 1\n}');
    expect(shown(field("timeout", { kind: "integer" }), 30)).toBe("30");
    expect(shown(field("scope"), null)).toBe("");
    expect(shown(field("scope"), undefined)).toBe("");
  });

  it("stores numbers as numbers, text trimmed, JSON and multi-line text as typed", () => {
    expect(stored(field("timeout", { kind: "integer" }), " 30 ")).toBe(30);
    expect(stored(field("leeway", { kind: "number" }), "1.5")).toBe(1.5);
    expect(stored(field("dpop", { kind: "boolean" }), true)).toBe(true);
    expect(stored(field("dpop", { kind: "boolean" }), "true")).toBe(false);
    expect(stored(field("scope"), "  read write ")).toBe("read write");
    expect(stored(field("headers", { kind: "json" }), ' {"a": 1} ')).toBe(' {"a": 1} ');
    expect(stored(field("key", { kind: "multiline" }), "line\n")).toBe("line\n");
  });

  it("gives each kind's default as the form shows it", () => {
    expect(defaultValue(field("dpop", { kind: "boolean", default: true }))).toBe(true);
    expect(defaultValue(field("dpop", { kind: "boolean" }))).toBe(false);
    expect(defaultValue(field("timeout", { default: 30 }))).toBe("30");
    expect(defaultValue(field("headers", { default: { a: 1 } }))).toBe('{\n  "a": 1\n}');
    expect(defaultValue(field("scope", { default: null }))).toBe("");
  });

  it("counts missing and blank text as empty, never a boolean", () => {
    expect(isEmpty(undefined)).toBe(true);
    expect(isEmpty("  ")).toBe(true);
    expect(isEmpty("x")).toBe(false);
    expect(isEmpty(false)).toBe(false);
  });
});

describe("parseExtra and parseParams", () => {
  it("reads an extra object, and anything else as {}", () => {
    expect(parseExtra('{"grant_type": "password"}')).toEqual({ grant_type: "password" });
    for (const extra of [null, undefined, "", "not json", "[1]", "3", "null"]) expect(parseExtra(extra)).toEqual({});
  });

  it("reads provider parameters from an object or its JSON, as text", () => {
    expect(parseParams('{"tenant": "acme", "region": 2}')).toEqual({ tenant: "acme", region: "2" });
    expect(parseParams({ tenant: "acme" })).toEqual({ tenant: "acme" });
    for (const value of ["{", "[1]", null, 3]) expect(parseParams(value)).toEqual({});
  });
});

describe("sectionsOf", () => {
  it("groups fields in the schema's section order, then new sections, and drops empty ones", () => {
    const fields = [field("a", { section: "Token" }), field("b"), field("c", { section: "Extra" }), field("d", { section: "Token" })];
    const groups = sectionsOf(fields, ["Empty", "Settings", "Token"]);
    expect(groups.map(([section, members]) => [section, members.map((f) => f.name)])).toEqual([
      ["Settings", ["b"]],
      ["Token", ["a", "d"]],
      ["Extra", ["c"]],
    ]);
  });
});

describe("newForm and editForm", () => {
  const schema: FormSchema = {
    grant_types: GRANTS,
    fields: [
      field("host", { standard: true }),
      field("password", { kind: "password", standard: true }),
      field("client_secret", { kind: "password" }),
      field("timeout", { kind: "integer", default: 30 }),
      field("headers", { kind: "json" }),
    ],
  };

  it("starts a new connection at the defaults and the first grant, with the provider step only when presets exist", () => {
    expect(newForm(schema)).toEqual({
      values: { host: "", password: "", client_secret: "", timeout: "30", headers: "" },
      grant: "client_credentials",
      step: "grant",
    });
    expect(newForm({ ...schema, presets: [{ value: "github" }] }).step).toBe("provider");
  });

  it("shows a stored connection, masked secrets empty and marked", () => {
    const edited = editForm(schema, {
      connection_id: "crm",
      conn_type: "oauth_connector",
      host: "https://api.example.com",
      password: MASK,
      extra: JSON.stringify({
        grant_type: "password",
        provider: "acme",
        provider_params: '{"tenant": "t1"}',
        client_secret: MASK,
        headers: { Accept: "json" },
      }),
    });
    expect(edited.values).toEqual({
      host: "https://api.example.com",
      password: "",
      client_secret: "",
      timeout: "30",
      headers: '{\n  "Accept": "json"\n}',
    });
    expect(edited.masked).toEqual({ password: true, client_secret: true });
    expect([edited.grant, edited.provider, edited.params]).toEqual(["password", "acme", { tenant: "t1" }]);
    expect(edited.extra.client_secret).toBe(MASK);
  });

  it("falls back to the first grant and the custom provider when the extra names neither", () => {
    const edited = editForm(schema, { connection_id: "crm", conn_type: "oauth_connector", extra: "{}" });
    expect([edited.grant, edited.provider, edited.params]).toEqual(["client_credentials", "custom", {}]);
  });
});

describe("connectionBody", () => {
  it("builds a new connection's extra from the shown fields, defaults left implicit", () => {
    const fields = [
      field("access_url"),
      field("timeout", { kind: "integer", default: 30 }),
      field("retry_max_attempts", { kind: "integer", default: 5 }),
      field("scope"),
      field("host", { standard: true }),
    ];
    const body = connectionBody(
      state({
        connectionId: " crm ",
        fields,
        values: { access_url: " https://a.example/token ", timeout: "30", retry_max_attempts: "3", scope: "", host: "https://api" },
      }),
    );
    expect(body).toMatchObject({
      connection_id: "crm",
      conn_type: "oauth_connector",
      host: "https://api",
      login: null,
      password: null,
    });
    expect(extraOf(body)).toEqual({
      grant_type: "client_credentials",
      access_url: "https://a.example/token",
      retry_max_attempts: 3,
    });
  });

  it("names the preset and stores its given parameters as JSON text", () => {
    const preset = choice("acme", { params: [{ name: "tenant" }, { name: "region" }] });
    const body = connectionBody(state({ provider: "acme", preset, params: { tenant: " t1 ", region: " " } }));
    expect(extraOf(body)).toEqual({ grant_type: "client_credentials", provider: "acme", provider_params: '{"tenant":"t1"}' });
  });

  it("on an edit keeps the extra keys it does not show, drops cleared ones and sends masked secrets back as the mask", () => {
    const fields = [field("client_secret", { kind: "password" }), field("scope"), field("password", { standard: true })];
    const body = connectionBody(
      state({
        editing: true,
        provider: "custom",
        fields,
        values: { client_secret: "", scope: "", password: "" },
        masked: { client_secret: true, password: true },
        original: { connection_id: "crm", conn_type: "oauth_connector", description: "CRM", password: MASK },
        originalExtra: { grant_type: "password", provider: "old", provider_params: "{}", scope: "read", audience: "api" },
      }),
    );
    expect(body.description).toBe("CRM");
    expect(body.password).toBe(MASK);
    expect(extraOf(body)).toEqual({ grant_type: "client_credentials", client_secret: MASK, audience: "api" });
  });

  it("keeps a default value the stored extra already held", () => {
    const timeout = field("timeout", { kind: "integer", default: 30 });
    const body = connectionBody(
      state({ editing: true, fields: [timeout], values: { timeout: "30" }, originalExtra: { timeout: 30 } }),
    );
    expect(extraOf(body).timeout).toBe(30);
  });

  it("keeps raw provider parameters of a preset that declares none", () => {
    const raw = field("provider_params", { kind: "json" });
    const body = connectionBody(
      state({ provider: "acme", preset: choice("acme"), fields: [raw], values: { provider_params: '{"x": "1"}' } }),
    );
    expect(extraOf(body)).toEqual({ grant_type: "client_credentials", provider: "acme", provider_params: '{"x": "1"}' });
  });
});

describe("localProblems", () => {
  const url = field("access_url", { label: "Access token URL", required_for: ["client_credentials"] });

  it("finds nothing in a complete form", () => {
    expect(localProblems(state({ fields: [url], values: { access_url: "https://a" } }), "Client credentials")).toEqual({});
  });

  it("names a bad connection ID and each missing required field by label, key and grant", () => {
    const found = localProblems(state({ connectionId: "bad id", fields: [url], values: { access_url: " " } }), "Client credentials");
    expect(found).toEqual({
      connection_id: "Connection ID: required; letters, digits, '_', '-' and '.' only",
      access_url: "Access token URL (access_url): required for Client credentials",
    });
    expect(Object.keys(localProblems(state({ connectionId: "x".repeat(251) }), "g"))).toEqual(["connection_id"]);
  });

  it("accepts an empty masked secret (the stored one is kept) and fields the preset fills", () => {
    expect(localProblems(state({ fields: [url], masked: { access_url: true } }), "g")).toEqual({});
    expect(localProblems(state({ fields: [url], preset: choice("p", { fills: ["access_url"] }) }), "g")).toEqual({});
  });

  it("lists the preset's missing required parameters", () => {
    const preset = choice("acme", { label: "Acme", params: [{ name: "tenant", required: true }, { name: "region", required: true }, { name: "x" }] });
    expect(localProblems(state({ preset, params: { region: "eu" } }), "g")).toEqual({
      provider_params: "Provider parameters (provider_params): Acme needs tenant",
    });
  });
});

describe("problemsByField", () => {
  it("files each plugin problem under its top-level field, worded by its text or label and message", () => {
    const problems: Problem[] = [
      { text: "Token parameters (access_params): bad", field: "access_params.query", label: "Token parameters", message: "bad" },
      { text: "", field: "scope", label: "Scope", message: "too long" },
      { text: "General problem", field: null, label: null, message: null },
    ];
    expect(problemsByField(problems)).toEqual({
      access_params: "Token parameters (access_params): bad",
      scope: "Scope: too long",
    });
  });
});
