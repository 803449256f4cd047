// Shapes of the plugin's JSON API (airflow_oauth_connector/plugins/api.py) and of the form schema
// (airflow_oauth_connector/fields.py: form_schema()).

export interface Session {
  user: string;
  csrf_header: string;
  csrf_token: string;
  callback_url: string;
  classic_page: string;
  native_page: string;
  conn_type: string;
}

export type FailureRecord = string | number | Record<string, unknown> | null | undefined;

export interface ProfileRow {
  conn_id: string;
  grant_type: string;
  state: string;
  description: string;
  expires_at: number | null;
  expires_at_text: string | null;
  scope: string | null;
  last_refresh: number | null;
  last_refresh_text: string | null;
  last_error: string | null;
  last_failure?: FailureRecord;
  last_success?: FailureRecord;
  refresh_token_present: boolean;
  /** Epoch seconds at which the refresh token expires, as its token response stated (null: not stated). */
  refresh_expires_at?: number | null;
  /** The server's wording of it: "refresh token expires in 12 days", "... expired at ... — authorize again". */
  refresh_expiry_text?: string | null;
  can_authorize: boolean;
  authorize_label: string;
  redirect_uri: string | null;
}

export interface Option {
  value: string;
  label: string;
  description?: string;
}

export type FieldKind =
  | "text"
  | "url"
  | "password"
  | "json"
  | "multiline"
  | "boolean"
  | "choice"
  | "integer"
  | "number";

export interface FormField {
  name: string;
  label: string;
  description?: string;
  kind: FieldKind;
  options?: Option[] | null;
  default?: unknown;
  grants?: string[] | null;
  required_for?: string[] | null;
  advanced?: boolean;
  section?: string | null;
  standard?: boolean;
  in_form?: boolean;
  placeholder?: string | null;
}

export interface PresetParam {
  name: string;
  description?: string;
  default?: string | null;
  choices?: string[];
  required?: boolean;
}

export interface Preset {
  value?: string;
  name?: string;
  id?: string;
  label?: string;
  title?: string;
  description?: string;
  docs?: string | null;
  grant_type?: string;
  grant_types?: string[];
  params?: PresetParam[];
  fills?: string[];
  register?: Record<string, string>;
  [key: string]: unknown;
}

export interface FormSchema {
  grant_types: Option[];
  sections?: string[];
  fields: FormField[];
  presets?: Preset[];
}

export interface Problem {
  text: string;
  field: string | null;
  label: string | null;
  message: string | null;
}

export interface Notice {
  kind: "success" | "error" | "info";
  title: string;
  message?: string;
  details?: string;
}

/** A connection as Airflow's REST API returns it (secrets masked as "***"). */
export interface AirflowConnection {
  connection_id: string;
  conn_type: string;
  description?: string | null;
  host?: string | null;
  login?: string | null;
  schema?: string | null;
  port?: number | null;
  password?: string | null;
  extra?: string | null;
}
