// The client against a real running kontext-preview (started by tests/clients/test_typescript.py,
// which passes its address and keys): every endpoint, the event stream through a connection
// that is cut mid-stream, typed errors, and a browser token in place of the key.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import {
  EVENT_TYPES,
  type EventDataOf,
  KontextApiError,
  KontextClient,
  type KontextEvent,
} from "../src/index.js";

const BASE = process.env.KONTEXT_BASE_URL ?? "";
const KEY = process.env.KONTEXT_API_KEY ?? "";
const OTHER_KEY = process.env.KONTEXT_OTHER_API_KEY ?? "";
const OPENAPI = process.env.KONTEXT_OPENAPI ?? "";

const files = (text: string) => [
  { name: "index.html", content: "<h1 id=title></h1><script type=module src=/main.js></script>" },
  { name: "main.js", content: `document.querySelector("#title").textContent = ${JSON.stringify(text)};` },
];

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A TCP relay in front of the API whose connections the test can cut. */
async function relay(target: URL) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port), target.hostname);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => (inbound.destroy(), outbound.destroy(), sockets.delete(socket)));
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => sockets.forEach((socket) => socket.destroy()),
    close: () => new Promise((resolve) => (server.close(resolve), sockets.forEach((s) => s.destroy()))),
  };
}

