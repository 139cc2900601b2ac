// A local stand-in for the workflow-automation service (the plan's n8n), speaking what n8n's
// production webhooks speak: POST <base>/webhook/<path> with a JSON body, a Header Auth credential
// checked on every call (n8n answers 401 "Authorization is required!" without the header and 403
// "Authorization data is wrong!" with a wrong one), 404 for a webhook no active workflow registers,
// and 200 {"message": "Workflow was started"} once the workflow has the event. Events are kept in
// order, one per Idempotency-Key (what the workflow's dedupe step does), so a drill can check each
// was delivered exactly once.
//
// A game day or test turns it bad on purpose:
//   rotateKey(key)   the service now accepts only `key` (a rotation our side has not picked up yet)
//   setMode(mode)    ok | failing (500) | slow (answers after delayMs)
// Run alone: node tools/fakes/workflow-server.ts [--port 8091] [--key local-workflow-key]
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";

export type WorkflowMode = "ok" | "failing" | "slow";
export const WORKFLOW_MODES: WorkflowMode[] = ["ok", "failing", "slow"];

/** The webhooks the stand-in's "workflows" register: one per event the product sends. */
export const WORKFLOW_WEBHOOKS = ["carrier_invited"];

export interface ReceivedWorkflowEvent {
  path: string;
  idempotencyKey: string;
  body: Record<string, unknown>;
}

export class LocalWorkflowServer {
  url = "";
  /** Answers per status. */
  readonly answered = new Map<number, number>();
  /** Events the workflows received, once per Idempotency-Key, in order. */
  readonly received: ReceivedWorkflowEvent[] = [];
  #apiKey: string;
  #mode: WorkflowMode = "ok";
  #delayMs = 0;
  readonly #server: Server;

  constructor(options: { apiKey?: string } = {}) {
    this.#apiKey = options.apiKey ?? "local-workflow-key";
    this.#server = createServer((request, response) => {
      void this.#handle(request, response).catch((error: Error) => {
        if (!response.headersSent) this.#answer(response, 500, { code: 500, message: error.message });
      });
    });
  }

  get apiKey(): string {
    return this.#apiKey;
  }

  /** The base clients are given (WORKFLOW_AUTOMATION_URL): n8n's production webhooks live under /webhook. */
  get baseUrl(): string {
    return `${this.url}/webhook`;
  }

  rotateKey(key: string): void {
    this.#apiKey = key;
  }

  setMode(mode: WorkflowMode, delayMs = 0): void {
    this.#mode = mode;
    this.#delayMs = delayMs;
  }

  async start(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #answer(response: ServerResponse, status: number, body: unknown): void {
    this.answered.set(status, (this.answered.get(status) ?? 0) + 1);
    response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?")[0]!;
    const text = await read(request);
    if (request.method === "POST" && path === "/_control/mode") {
      const body = JSON.parse(text) as { mode?: WorkflowMode; delayMs?: number; apiKey?: string };
      if (body.mode && !WORKFLOW_MODES.includes(body.mode))
        return void response.writeHead(400).end(`mode must be one of ${WORKFLOW_MODES.join(", ")}\n`);
      if (body.mode) this.setMode(body.mode, body.delayMs ?? 0);
      if (body.apiKey) this.rotateKey(body.apiKey);
      return void response.writeHead(204).end();
    }
    const webhook = /^\/webhook\/([A-Za-z0-9_-]+)$/.exec(path);
    if (request.method !== "POST" || !webhook || !WORKFLOW_WEBHOOKS.includes(webhook[1]!))
      return this.#answer(response, 404, {
        code: 404,
        message: `The requested webhook "${request.method} ${path.replace(/^\/webhook\//, "")}" is not registered.`,
        hint: "The workflow must be active for a production URL to run successfully.",
      });
    const authorization = request.headers.authorization;
    if (!authorization)
      return this.#answer(response, 401, { code: 401, message: "Authorization is required!" });
    if (authorization !== `Bearer ${this.#apiKey}`)
      return this.#answer(response, 403, { code: 403, message: "Authorization data is wrong!" });
    if (this.#mode === "failing")
      return this.#answer(response, 500, { code: 0, message: "There was a problem executing the workflow" });
    if (this.#mode === "slow") await new Promise((resolve) => setTimeout(resolve, this.#delayMs));
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return this.#answer(response, 422, { code: 422, message: "The body is not JSON" });
    }
    const idempotencyKey = String(request.headers["idempotency-key"] ?? "");
    if (!idempotencyKey || !this.received.some((e) => e.idempotencyKey === idempotencyKey))
      this.received.push({ path: webhook[1]!, idempotencyKey, body });
    this.#answer(response, 200, { message: "Workflow was started" });
  }
}

function read(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    request.on("data", (chunk: Buffer) => (text += chunk.toString()));
    request.on("end", () => resolve(text));
    request.on("error", reject);
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8091" },
      key: { type: "string", default: "local-workflow-key" },
    },
  });
  const server = new LocalWorkflowServer({ apiKey: values.key });
  await server.start(Number(values.port));
  console.log(
    `workflow-automation stand-in at ${server.baseUrl} (key ${values.key}); POST ${server.url}/_control/mode to change its mode or key`,
  );
}
