// The profile form's logic without its rendering: which fields a grant type and provider show, how a stored
// value is shown and a form value stored, the connection's extra built from the form, and the checks made
// before the plugin's. Pure functions of their arguments (ProfileForm.tsx holds the state and renders it).
import type { AirflowConnection, FormField, FormSchema, Option, Preset, PresetParam, Problem } from "./types";

export type Value = string | boolean;
export type Step = "provider" | "grant" | "details";

/** What Airflow's REST API answers in place of a stored secret (and keeps the stored one when sent back). */
export const MASK = "***";
const STEP_FIELDS = new Set(["grant_type", "provider"]);
const STANDARD_KEYS = new Set(["host", "login", "password", "schema", "port", "description"]);
const CONN_ID_PATTERN = /^[A-Za-z0-9_.-]{1,250}$/;

export interface PresetChoice {
  value: string;
  label: string;
  description: string;
  grants: string[];
  params: PresetParam[];
  fills: string[];
  docs: string | null;
  register: Record<string, string>;
}

/** The schema's presets as the provider step offers them ("custom" is its own button). */
export const presetChoices = (presets: Preset[] | undefined): PresetChoice[] =>
  (presets ?? [])
    .map((preset) => {
      const value = String(preset.value ?? preset.name ?? preset.id ?? "");
      const grants = Array.isArray(preset.grant_types)
        ? preset.grant_types.map(String)
        : typeof preset.grant_type === "string"
          ? [preset.grant_type]
          : [];
      return {
        value,
        label: String(preset.label ?? preset.title ?? preset.name ?? value),
        description: typeof preset.description === "string" ? preset.description : "",
        grants,
        params: Array.isArray(preset.params) ? preset.params : [],
        fills: Array.isArray(preset.fills) ? preset.fills.map(String) : [],
        docs: typeof preset.docs === "string" ? preset.docs : null,
        register: preset.register && typeof preset.register === "object" ? preset.register : {},
      };
    })
    .filter((choice) => choice.value && choice.value !== "custom");

/** The choices whose label, value or description holds the search text (all for an empty search). */
export const matchingChoices = (choices: PresetChoice[], query: string): PresetChoice[] => {
  const needle = query.trim().toLowerCase();
  return choices.filter(
    (choice) => !needle || `${choice.label} ${choice.value} ${choice.description}`.toLowerCase().includes(needle),
  );
};

/** The grant types offered: those the provider allows, or all of them (a custom API, or a preset naming none). */
export const grantOptionsFor = (all: Option[], preset: PresetChoice | undefined): Option[] => {
  const allowed = preset?.grants ?? [];
  return allowed.length ? all.filter((option) => allowed.includes(option.value)) : all;
};

/** Where choosing a provider leads: straight to the details when it allows one grant, else to the grant step
 * (with the first grant it allows when the current one is not among them). */
export const afterProvider = (choice: PresetChoice | undefined, grant: string): { grant: string; step: Step } => {
  const grants = choice?.grants ?? [];
  if (grants.length === 1) return { grant: grants[0], step: "details" };
  return { grant: grants.length && !grants.includes(grant) ? grants[0] : grant, step: "grant" };
};

/** Whether the details step shows a field for this grant and provider (provider parameters: only for a preset
 * that declares none, as raw JSON; a preset's declared parameters get inputs of their own). */
export const isVisible = (field: FormField, grant: string, preset: PresetChoice | undefined): boolean =>
  field.in_form !== false &&
  !STEP_FIELDS.has(field.name) &&
  !(field.name === "provider_params" && ((preset?.params ?? []).length > 0 || !preset)) &&
  (!field.grants || field.grants.length === 0 || field.grants.includes(grant));

/** Whether a field is required for this grant; a field the chosen preset fills never is (the preset has the
 * provider's real value). */
export const isRequired = (field: FormField, grant: string, preset: PresetChoice | undefined): boolean =>
  (field.required_for ?? []).includes(grant) && !(preset?.fills ?? []).includes(field.name);