describe("KontextClient against a running service", () => {
  const client = new KontextClient({ baseUrl: BASE, credential: KEY });
  let sessionId = "";

  beforeAll(async () => {
    expect(BASE, "KONTEXT_BASE_URL: run through tests/clients/test_typescript.py").not.toBe("");
    const created = await client.createPreview({ files: files("hello") }, { wait: true });
    expect(created.status).toBe("active");
    expect(created.previewUrl).toContain(created.sessionId);
    sessionId = created.sessionId;
  });

  afterAll(async () => {
    await client.deletePreview(sessionId).catch(() => undefined);
  });

  it("updates a session and reads its status", async () => {
    const update = await client.updatePreview(sessionId, { files: [files("updated")[1]!] });
    expect(update.updated).toEqual(["main.js"]);
    expect(update.seq).toBeGreaterThan(0);
    const status = await client.getPreview(sessionId);
    expect(status.status).toBe("active");
    expect(status.sessionId).toBe(sessionId);
  });

  it("replays exactly what a cut connection missed", async () => {
    const cuttable = await relay(new URL(BASE));
    const viaRelay = new KontextClient({ baseUrl: cuttable.url, credential: KEY, reconnectDelayMs: 100 });
    const seen: KontextEvent[] = [];
    let reconnects = 0;
    const stop = new AbortController();
    const reading = (async () => {
      const stream = viaRelay.events(sessionId, { signal: stop.signal, onReconnect: () => (reconnects += 1) });
      for await (const event of stream) seen.push(event);
    })();
    const sent: string[] = [];
    const applied = () =>
      sent.every((id) => seen.some((e) => e.type === "update.applied" && e.data.updateId === id));
    const push = async (text: string) =>
      sent.push((await client.updatePreview(sessionId, { files: [files(text)[1]!] })).updateId);
    for (let i = 0; i < 3; i += 1) await push(`a${i}`);
    await until(applied, "3 updates applied");
    cuttable.cut(); // the stream breaks; updates go on meanwhile
    for (let i = 0; i < 3; i += 1) await push(`b${i}`);
    await until(() => applied() && reconnects >= 1, "the replay after the cut");
    stop.abort();
    await reading;
    await cuttable.close();

    expect(reconnects).toBeGreaterThanOrEqual(1);
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length); // nothing twice
    // Exactly the session's history: a fresh stream from the start gives the same events.
    const fresh: KontextEvent[] = [];
    for await (const event of client.events(sessionId)) {
      fresh.push(event);
      if (fresh.length === seen.length) break;
    }
    expect(fresh.map((e) => [e.id, e.type])).toEqual(seen.map((e) => [e.id, e.type]));
    for (const event of seen) expect(EVENT_TYPES).toContain(event.type);
  });

  it("follows only what happens from now on, after the status's lastEventId", async () => {
    const { lastEventId } = await client.getPreview(sessionId);
    expect(lastEventId).toBeTruthy();
    const sent = await client.updatePreview(sessionId, { files: [files("now")[1]!] });
    for await (const event of client.events(sessionId, { lastEventId: lastEventId ?? undefined })) {
      expect(event.type).toBe("update.received"); // nothing from before
      if (event.type !== "update.received") throw new Error(`got ${event.type}`);
      expect(event.data.updateId).toBe(sent.updateId);
      expect(event.data.seq).toBeGreaterThan(0);
      break;
    }
  });

  it("throws the API's errors typed, with their code", async () => {
    const bad = client.updatePreview(sessionId, { files: [{ name: "../escape.js", content: "" }] });
    await expect(bad).rejects.toMatchObject({ status: 400, code: "invalid_file_name" });
    const stranger = new KontextClient({ baseUrl: BASE, credential: "not-a-key-0123456789abcdef" });
    await expect(stranger.getPreview(sessionId)).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    const other = new KontextClient({ baseUrl: BASE, credential: OTHER_KEY });
    const foreign = other.getPreview(sessionId); // another user's session: unknown to them
    await expect(foreign).rejects.toBeInstanceOf(KontextApiError);
    await expect(foreign).rejects.toMatchObject({ status: 404, code: "session_not_found" });
  });

  it("works with a browser token within its scope, and refreshes an expired one", async () => {
    const token = await client.createBrowserToken({ sessionId, scopes: ["status", "update"] });
    expect(token.tokenType).toBe("Bearer");
    const page = new KontextClient({ baseUrl: BASE, credential: token.token });
    expect((await page.getPreview(sessionId)).status).toBe("active");
    await expect(page.deletePreview(sessionId)).rejects.toMatchObject({ status: 403, code: "forbidden" });
    await expect(page.createBrowserToken()).rejects.toMatchObject({ status: 403 });

    const short = await client.createBrowserToken({ sessionId, ttlSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const asked: boolean[] = [];
    const refreshing = new KontextClient({
      baseUrl: BASE,
      credential: async ({ refresh }) => {
        asked.push(refresh);
        return refresh ? (await client.createBrowserToken({ sessionId })).token : short.token;
      },
    });
    expect((await refreshing.getPreview(sessionId)).status).toBe("active");
    expect(asked).toEqual([false, true]);
  });

  it("deletes a session", async () => {
    const other = await client.createPreview({ files: files("doomed") });
    await client.deletePreview(other.sessionId);
    await expect(client.getPreview(other.sessionId)).rejects.toMatchObject({ status: 404 });
  });

  it("types each event's data by its name, from the API's schema (checked by tsc)", () => {
    const narrow = (event: KontextEvent) => {
      if (event.type === "update.applied") {
        expectTypeOf(event.data.seq).toEqualTypeOf<number>();
        expectTypeOf(event.data.browserAck).toEqualTypeOf<EventDataOf<"update.applied">["browserAck"]>();
        expectTypeOf(event.data.browserAppliedMs).toEqualTypeOf<number | null>();
      } else if (event.type === "preview.error") {
        expectTypeOf(event.data.line).toEqualTypeOf<number | null | undefined>();
      } else if (event.type === "session.starting") {
        expectTypeOf(event.data.phase).toEqualTypeOf<"installing" | "starting">();
      }
    };
    expect(typeof narrow).toBe("function");
  });

  it("gets events whose data has its schema's every required field", async () => {
    const schema = JSON.parse(await (await import("node:fs/promises")).readFile(OPENAPI, "utf8"));
    const models: Record<string, { required?: string[] }> = schema.components.schemas;
    const union: { discriminator: { mapping: Record<string, string> } } = models.SessionEvent as never;
    for await (const event of client.events(sessionId)) {
      const ref = union.discriminator.mapping[event.type] ?? "";
      const model = models[ref.split("/").pop() ?? ""];
      expect(model, event.type).toBeTruthy();
      for (const field of model?.required ?? []) expect(event.data, `${event.type}.${field}`).toHaveProperty(field);
      if (event.type === "update.applied") break;
    }
  });

  it("knows every event name the service documents", async () => {
    const schema = JSON.parse(await (await import("node:fs/promises")).readFile(OPENAPI, "utf8"));
    const described: string = schema.paths["/kontext/preview/{session_id}/events"].get.description;
    const named = [...described.matchAll(/`([a-z]+\.[a-z]+)`/g)].map((m) => m[1]);
    expect(new Set(named)).toEqual(new Set(EVENT_TYPES));
  });
});
