// Calls from the page: the plugin's JSON API and Airflow's own REST API, both authenticated exactly like
// Airflow's UI authenticates its calls (the signed-in user's `_token` cookie, sent with same-origin requests).
import type { AirflowConnection, FormSchema, Notice, Problem, ProfileRow, Session } from "./types";

export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Airflow's base URL (its pages carry `<base href>`), e.g. "http://host:8080/" or ".../team-a/". */
const airflowUrl = (path: string): string => new URL(path.replace(/^\//, ""), document.baseURI).toString();

const pluginApi = (path: string): string => airflowUrl(`oauth-connector/api/${path}`);

export const signInUrl = (): string =>
  `${airflowUrl("api/v2/auth/login")}?${new URLSearchParams({ next: globalThis.location.href })}`;

/** FastAPI's `detail` (a string, or a list of validation errors) as one sentence. */
const detailText = (body: unknown, fallback: string): string => {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((item) => {
          const entry = item as { loc?: unknown[]; msg?: string };
          const where = (entry.loc ?? []).filter((part) => part !== "body").join(".");
          return where ? `${where}: ${entry.msg ?? ""}` : (entry.msg ?? "");
        })
        .join("; ");
    }
  }
  return fallback;
};

async function request<T>(url: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(url, {
    credentials: "same-origin",
    ...init,
    headers: { Accept: "application/json", ...(init.headers ?? {}) },
  });
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, detailText(body, `${response.status} ${response.statusText}`.trim()));
  }
  return body as T;
}

export class Client {
  private session: Session | null = null;

  async start(): Promise<Session> {
    this.session = await request<Session>(pluginApi("session"));
    return this.session;
  }

  private post<T>(path: string, body?: unknown): Promise<T> {
    const session = this.session;
    if (!session) throw new ApiError(0, "The page is not ready yet.");
    return request<T>(pluginApi(path), {
      method: "POST",
      headers: { "Content-Type": "application/json", [session.csrf_header]: session.csrf_token },
      body: JSON.stringify(body ?? {}),
    });
  }

  profiles(): Promise<{ profiles: ProfileRow[] }> {
    return request(pluginApi("profiles"));
  }

  form(): Promise<FormSchema> {
    return request(pluginApi("form"));
  }

  outcome(token: string): Promise<Notice> {
    return request(`${pluginApi("outcome")}?${new URLSearchParams({ token })}`);
  }

  validate(body: Record<string, unknown>): Promise<{ ok: boolean; problems: Problem[] }> {
    return this.post("validate", body);
  }

  test(connId: string): Promise<{ ok: boolean; message: string; profile: ProfileRow }> {
    return this.post(`profiles/${encodeURIComponent(connId)}/test`);
  }

  forget(connId: string): Promise<{ ok: boolean; message: string; profile?: ProfileRow }> {
    return this.post(`profiles/${encodeURIComponent(connId)}/forget`);
  }

  authorize(connId: string): Promise<{ url: string }> {
    return this.post(`profiles/${encodeURIComponent(connId)}/authorize`);
  }

  // ---- Airflow's REST API (the user's own permissions decide)
  private connectionUrl(connId?: string): string {
    const base = "api/v2/connections";
    return airflowUrl(connId === undefined ? base : `${base}/${encodeURIComponent(connId)}`);
  }

  getConnection(connId: string): Promise<AirflowConnection> {
    return request(this.connectionUrl(connId));
  }

  createConnection(body: AirflowConnection): Promise<AirflowConnection> {
    return request(this.connectionUrl(), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  updateConnection(body: AirflowConnection): Promise<AirflowConnection> {
    return request(this.connectionUrl(body.connection_id), {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }
}
