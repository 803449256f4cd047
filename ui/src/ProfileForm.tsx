// Add OAuth / Edit: a guided form. Provider first (when presets exist), then the grant type, then only that
// grant's fields (advanced ones folded away). The fields are checked (here and by the plugin, whose messages
// name the field's label) before the connection is saved through Airflow's own REST API. Its logic (which
// fields show, the extra built from the form, the checks) is in form.ts; this file holds the state and renders.
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
import {
  afterProvider,
  connectionBody as buildConnectionBody,
  defaultValue,
  editForm,
  grantOptionsFor,
  isFilledByPreset,
  isRequired,
  isVisible,
  localProblems as findLocalProblems,
  matchingChoices,
  newForm,
  presetChoices,
  problemsByField,
  sectionsOf,
  type FormState,
  type PresetChoice,
  type Step,
  type Value,
} from "./form";
import type { AirflowConnection, FormField, FormSchema, Option, PresetParam } from "./types";

interface Props {
  client: Client;
  connId?: string;
  onClose: () => void;
  onSaved: (connId: string, created: boolean, grant: string) => void;
}

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
        const form: FormSchema = await client.form();
        if (connId === undefined) {
          const fresh = newForm(form);
          setValues(fresh.values);
          setGrant(fresh.grant);
          setStep(fresh.step);
        } else {
          const conn = await client.getConnection(connId);
          const edited = editForm(form, conn);
          setOriginal(conn);
          setOriginalExtra(edited.extra);
          setMasked(edited.masked);
          setValues(edited.values);
          setGrant(edited.grant);
          setProvider(edited.provider);
          setParams(edited.params);
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
  const grantOptions: Option[] = useMemo(() => grantOptionsFor(schema?.grant_types ?? [], preset), [schema, preset]);
  const grantOption = schema?.grant_types.find((option) => option.value === grant);

  const presetParams = preset?.params ?? [];
  const inputFor = (field: FormField) => (
    <FieldInput
      error={errors[field.name]}
      field={field}
      filledByPreset={isFilledByPreset(field, preset)}
      key={field.name}
      masked={Boolean(masked[field.name])}
      onChange={(value) => setValue(field.name, value)}
      required={isRequired(field, grant, preset)}
      value={values[field.name] ?? defaultValue(field)}
    />
  );
  const fields = (schema?.fields ?? []).filter((field) => isVisible(field, grant, preset));
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
    const next = afterProvider(
      presets.find((option) => option.value === value),
      grant,
    );
    setGrant(next.grant);
    setStep(next.step);
  };

  const formState = (): FormState => ({
    connectionId,
    grant,
    provider,
    preset,
    fields,
    values,
    masked,
    params,
    original,
    originalExtra,
    editing,
  });

  const save = async () => {
    setSaveError(null);
    const local = findLocalProblems(formState(), grantOption?.label ?? grant);
    setErrors(local);
    setProblems(Object.values(local));
    if (Object.keys(local).length) {
      showProblem(Object.keys(local));
      return;
    }
    const body = buildConnectionBody(formState());
    setSaving(true);
    try {
      const answer = await client.validate({ ...body, existing: editing });
      if (!answer.ok) {
        const byField = problemsByField(answer.problems);
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
  const shownChoices = matchingChoices(choices, query);
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
