/**
 * The TypeScript client of kontext-preview: every endpoint of the API, typed from its
 * OpenAPI schema (src/schema.d.ts, made by openapi-typescript: `make client-types`), the
 * event stream with automatic reconnect and exact replay (`Last-Event-ID`), and errors
 * as exceptions carrying the API's `code`. Runs in browsers and in Node 20+ (it needs
 * only `fetch` and web streams).
 *
 * In a browser, authenticate with a browser token (POST /kontext/tokens, asked for by
 * the chat's backend, which holds the API key), never with the key itself.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { components } from "./schema.js";

export type Schemas = components["schemas"];
export type ProjectFile = Schemas["ProjectFile"];
export type CreatePreviewRequest = Schemas["CreatePreviewRequest"];
export type PreviewSession = Schemas["PreviewSessionResponse"];
export type PreviewStatus = Schemas["PreviewStatusResponse"];
export type UpdatePreviewRequest = Schemas["UpdatePreviewRequest"];
export type UpdateResult = Schemas["UpdatePreviewResponse"];
export type InspectRequest = Schemas["InspectPreviewRequest"];
export type InspectResult = Schemas["InspectPreviewResponse"];
export type AnalyzeRequest = Schemas["AnalyzeRequest"];
export type AnalyzeResult = Schemas["AnalyzeResponse"];
export type BrowserTokenRequest = Schemas["BrowserTokenRequest"];
export type BrowserToken = Schemas["BrowserTokenResponse"];

/** The event names of GET /kontext/preview/{id}/events (kontext_preview/events.py). */
export const EVENT_TYPES = [
  "session.starting",
  "install.progress",
  "session.ready",
  "session.failed",
  "update.received",
  "update.applied",
  "preview.error",
  "preview.console",
  "deploy.queued",
  "deploy.superseded",
  "deploy.started",
  "deploy.progress",
  "deploy.succeeded",
  "deploy.failed",
  "session.hibernated",
  "session.expired",
  "session.deleted",
] as const satisfies readonly EventData["type"][];
/** Every event's data, as the API's schema says (`SessionEvent`: one shape per `type`). */
export type EventData = Schemas["SessionEvent"];
export type EventType = EventData["type"];
/** The data of the event named `T`. */
export type EventDataOf<T extends EventType> = Extract<EventData, { type: T }>;
// EVENT_TYPES names every event of the schema (a compile error here: it lacks one).
const _allNamed: Exclude<EventType, (typeof EVENT_TYPES)[number]> extends never ? true : never = true;
void _allNamed;
/** Events after which a session's stream ends. */
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(["session.expired", "session.deleted"]);

/** One event of a session's stream: its id (for replay), name and data; `data`'s shape
 * follows from `type`: `if (event.type === "update.applied") event.data.seq` needs no cast. */
export type KontextEvent = {
  [T in EventType]: { id: string; type: T; data: EventDataOf<T> };
}[EventType];

/** The API's error codes (README, "Errors"); others may come from newer services. */
export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "invalid_file_name"
  | "unauthorized"
  | "invalid_token"
  | "token_expired"
  | "token_revoked"
  | "forbidden"
  | "session_not_found"
  | "limit_exceeded"
  | "unsupported_project"
  | "too_many_sessions"
  | "sandbox_error"
  | "dependency_install_failed"
  | "inspect_unavailable"
  | "inspect_busy"
  | "store_unavailable"
  | "internal_error"
  | "http_error"
  | (string & {});

/** An answer of the API that is an error: its HTTP status and the API's `code`. */
export class KontextApiError extends Error {
  override readonly name = "KontextApiError";
  constructor(
    message: string,
    readonly status: number,
    readonly code: ErrorCode,
  ) {
    super(message);
  }
}

/** The service could not be reached (the request never got an answer). */
export class KontextNetworkError extends Error {
  override readonly name = "KontextNetworkError";
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** An API key, a browser token, or a function giving one (called for each request;
 * `refresh` is true after the service answered `token_expired`). */
export type Credential = string | ((options: { refresh: boolean }) => string | Promise<string>);

export interface ClientOptions {
  /** Where the API is, e.g. "https://preview.example.com" (no trailing path). */
  baseUrl: string;
  credential: Credential;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
  /** The first wait before the event stream reconnects, ms (doubles up to 10 s). */
  reconnectDelayMs?: number;
}

export interface EventsOptions {
  /** Replay from after this event id (the last one seen). */
  lastEventId?: string;
  signal?: AbortSignal;
  /** Called when the stream broke and is about to reconnect. */
  onReconnect?: (lastEventId: string | undefined, error: unknown) => void;
}

const MAX_RECONNECT_DELAY_MS = 10_000;
const PREVIEW = "/kontext/preview";

export class KontextClient {
  readonly baseUrl: string;
  private readonly credential: Credential;
  private readonly fetchImpl: typeof fetch;
  private readonly reconnectDelayMs: number;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.credential = options.credential;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.reconnectDelayMs = options.reconnectDelayMs ?? 500;
  }

  /** POST /kontext/preview: a new session (`wait`: answer once active or failed). */
  createPreview(body: CreatePreviewRequest, options: { wait?: boolean } = {}): Promise<PreviewSession> {
    return this.call("POST", `${PREVIEW}${query({ wait: options.wait })}`, body);
  }

