// Add OAuth / Edit: a guided form. Provider first (when presets exist), then the grant type, then only that
// grant's fields (advanced ones folded away). The fields are checked (here and by the plugin, whose messages
// name the field's label) before the connection is saved through Airflow's own REST API.
import {
  Alert,
  Box,
  Button,
  Checkbox,
  Code,
  Collapsible,
  Dialog,
  Field,
  HStack,
  Input,
  NativeSelect,
  Portal,
  SimpleGrid,
  Spinner,
  Stack,
  Text,
  Textarea,
} from "@chakra-ui/react";
import { useEffect, useMemo, useRef, useState } from "react";

import type { Client } from "./api";
import type { AirflowConnection, FormField, FormSchema, Option, Preset, PresetParam, Problem } from "./types";

type Value = string | boolean;
type Step = "provider" | "grant" | "details";

interface Props {
  client: Client;
  connId?: string;
  onClose: () => void;
  onSaved: (connId: string, created: boolean, grant: string) => void;
}

const MASK = "***";
const STEP_FIELDS = new Set(["grant_type", "provider"]);
const STANDARD_KEYS = new Set(["host", "login", "password", "schema", "port", "description"]);
const CONN_ID_PATTERN = /^[A-Za-z0-9_.-]{1,250}$/;

interface PresetChoice {
  value: string;
  label: string;
  description: string;
  grants: string[];
  params: PresetParam[];
  fills: string[];
  docs: string | null;
  register: Record<string, string>;
}

const presetChoices = (presets: Preset[] | undefined): PresetChoice[] =>
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

const isEmpty = (value: Value | undefined): boolean =>
  value === undefined || (typeof value === "string" && value.trim() === "");

/** A stored value as the form shows it. */
const shown = (field: FormField, stored: unknown): Value => {
  if (field.kind === "boolean") return stored === true || stored === "true";
  if (stored === null || stored === undefined) return "";
  if (typeof stored === "object") return JSON.stringify(stored, null, 2);
  return String(stored);
};

/** A form value as it is stored (extra fields: JSON types; JSON fields stay text, as Airflow's own form keeps them). */
const stored = (field: FormField, value: Value): unknown => {
  if (field.kind === "boolean") return value === true;
  const text = String(value).trim();
  if (field.kind === "integer" || field.kind === "number") return Number(text);
  return field.kind === "json" || field.kind === "multiline" ? String(value) : text;
};

const defaultValue = (field: FormField): Value => {
  if (field.kind === "boolean") return field.default === true;
  if (field.default === null || field.default === undefined) return "";
  return typeof field.default === "object" ? JSON.stringify(field.default, null, 2) : String(field.default);
};