export const isFilledByPreset = (field: FormField, preset: PresetChoice | undefined): boolean =>
  (preset?.fills ?? []).includes(field.name);

export const isEmpty = (value: Value | undefined): boolean =>
  value === undefined || (typeof value === "string" && value.trim() === "");

/** A stored value as the form shows it. */
export const shown = (field: FormField, stored: unknown): Value => {
  if (field.kind === "boolean") return stored === true || stored === "true";
  if (stored === null || stored === undefined) return "";
  if (typeof stored === "object") return JSON.stringify(stored, null, 2);
  return String(stored);
};

/** A form value as it is stored (extra fields: JSON types; JSON fields stay text, as Airflow's own form keeps them). */
export const stored = (field: FormField, value: Value): unknown => {
  if (field.kind === "boolean") return value === true;
  const text = String(value).trim();
  if (field.kind === "integer" || field.kind === "number") return Number(text);
  return field.kind === "json" || field.kind === "multiline" ? String(value) : text;
};

export const defaultValue = (field: FormField): Value => {
  if (field.kind === "boolean") return field.default === true;
  if (field.default === null || field.default === undefined) return "";
  return typeof field.default === "object" ? JSON.stringify(field.default, null, 2) : String(field.default);
};

/** A connection's extra as an object ({} when absent, not JSON or not an object). */
export const parseExtra = (extra: string | null | undefined): Record<string, unknown> => {
  if (!extra) return {};
  try {
    const value: unknown = JSON.parse(extra);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

/** Stored provider parameters (an object, or its JSON text) as the parameter inputs' text values. */
export const parseParams = (value: unknown): Record<string, string> => {
  let data: unknown = value;
  if (typeof value === "string") {
    try {
      data = JSON.parse(value);
    } catch {
      return {};
    }
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) return {};
  return Object.fromEntries(Object.entries(data as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
};

/** Fields grouped by their section, in the schema's section order. */
export const sectionsOf = (fields: FormField[], order: string[] | undefined): [string, FormField[]][] => {
  const groups = new Map<string, FormField[]>();
  for (const section of order ?? []) groups.set(section, []);
  for (const field of fields) {
    const section = field.section ?? "Settings";
    if (!groups.has(section)) groups.set(section, []);
    groups.get(section)?.push(field);
  }
  return [...groups.entries()].filter(([, members]) => members.length > 0);
};

/** The form for a new connection: every field at its default, the first grant type. */
export const newForm = (schema: FormSchema): { values: Record<string, Value>; grant: string; step: Step } => {
  const values: Record<string, Value> = {};
  for (const field of schema.fields) values[field.name] = defaultValue(field);
  return {
    values,
    grant: schema.grant_types[0]?.value ?? "",
    step: presetChoices(schema.presets).length ? "provider" : "grant",
  };
};

export interface EditedForm {
  values: Record<string, Value>;
  /** Fields whose stored value Airflow masked: shown empty, and kept unless a new value is typed. */
  masked: Record<string, boolean>;
  extra: Record<string, unknown>;
  grant: string;
  provider: string;
  params: Record<string, string>;
}

/** The form for a stored connection: its values (standard fields from the connection, the rest from its extra). */
export const editForm = (schema: FormSchema, conn: AirflowConnection): EditedForm => {
  const values = newForm(schema).values;
  const extra = parseExtra(conn.extra);
  const masked: Record<string, boolean> = {};
  for (const field of schema.fields) {
    const raw = field.standard ? (conn as unknown as Record<string, unknown>)[field.name] : extra[field.name];
    if (raw === MASK) {
      masked[field.name] = true;
      values[field.name] = "";
    } else if (raw !== undefined && raw !== null) {
      values[field.name] = shown(field, raw);
    }
  }
  return {
    values,
    masked,
    extra,
    grant: String(extra.grant_type ?? schema.grant_types[0]?.value ?? ""),
    provider: String(extra.provider ?? "custom"),
    params: parseParams(extra.provider_params),
  };
};

/** What the form holds when it is saved. */
export interface FormState {
  connectionId: string;
  grant: string;
  /** "custom", or the chosen preset's value (then `preset` is its choice). */
  provider: string;
  preset: PresetChoice | undefined;
  /** The fields shown (see isVisible). */
  fields: FormField[];
  values: Record<string, Value>;
  masked: Record<string, boolean>;
  /** The preset's parameters as typed. */
  params: Record<string, string>;
  /** The connection being edited and its stored extra (null and {} when adding one). */
  original: AirflowConnection | null;
  originalExtra: Record<string, unknown>;
  editing: boolean;
}

/** The connection as Airflow's REST API takes it; an edit keeps every stored extra key it does not show. */
export const connectionBody = (state: FormState): AirflowConnection => {
  const { original, originalExtra, preset, values, masked } = state;
  const presetParams = preset?.params ?? [];
  const extra: Record<string, unknown> = state.editing ? { ...originalExtra } : {};
  extra.grant_type = state.grant;
  if (state.provider && state.provider !== "custom") extra.provider = state.provider;
  else delete extra.provider;
  if (presetParams.length) {
    const given = Object.fromEntries(
      presetParams.map((param) => [param.name, (state.params[param.name] ?? "").trim()]).filter(([, value]) => value),
    );
    if (Object.keys(given).length) extra.provider_params = JSON.stringify(given);
    else delete extra.provider_params;
  } else if (!preset) {
    delete extra.provider_params;
  }
  const body: AirflowConnection = {
    connection_id: state.connectionId.trim(),
    conn_type: "oauth_connector",
    description: original?.description ?? null,
    host: original?.host ?? null,
    login: original?.login ?? null,
    schema: original?.schema ?? null,
    port: original?.port ?? null,
    password: original?.password ?? null,
  };
  for (const field of state.fields) {
    const value = values[field.name];
    let result: unknown = isEmpty(value) ? undefined : stored(field, value as Value);
    if (result === undefined && masked[field.name]) result = MASK; // unchanged secret: Airflow keeps the stored one
    const untouchedDefault = value === defaultValue(field) && !(field.name in originalExtra);
    if (!field.standard && untouchedDefault && field.default !== undefined) result = undefined; // defaults stay implicit
    if (field.standard && STANDARD_KEYS.has(field.name)) {
      (body as unknown as Record<string, unknown>)[field.name] = result ?? null;
    } else if (result === undefined) {
      delete extra[field.name];
    } else {
      extra[field.name] = result;
    }
  }
  body.extra = JSON.stringify(extra);
  return body;
};

/** The problems found before asking the plugin, by field key: the connection ID, required fields (named by
 * label, key and `grantLabel`), the preset's required parameters. */
export const localProblems = (state: FormState, grantLabel: string): Record<string, string> => {
  const found: Record<string, string> = {};
  if (!CONN_ID_PATTERN.test(state.connectionId.trim())) {
    found.connection_id = "Connection ID: required; letters, digits, '_', '-' and '.' only";
  }
  for (const field of state.fields) {
    if (isRequired(field, state.grant, state.preset) && isEmpty(state.values[field.name]) && !state.masked[field.name]) {
      found[field.name] = `${field.label} (${field.name}): required for ${grantLabel}`;
    }
  }
  const missing = (state.preset?.params ?? []).filter((param) => param.required && !(state.params[param.name] ?? "").trim());
  if (missing.length) {
    found.provider_params = `Provider parameters (provider_params): ${state.preset?.label} needs ${missing
      .map((param) => param.name)
      .join(", ")}`;
  }
  return found;
};

export const problemText = (problem: Problem): string => problem.text || `${problem.label}: ${problem.message}`;

/** The plugin's problems by the form field they belong to (`access_params.query` belongs to `access_params`). */
export const problemsByField = (problems: Problem[]): Record<string, string> => {
  const byField: Record<string, string> = {};
  for (const problem of problems) {
    if (problem.field) byField[problem.field.split(".")[0]] = problemText(problem);
  }
  return byField;
};
