/**
 * <PreviewFrame>: the live preview of one session for a chat's page, with the states
 * around it (installing with the install's lines, starting, active, asleep, failed with
 * the reason, expired with a restore action, a deployment standing in) and the last
 * update's status, all from the session's status and its event stream. `onApplied` and
 * `onError` hand the chat what its AI needs to hear. The client should carry a browser
 * token (POST /kontext/tokens with scopes status and events), never the API key.
 */
import { useEffect, useReducer, useRef, type CSSProperties, type ReactElement } from "react";
import type { EventDataOf, KontextClient, KontextEvent, PreviewStatus } from "./index.js";

export type PreviewPhase =
  | "loading"
  | "installing"
  | "starting"
  | "active"
  | "hibernated"
  | "failed"
  | "expired"
  | "fallback"
  | "ended";

export interface UpdateState {
  seq: number;
  updateId: string;
  status: "applying" | "applied" | "failed";
  browserAppliedMs?: number;
  error?: string;
}

export interface PreviewError {
  /** compile, runtime or update (a `preview.error`), session (it failed) or deploy. */
  kind: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

export interface PreviewFrameProps {
  client: KontextClient;
  sessionId: string;
  /** The iframe's accessible name. */
  title?: string;
  /** An update reached the page (its `update.applied` data). */
  onApplied?: (applied: EventDataOf<"update.applied">) => void;
  /** Something the AI should fix: a compile, runtime or update error, or the session failed. */
  onError?: (error: PreviewError) => void;
  /** The session expired: the chat's backend creates it again with its files (POST
   * /kontext/preview with `sessionId`), then the component follows it again. */
  onRestore?: () => Promise<void> | void;
  /** Install lines kept for the progress list. */
  maxInstallLines?: number;
  className?: string;
  style?: CSSProperties;
}

interface State {
  phase: PreviewPhase;
  previewUrl?: string;
  deploymentUrl?: string | null;
  reason?: string | null;
  installLines: string[];
  update?: UpdateState;
  generation: number; // bumped to load the status and follow the stream again
}

type Action =
  | { type: "status"; status: PreviewStatus }
  | { type: "event"; event: KontextEvent; maxLines: number }
  | { type: "gone" }
  | { type: "reload" };

function phaseOf(status: PreviewStatus): PreviewPhase {
  if (status.fallback && status.deploymentUrl) return "fallback";
  const known: PreviewPhase[] = ["installing", "starting", "active", "hibernated", "failed", "expired"];
  return known.includes(status.status as PreviewPhase) ? (status.status as PreviewPhase) : "starting";
}

function reduce(state: State, action: Action): State {
  switch (action.type) {
    case "status":
      return {
        ...state,
        phase: phaseOf(action.status),
        previewUrl: action.status.previewUrl,
        deploymentUrl: action.status.deploymentUrl,
        reason: action.status.fallback ?? action.status.error,
        installLines: action.status.status === "installing" ? action.status.logs : [],
      };
    case "gone":
      return { ...state, phase: "ended" };
    case "reload":
      return { ...state, phase: "loading", installLines: [], generation: state.generation + 1 };
    case "event": {
      const event = action.event;
      switch (event.type) {
        case "session.starting":
          return { ...state, phase: event.data.phase, installLines: [] };
        case "install.progress":
          return {
            ...state,
            phase: "installing",
            installLines: [...state.installLines, event.data.line].slice(-action.maxLines),
          };
        case "session.ready":
          return { ...state, phase: "active", previewUrl: event.data.previewUrl, reason: null };
        case "session.failed":
          return { ...state, phase: "failed", reason: event.data.error ?? null };
        case "session.hibernated":
          return { ...state, phase: "hibernated" };
        case "session.expired":
          return { ...state, phase: "expired" };
        case "session.deleted":
          return { ...state, phase: "ended" };
        case "deploy.succeeded":
          return state.phase === "failed"
            ? { ...state, phase: "fallback", deploymentUrl: event.data.url ?? undefined }
            : state;
        case "update.received":
          return {
            ...state,
            update: { seq: event.data.seq, updateId: event.data.updateId, status: "applying" },
          };
        case "update.applied": {
          const { seq, updateId, browserAck, browserAppliedMs } = event.data;
          return {
            ...state,
            update: {
              seq,
              updateId,
              status: browserAck === "error" ? "failed" : "applied",
              browserAppliedMs: browserAppliedMs ?? undefined,
              error: state.update?.updateId === updateId ? state.update?.error : undefined,
            },
          };
        }
        case "preview.error":
          return state.update && event.data.kind === "update"
            ? { ...state, update: { ...state.update, status: "failed", error: event.data.message ?? undefined } }
            : state;
        default:
          return state;
      }
    }
  }
}

const LABELS: Record<PreviewPhase, string> = {
  loading: "Loading the preview…",
  installing: "Installing dependencies…",
  starting: "Starting the preview…",
  active: "Preview",
  hibernated: "The preview is asleep; it wakes as it loads.",
  failed: "The preview failed.",
  expired: "The preview expired.",
  fallback: "The live preview cannot run; showing the last deployment.",
  ended: "The preview session has ended.",
};

export function PreviewFrame(props: PreviewFrameProps): ReactElement {
  const { client, sessionId, title = "App preview", maxInstallLines = 200 } = props;
  const [state, dispatch] = useReducer(reduce, { phase: "loading", installLines: [], generation: 0 });
  const callbacks = useRef(props);
  callbacks.current = props;

  useEffect(() => {
    const stop = new AbortController();
    void (async () => {
      let status: PreviewStatus;
      try {
        status = await client.getPreview(sessionId);
      } catch (error) {
        if (!stop.signal.aborted) dispatch({ type: "gone" });
        return;
      }
      if (stop.signal.aborted) return;
      dispatch({ type: "status", status });
      if (status.status === "failed") {
        callbacks.current.onError?.({ kind: "session", message: status.error ?? "the session failed" });
      }
      try {
        const events = client.events(sessionId, { lastEventId: status.lastEventId ?? undefined, signal: stop.signal });
        for await (const event of events) {
          dispatch({ type: "event", event, maxLines: maxInstallLines });
          if (event.type === "update.applied") callbacks.current.onApplied?.(event.data);
          if (event.type === "preview.error") {
            const { kind, message, file, line, column } = event.data;
            callbacks.current.onError?.({
              kind: kind ?? "runtime",
              message: message ?? "",
              file: file ?? undefined,
              line: line ?? undefined,
              column: column ?? undefined,
            });
          }
          if (event.type === "session.failed") {
            callbacks.current.onError?.({ kind: "session", message: event.data.error ?? "" });
          }
          if (event.type === "deploy.failed") {
            callbacks.current.onError?.({ kind: "deploy", message: event.data.error ?? "" });
          }
        }
      } catch {
        // the stream ended with an error answer (the session is gone, the token expired)
      }
    })();
    return () => stop.abort();
  }, [client, sessionId, maxInstallLines, state.generation]);

  const restore = async () => {
    await callbacks.current.onRestore?.();
    dispatch({ type: "reload" });
  };

  const { phase, update } = state;
  const frameUrl = phase === "fallback" ? state.deploymentUrl : state.previewUrl;
  const showFrame = Boolean(frameUrl) && ["active", "hibernated", "fallback"].includes(phase);
  const updateText = update
    ? update.status === "applying"
      ? `Applying update ${update.seq}…`
      : update.status === "applied"
        ? `Update ${update.seq} applied${update.browserAppliedMs !== undefined ? ` in ${Math.round(update.browserAppliedMs)} ms` : ""}.`
        : `Update ${update.seq} failed${update.error ? `: ${update.error}` : "."}`
    : "";

  return (
    <section
      className={props.className}
      style={{ display: "flex", flexDirection: "column", ...props.style }}
      aria-label={title}
      data-phase={phase}
    >
      <div role="status" aria-live="polite" data-part="status">
        {phase !== "active" && <p data-part="phase">{LABELS[phase]}</p>}
        {update && <p data-part="update" data-update-status={update.status}>{updateText}</p>}
      </div>
      {phase === "installing" && (
        <pre data-part="install" aria-label="Install output" tabIndex={0} style={{ maxHeight: "12em", overflow: "auto" }}>
          {state.installLines.join("\n")}
        </pre>
      )}
      {(phase === "failed" || phase === "fallback") && state.reason && (
        <p role="alert" data-part="reason">{state.reason}</p>
      )}
      {phase === "expired" && props.onRestore && (
        <button type="button" onClick={() => void restore()} data-part="restore">
          Restore the preview
        </button>
      )}
      {showFrame && (
        <iframe
          title={title}
          src={frameUrl ?? undefined}
          style={{ flex: 1, border: 0, width: "100%", minHeight: "20em" }}
          sandbox="allow-scripts allow-same-origin allow-forms allow-modals allow-popups"
        />
      )}
    </section>
  );
}