export const ProfileForm = ({ client, connId, onClose, onSaved }: Props) => {
  const editing = connId !== undefined;
  const [schema, setSchema] = useState<FormSchema | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [step, setStep] = useState<Step>("provider");
  const [provider, setProvider] = useState("custom");
  const [grant, setGrant] = useState("");
  const [connectionId, setConnectionId] = useState(connId ?? "");
  const [values, setValues] = useState<Record<string, Value>>({});
  const [masked, setMasked] = useState<Record<string, boolean>>({});
  const [original, setOriginal] = useState<AirflowConnection | null>(null);
  const [originalExtra, setOriginalExtra] = useState<Record<string, unknown>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problems, setProblems] = useState<string[]>([]);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [advancedOpen, setAdvancedOpen] = useState(false);
  const [params, setParams] = useState<Record<string, string>>({});
  const bodyRef = useRef<HTMLDivElement | null>(null);

  /** Bring the first refused field (else the summary) into view: the form is long. */
  const showProblem = (names: string[]) =>
    globalThis.requestAnimationFrame(() => {
      const root = bodyRef.current;
      const first = names.map((name) => root?.querySelector(`[data-field="${CSS.escape(name)}"]`)).find(Boolean);
      (first ?? root?.querySelector("[data-testid=form-problems]"))?.scrollIntoView({ block: "center" });
    });

  useEffect(() => {
    (async () => {
      try {
        const form = await client.form();
        const initial: Record<string, Value> = {};
        for (const field of form.fields) initial[field.name] = defaultValue(field);
        if (connId === undefined) {
          setValues(initial);
          setGrant(form.grant_types[0]?.value ?? "");
          setStep(presetChoices(form.presets).length ? "provider" : "grant");
        } else {
          const conn = await client.getConnection(connId);
          const extra = parseExtra(conn.extra);
          const hidden: Record<string, boolean> = {};
          for (const field of form.fields) {
            const raw = field.standard ? (conn as unknown as Record<string, unknown>)[field.name] : extra[field.name];
            if (raw === MASK) {
              hidden[field.name] = true;
              initial[field.name] = "";
            } else if (raw !== undefined && raw !== null) {
              initial[field.name] = shown(field, raw);
            }
          }
          setOriginal(conn);
          setOriginalExtra(extra);
          setMasked(hidden);
          setValues(initial);
          setGrant(String(extra.grant_type ?? form.grant_types[0]?.value ?? ""));
          setProvider(String(extra.provider ?? "custom"));
          setParams(parseParams(extra.provider_params));
          setStep("details");
        }
        setSchema(form);
      } catch (error) {
        setLoadError(error instanceof Error ? error.message : String(error));
      }
    })();
  }, [client, connId]);

  const presets = useMemo(() => presetChoices(schema?.presets), [schema]);
  const preset = presets.find((choice) => choice.value === provider);
  const grantOptions: Option[] = useMemo(() => {
    const all = schema?.grant_types ?? [];
    const allowed = preset?.grants ?? [];
    return allowed.length ? all.filter((option) => allowed.includes(option.value)) : all;
  }, [schema, preset]);
  const grantOption = schema?.grant_types.find((option) => option.value === grant);

  const presetParams = preset?.params ?? [];
  const visible = (field: FormField) =>
    field.in_form !== false &&
    !STEP_FIELDS.has(field.name) &&
    !(field.name === "provider_params" && (presetParams.length > 0 || !preset)) &&
    (!field.grants || field.grants.length === 0 || field.grants.includes(grant));
  // A field the chosen preset fills is never required (the preset has the provider's real value).
  const required = (field: FormField) =>
    (field.required_for ?? []).includes(grant) && !(preset?.fills ?? []).includes(field.name);
  const inputFor = (field: FormField) => (
    <FieldInput
      error={errors[field.name]}
      field={field}
      filledByPreset={(preset?.fills ?? []).includes(field.name)}
      key={field.name}
      masked={Boolean(masked[field.name])}
      onChange={(value) => setValue(field.name, value)}
      required={required(field)}
      value={values[field.name] ?? defaultValue(field)}
    />
  );
  const fields = (schema?.fields ?? []).filter(visible);
  const basic = fields.filter((field) => !field.advanced);
  const advanced = fields.filter((field) => field.advanced);

  const setValue = (name: string, value: Value) => {
    setValues((current) => ({ ...current, [name]: value }));
    setErrors((current) => {
      if (!(name in current)) return current;
      const next = { ...current };
      delete next[name];
      return next;
    });
  };

  const chooseProvider = (value: string) => {
    setProvider(value);
    const choice = presets.find((option) => option.value === value);
    const grants = choice?.grants ?? [];
    if (grants.length === 1) {
      setGrant(grants[0]);
      setStep("details");
    } else {
      if (grants.length && !grants.includes(grant)) setGrant(grants[0]);
      setStep("grant");
    }
  };

  /** The connection as Airflow's REST API takes it; an edit keeps every stored extra key it does not show. */
  const connectionBody = (): AirflowConnection => {
    const extra: Record<string, unknown> = editing ? { ...originalExtra } : {};
    extra.grant_type = grant;
    if (provider && provider !== "custom") extra.provider = provider;
    else delete extra.provider;
    if (presetParams.length) {
      const given = Object.fromEntries(
        presetParams.map((param) => [param.name, (params[param.name] ?? "").trim()]).filter(([, value]) => value),
      );
      if (Object.keys(given).length) extra.provider_params = JSON.stringify(given);
      else delete extra.provider_params;
    } else if (!preset) {
      delete extra.provider_params;
    }
    const body: AirflowConnection = {
      connection_id: connectionId.trim(),
      conn_type: "oauth_connector",
      description: original?.description ?? null,
      host: original?.host ?? null,
      login: original?.login ?? null,
      schema: original?.schema ?? null,
      port: original?.port ?? null,
      password: original?.password ?? null,
    };
    for (const field of fields) {
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

  const localProblems = (): Record<string, string> => {
    const found: Record<string, string> = {};
    if (!CONN_ID_PATTERN.test(connectionId.trim())) {
      found.connection_id = "Connection ID: required; letters, digits, '_', '-' and '.' only";
    }
    for (const field of fields) {
      if (required(field) && isEmpty(values[field.name]) && !masked[field.name]) {
        found[field.name] = `${field.label} (${field.name}): required for ${grantOption?.label ?? grant}`;
      }
    }
    const missing = presetParams.filter((param) => param.required && !(params[param.name] ?? "").trim());
    if (missing.length) {
      found.provider_params = `Provider parameters (provider_params): ${preset?.label} needs ${missing
        .map((param) => param.name)
        .join(", ")}`;
    }
    return found;
  };

  const save = async () => {
    setSaveError(null);
    const local = localProblems();
    setErrors(local);
    setProblems(Object.values(local));
    if (Object.keys(local).length) {
      showProblem(Object.keys(local));
      return;
    }
    const body = connectionBody();
    setSaving(true);
    try {
      const answer = await client.validate({ ...body, existing: editing });
      if (!answer.ok) {
        const byField: Record<string, string> = {};
        for (const problem of answer.problems) {
          if (problem.field) byField[problem.field.split(".")[0]] = problemText(problem); // access_params.query
        }
        setErrors(byField);
        setProblems(answer.problems.map((problem) => problem.text));
        const folded = advanced.some((field) => field.name in byField);
        if (folded) setAdvancedOpen(true);
        showProblem(Object.keys(byField));
        return;
      }
      setProblems([]);
      if (editing) await client.updateConnection(body);
      else await client.createConnection(body);
      onSaved(body.connection_id, !editing, grant);
    } catch (error) {
      setSaveError(error instanceof Error ? error.message : String(error));
    } finally {
      setSaving(false);
    }
  };

  const title = editing ? `Edit OAuth profile '${connId}'` : "Add OAuth";

  return (
    <Dialog.Root
      closeOnInteractOutside={false}
      onOpenChange={(details) => {
        if (!details.open) onClose();
      }}
      open
      scrollBehavior="inside"
      size="lg"
    >
      <Portal>
        <Dialog.Backdrop />
        <Dialog.Positioner>
          <Dialog.Content data-testid="profile-form">
            <Dialog.Header>
              <Dialog.Title>{title}</Dialog.Title>
            </Dialog.Header>
            <Dialog.Body ref={bodyRef}>
              {loadError ? (
                <Alert.Root status="error">
                  <Alert.Indicator />
                  <Alert.Title>Could not load the form: {loadError}</Alert.Title>
                </Alert.Root>
              ) : !schema ? (
                <HStack color="fg.muted">
                  <Spinner size="sm" /> <Text>Loading…</Text>
                </HStack>
              ) : step === "provider" ? (
                <ProviderStep choices={presets} onChoose={chooseProvider} />
              ) : step === "grant" ? (
                <GrantStep options={grantOptions} onChoose={(value) => (setGrant(value), setStep("details"))} />
              ) : (
                <Stack gap={4}>
                  <HStack color="fg.muted" fontSize="sm" wrap="wrap">
                    <Text>
                      Provider: <b>{preset?.label ?? "Custom OAuth 2.0 API"}</b>
                    </Text>
                    {presets.length ? (
                      <Button onClick={() => setStep("provider")} size="2xs" variant="ghost">
                        Change
                      </Button>
                    ) : null}
                  </HStack>
                  <Field.Root data-field="connection_id" invalid={Boolean(errors.connection_id)} readOnly={editing} required>
                    <Field.Label>
                      Connection ID <Field.RequiredIndicator />
                    </Field.Label>
                    <Input
                      onChange={(event) => setConnectionId(event.target.value)}
                      placeholder="e.g. partner_crm"
                      value={connectionId}
                    />
                    <Field.HelperText>How DAGs refer to it: OAuthConnectorHook("{connectionId || "…"}").</Field.HelperText>
                    {errors.connection_id ? <Field.ErrorText>{errors.connection_id}</Field.ErrorText> : null}
                  </Field.Root>
                  <Field.Root>
                    <Field.Label>Grant type</Field.Label>
                    <NativeSelect.Root>
                      <NativeSelect.Field onChange={(event) => setGrant(event.target.value)} value={grant}>
                        {grantOptions.map((option) => (
                          <option key={option.value} value={option.value}>
                            {option.label}
                          </option>
                        ))}
                      </NativeSelect.Field>
                      <NativeSelect.Indicator />
                    </NativeSelect.Root>
                    {grantOption?.description ? <Field.HelperText>{grantOption.description}</Field.HelperText> : null}
                  </Field.Root>
                  {preset ? <PresetHints preset={preset} /> : null}
                  {presetParams.length ? (
                    <Stack data-field="provider_params" gap={3}>
                      <Text fontWeight="semibold">{preset?.label} parameters</Text>
                      {presetParams.map((param) => (
                        <ParamInput
                          key={param.name}
                          onChange={(value) => {
                            setParams((current) => ({ ...current, [param.name]: value }));
                            setErrors((current) => ({ ...current, provider_params: "" }));
                          }}
                          param={param}
                          value={params[param.name] ?? ""}
                        />
                      ))}
                      {errors.provider_params ? (
                        <Text color="fg.error" fontSize="sm">
                          {errors.provider_params}
                        </Text>
                      ) : null}
                    </Stack>
                  ) : null}
                  {sectionsOf(basic, schema.sections).map(([section, members]) => (
                    <Stack gap={3} key={section}>
                      <Text color="fg.muted" fontSize="xs" fontWeight="semibold" textTransform="uppercase">
                        {section}
                      </Text>
                      {members.map(inputFor)}
                    </Stack>
                  ))}
                  {advanced.length ? (
                    <Collapsible.Root onOpenChange={(details) => setAdvancedOpen(details.open)} open={advancedOpen}>
                      <Collapsible.Trigger asChild>
                        <Button size="sm" variant="ghost">
                          {advancedOpen ? "▾" : "▸"} Advanced options ({advanced.length})
                        </Button>
                      </Collapsible.Trigger>
                      <Collapsible.Content>
                        <Stack borderLeftWidth="2px" gap={4} mt={2} pl={4}>
                          {advanced.map(inputFor)}
                        </Stack>
                      </Collapsible.Content>
                    </Collapsible.Root>
                  ) : null}
                  {problems.length ? (
                    <Alert.Root data-testid="form-problems" status="error">
                      <Alert.Indicator />
                      <Alert.Content>
                        <Alert.Title>Not saved: fix {problems.length === 1 ? "this field" : "these fields"} first</Alert.Title>
                        <Alert.Description>
                          <Box as="ul" listStyleType="disc" pl={4}>
                            {problems.map((text) => (
                              <li key={text}>{text}</li>
                            ))}
                          </Box>
                        </Alert.Description>
                      </Alert.Content>
                    </Alert.Root>
                  ) : null}
                  {saveError ? (
                    <Alert.Root data-testid="save-error" status="error">
                      <Alert.Indicator />
                      <Alert.Content>
                        <Alert.Title>Airflow did not save the connection</Alert.Title>
                        <Alert.Description>{saveError}</Alert.Description>
                      </Alert.Content>
                    </Alert.Root>
                  ) : null}
                </Stack>
              )}
            </Dialog.Body>
            <Dialog.Footer>
              {step === "grant" && presets.length && !editing ? (
                <Button onClick={() => setStep("provider")} variant="ghost">
                  Back
                </Button>
              ) : null}
              {step === "details" && !editing ? (
                <Button onClick={() => setStep("grant")} variant="ghost">
                  Back
                </Button>
              ) : null}
              <Button onClick={onClose} variant="outline">
                Cancel
              </Button>
              {step === "details" && schema ? (
                <Button colorPalette="blue" loading={saving} onClick={save}>
                  {editing ? "Save" : "Save connection"}
                </Button>
              ) : null}
            </Dialog.Footer>
            <Dialog.CloseTrigger asChild>
              <Button aria-label="Close" position="absolute" right={2} size="sm" top={2} variant="ghost">
                ✕
              </Button>
            </Dialog.CloseTrigger>
          </Dialog.Content>
        </Dialog.Positioner>
      </Portal>
    </Dialog.Root>
  );
};

const parseExtra = (extra: string | null | undefined): Record<string, unknown> => {
  if (!extra) return {};
  try {
    const value: unknown = JSON.parse(extra);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

const problemText = (problem: Problem): string => problem.text || `${problem.label}: ${problem.message}`;

/** Fields grouped by their section, in the schema's section order. */
const sectionsOf = (fields: FormField[], order: string[] | undefined): [string, FormField[]][] => {
  const groups = new Map<string, FormField[]>();
  for (const section of order ?? []) groups.set(section, []);
  for (const field of fields) {
    const section = field.section ?? "Settings";
    if (!groups.has(section)) groups.set(section, []);
    groups.get(section)?.push(field);
  }
  return [...groups.entries()].filter(([, members]) => members.length > 0);
};

const parseParams = (value: unknown): Record<string, string> => {
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

const PresetHints = ({ preset }: { preset: PresetChoice }) => {
  const register = Object.entries(preset.register);
  if (!register.length && !preset.docs) return null;
  return (
    <Box bg="bg.muted" borderRadius="md" fontSize="xs" p={3}>
      {register.length ? (
        <>
          <Text fontWeight="semibold">Register at the provider</Text>
          <Box as="ul" listStyleType="disc" pl={4}>
            {register.map(([what, how]) => (
              <li key={what}>
                {what.replaceAll("_", " ")}: {how}
              </li>
            ))}
          </Box>
        </>
      ) : null}
      {preset.docs ? (
        <Text>
          Provider documentation:{" "}
          <a href={preset.docs} rel="noopener noreferrer" target="_blank">
            {preset.docs}
          </a>
        </Text>
      ) : null}
    </Box>
  );
};

const ParamInput = ({ param, value, onChange }: { param: PresetParam; value: string; onChange: (v: string) => void }) => (
  <Field.Root required={Boolean(param.required)}>
    <Field.Label>
      {param.name}
      {param.required ? <Field.RequiredIndicator /> : null}
    </Field.Label>
    {param.choices && param.choices.length ? (
      <NativeSelect.Root>
        <NativeSelect.Field onChange={(event) => onChange(event.target.value)} value={value}>
          <option value="">—</option>
          {param.choices.map((choice) => (
            <option key={choice} value={choice}>
              {choice}
            </option>
          ))}
        </NativeSelect.Field>
        <NativeSelect.Indicator />
      </NativeSelect.Root>
    ) : (
      <Input onChange={(event) => onChange(event.target.value)} placeholder={param.default ?? undefined} value={value} />
    )}
    {param.description ? <Field.HelperText>{param.description}</Field.HelperText> : null}
  </Field.Root>
);

const ProviderStep = ({ choices, onChoose }: { choices: PresetChoice[]; onChoose: (value: string) => void }) => {
  const [query, setQuery] = useState("");
  const needle = query.trim().toLowerCase();
  const shownChoices = choices.filter(
    (choice) => !needle || `${choice.label} ${choice.value} ${choice.description}`.toLowerCase().includes(needle),
  );
  return (
    <Stack gap={3}>
      <Text fontWeight="semibold">1. Which API do you connect to?</Text>
      <Input
        aria-label="Search providers"
        onChange={(event) => setQuery(event.target.value)}
        placeholder="Search providers"
        value={query}
      />
      <Button justifyContent="flex-start" onClick={() => onChoose("custom")} variant="outline">
        Custom OAuth 2.0 API
        <Text as="span" color="fg.muted" fontWeight="normal">
          — any provider; you enter its URLs
        </Text>
      </Button>
      <SimpleGrid columns={{ base: 1, md: 3 }} gap={2}>
        {shownChoices.map((choice) => (
          <Button
            justifyContent="flex-start"
            key={choice.value}
            onClick={() => onChoose(choice.value)}
            title={choice.description}
            variant="outline"
          >
            {choice.label}
          </Button>
        ))}
      </SimpleGrid>
    </Stack>
  );
};

const GrantStep = ({ options, onChoose }: { options: Option[]; onChoose: (value: string) => void }) => (
  <Stack gap={3}>
    <Text fontWeight="semibold">2. How does Airflow get its tokens?</Text>
    {options.map((option) => (
      <Button
        alignItems="flex-start"
        flexDirection="column"
        height="auto"
        key={option.value}
        onClick={() => onChoose(option.value)}
        py={3}
        textAlign="left"
        variant="outline"
        whiteSpace="normal"
      >
        <Text fontWeight="semibold">{option.label}</Text>
        {option.description ? (
          <Text color="fg.muted" fontSize="xs" fontWeight="normal">
            {option.description}
          </Text>
        ) : null}
      </Button>
    ))}
  </Stack>
);

interface FieldProps {
  field: FormField;
  value: Value;
  required: boolean;
  masked: boolean;
  filledByPreset?: boolean;
  error?: string;
  onChange: (value: Value) => void;
}

const FieldInput = ({ field, value, required, masked, filledByPreset, error, onChange }: FieldProps) => {
  if (field.kind === "boolean") {
    return (
      <Field.Root data-field={field.name} invalid={Boolean(error)}>
        <Checkbox.Root checked={value === true} onCheckedChange={(details) => onChange(details.checked === true)}>
          <Checkbox.HiddenInput />
          <Checkbox.Control />
          <Checkbox.Label>{field.label}</Checkbox.Label>
        </Checkbox.Root>
        {field.description ? <Field.HelperText>{field.description}</Field.HelperText> : null}
        {error ? <Field.ErrorText>{error}</Field.ErrorText> : null}
      </Field.Root>
    );
  }
  const text = typeof value === "string" ? value : "";
  let control;
  if (field.kind === "choice") {
    control = (
      <NativeSelect.Root>
        <NativeSelect.Field onChange={(event) => onChange(event.target.value)} value={text}>
          {required ? null : <option value="">—</option>}
          {(field.options ?? []).map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </NativeSelect.Field>
        <NativeSelect.Indicator />
      </NativeSelect.Root>
    );
  } else if (field.kind === "json" || field.kind === "multiline") {
    control = (
      <Textarea
        autoresize
        fontFamily={field.kind === "json" ? "mono" : undefined}
        onChange={(event) => onChange(event.target.value)}
        placeholder={filledByPreset ? "filled by the provider preset" : (field.placeholder ?? (field.kind === "json" ? "{ }" : undefined))}
        rows={3}
        value={text}
      />
    );
  } else {
    control = (
      <Input
        autoComplete={field.kind === "password" ? "new-password" : "off"}
        inputMode={
          field.kind === "integer" ? "numeric" : field.kind === "number" ? "decimal" : field.kind === "url" ? "url" : undefined
        }
        onChange={(event) => onChange(event.target.value)}
        placeholder={
          masked
            ? "stored (unchanged unless you type a new value)"
            : filledByPreset
              ? "filled by the provider preset"
              : (field.placeholder ?? undefined)
        }
        type={field.kind === "password" ? "password" : "text"}
        value={text}
      />
    );
  }
  return (
    <Field.Root data-field={field.name} invalid={Boolean(error)} required={required}>
      <Field.Label>
        {field.label}
        {required ? <Field.RequiredIndicator /> : null}
      </Field.Label>
      {control}
      {field.description ? (
        <Field.HelperText>
          {field.description} {field.standard ? null : <Code size="xs">{field.name}</Code>}
        </Field.HelperText>
      ) : null}
      {error ? <Field.ErrorText>{error}</Field.ErrorText> : null}
    </Field.Root>
  );
};