  /** POST /kontext/preview/{id}/update: changed files (and `deletedFiles`). */
  updatePreview(
    sessionId: string,
    body: UpdatePreviewRequest,
    options: { wait?: boolean } = {},
  ): Promise<UpdateResult> {
    return this.call("POST", `${session(sessionId)}/update${query({ wait: options.wait })}`, body);
  }

  /** GET /kontext/preview/{id}: the session, its logs and deployments. */
  getPreview(sessionId: string): Promise<PreviewStatus> {
    return this.call("GET", session(sessionId));
  }

  /** DELETE /kontext/preview/{id}. */
  async deletePreview(sessionId: string): Promise<void> {
    await this.call("DELETE", session(sessionId));
  }

  /** POST /kontext/preview/{id}/inspect: the preview as a person would see it. */
  inspectPreview(sessionId: string, body: InspectRequest = {}): Promise<InspectResult> {
    return this.call("POST", `${session(sessionId)}/inspect`, body);
  }

  /** POST /kontext/analyze: how a change would be applied (stateless). */
  analyze(body: AnalyzeRequest): Promise<AnalyzeResult> {
    return this.call("POST", "/kontext/analyze", body);
  }

  /** POST /kontext/tokens (API key only): a short-lived token for the chat's page. */
  createBrowserToken(body: BrowserTokenRequest = {}): Promise<BrowserToken> {
    return this.call("POST", "/kontext/tokens", body);
  }

  /**
   * GET /kontext/preview/{id}/events as an async iterable. A broken connection is
   * reconnected (after reconnectDelayMs, doubling up to 10 s) with `Last-Event-ID`, so
   * each event comes exactly once and in order; ends after `session.expired` or
   * `session.deleted`, or when `signal` aborts. An error answer (401, 403, 404) ends
   * it with a KontextApiError; 5xx answers and network errors are retried.
   */
  async *events(sessionId: string, options: EventsOptions = {}): AsyncGenerator<KontextEvent> {
    const { signal } = options;
    let lastEventId = options.lastEventId;
    let delay = this.reconnectDelayMs;
    while (!signal?.aborted) {
      let failure: unknown;
      try {
        const response = await this.send("GET", `${session(sessionId)}/events`, undefined, {
          accept: "text/event-stream",
          ...(lastEventId ? { "last-event-id": lastEventId } : {}),
        }, signal);
        if (!response.body) throw new KontextNetworkError("the event stream has no body");
        delay = this.reconnectDelayMs;
        const queue: KontextEvent[] = [];
        const parser = createParser({
          onEvent: (message: EventSourceMessage) => {
            if (message.id) lastEventId = message.id;
            // What the service sends is its schema's (the one cast: JSON off the wire).
            queue.push({
              id: message.id ?? "",
              type: message.event ?? "message",
              data: message.data ? JSON.parse(message.data) : {},
            } as KontextEvent);
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.feed(value);
            while (queue.length) {
              const event = queue.shift() as KontextEvent;
              yield event;
              if (TERMINAL_EVENTS.has(event.type)) return;
            }
          }
          failure = new KontextNetworkError("the event stream ended");
        } finally {
          await reader.cancel().catch(() => undefined);
        }
      } catch (error) {
        if (signal?.aborted) return;
        if (error instanceof KontextApiError && error.status < 500) throw error;
        failure = error;
      }
      options.onReconnect?.(lastEventId, failure);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, MAX_RECONNECT_DELAY_MS);
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body, { accept: "application/json" });
    return (await response.json()) as T;
  }

  /** One request, with the credential; a `token_expired` answer is retried once with
   * a refreshed credential. Throws KontextApiError or KontextNetworkError. */
  private async send(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    for (const refresh of [false, true]) {
      const credential =
        typeof this.credential === "function" ? await this.credential({ refresh }) : this.credential;
      let response: Response;
      try {
        response = await this.fetchImpl(this.baseUrl + path, {
          method,
          signal,
          headers: {
            ...headers,
            authorization: `Bearer ${credential}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        throw new KontextNetworkError(`${method} ${path}: ${String(error)}`, error);
      }
      if (response.ok) return response;
      const error = await apiError(response);
      if (error.code !== "token_expired" || refresh || typeof this.credential !== "function") {
        throw error;
      }
    }
    throw new Error("unreachable");
  }
}

async function apiError(response: Response): Promise<KontextApiError> {
  const text = await response.text().catch(() => "");
  try {
    const { error } = JSON.parse(text) as { error: { code: string; message: string } };
    return new KontextApiError(error.message, response.status, error.code);
  } catch {
    return new KontextApiError(text.slice(0, 500) || response.statusText, response.status, "http_error");
  }
}

function session(sessionId: string): string {
  return `${PREVIEW}/${encodeURIComponent(sessionId)}`;
}

function query(params: Record<string, boolean | undefined>): string {
  const set = Object.entries(params).filter(([, value]) => value !== undefined);
  return set.length ? `?${set.map(([key, value]) => `${key}=${String(value)}`).join("&")}` : "";
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
