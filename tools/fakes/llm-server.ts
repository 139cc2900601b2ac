// A local stand-in for an OpenAI-compatible LLM provider, speaking the real wire protocol the
// official `openai` client speaks: POST /v1/chat/completions with a bearer key, a chat.completion
// object back, OpenAI's error objects ({"error": {message, type, code}}) with their statuses, 429
// with Retry-After. Its "model" is deterministic: it drafts quote requests with the same rules the
// runner falls back on and words quotes from their figures, so a drill can check every result.
//
// A game day or test turns the provider bad on purpose (setMode):
//   ok          answers at once (after `delayMs`, 0 by default)
//   slow        answers after `delayMs`
//   failing     500 server_error
//   rate-limit  429 rate_limit_exceeded with Retry-After: `retryAfterSeconds`
//   garbage     200 whose message content is not JSON (or, with garbageBody, a body that is not JSON)
//   endless     200 whose body never ends (a trickle of whitespace): only a client timeout stops it
// Run alone: node tools/fakes/llm-server.ts [--port 8090] [--key local-llm-key]
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { EXPLANATION_PROMPT, quoteFigures } from "../../app/assistant/quote-explanation.ts";
import { EXTRACTION_PROMPT, extractByRules } from "../../app/assistant/quote-request-email.ts";

export type LlmMode = "ok" | "slow" | "failing" | "rate-limit" | "garbage" | "endless";
export const LLM_MODES: LlmMode[] = ["ok", "slow", "failing", "rate-limit", "garbage", "endless"];

export interface LlmModeSettings {
  mode: LlmMode;
  delayMs?: number;
  retryAfterSeconds?: number;
  /** garbage: the HTTP body itself is not JSON, rather than the message content. */
  garbageBody?: boolean;
}

interface ChatMessage {
  role: string;
  content: string;
}

export class LocalLlmServer {
  readonly apiKey: string;
  url = "";
  /** Requests answered per status (0: cut off by the client before an answer). */
  readonly answered = new Map<number, number>();
  requests = 0;
  #settings: LlmModeSettings = { mode: "ok" };
  readonly #server: Server;
  readonly #open = new Set<ServerResponse>();

  constructor(options: { apiKey?: string } = {}) {
    this.apiKey = options.apiKey ?? "local-llm-key";
    this.#server = createServer((request, response) => {
      this.#open.add(response);
      response.on("close", () => this.#open.delete(response));
      void this.#handle(request, response).catch((error: Error) => {
        if (!response.headersSent) this.#error(response, 500, "server_error", error.message);
      });
    });
  }

  get settings(): LlmModeSettings {
    return { ...this.#settings };
  }

  setMode(settings: LlmModeSettings): void {
    this.#settings = { ...settings };
  }

  /** The base URL clients are given (LLM_BASE_URL): the API lives under /v1 as OpenAI's does. */
  get baseUrl(): string {
    return `${this.url}/v1`;
  }

  async start(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const response of this.#open) response.destroy();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #count(status: number): void {
    this.answered.set(status, (this.answered.get(status) ?? 0) + 1);
  }

  #error(response: ServerResponse, status: number, type: string, message: string, headers = {}): void {
    this.#count(status);
    response
      .writeHead(status, { "content-type": "application/json", ...headers })
      .end(JSON.stringify({ error: { message, type, param: null, code: type } }));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method === "POST" && path === "/_control/mode") {
      const body = JSON.parse(await read(request)) as LlmModeSettings;
      if (!LLM_MODES.includes(body.mode)) {
        response.writeHead(400).end(`mode must be one of ${LLM_MODES.join(", ")}\n`);
        return;
      }
      this.setMode(body);
      response.writeHead(204).end();
      return;
    }
    if (request.method !== "POST" || path !== "/v1/chat/completions") {
      this.#error(response, 404, "invalid_request_error", `Unknown request URL: ${request.method} ${path}`);
      return;
    }
    this.requests++;
    const auth = request.headers.authorization ?? "";
    if (auth !== `Bearer ${this.apiKey}`) {
      this.#error(response, 401, "invalid_api_key", "Incorrect API key provided.");
      return;
    }
    let body: { model?: string; messages?: ChatMessage[] };
    try {
      body = JSON.parse(await read(request)) as typeof body;
    } catch {
      this.#error(
        response,
        400,
        "invalid_request_error",
        "We could not parse the JSON body of your request.",
      );
      return;
    }
    if (!body.model || !Array.isArray(body.messages)) {
      this.#error(response, 400, "invalid_request_error", "'model' and 'messages' are required properties.");
      return;
    }
    const settings = this.#settings;
    const closed = () => response.destroyed || request.destroyed;
    if (settings.delayMs && (settings.mode === "ok" || settings.mode === "slow")) {
      await new Promise((resolve) => setTimeout(resolve, settings.delayMs));
      if (closed()) {
        this.#count(0);
        return;
      }
    }
    switch (settings.mode) {
      case "failing":
        this.#error(response, 500, "server_error", "The server had an error while processing your request.");
        return;
      case "rate-limit":
        this.#error(response, 429, "rate_limit_exceeded", "Rate limit reached for requests.", {
          "retry-after": String(settings.retryAfterSeconds ?? 2),
        });
        return;
      case "endless": {
        response.writeHead(200, { "content-type": "application/json" });
        response.write('{"id":"chatcmpl-endless","object":"chat.completion","choices":[');
        const trickle = setInterval(() => response.write(" "), 50);
        response.on("close", () => {
          clearInterval(trickle);
          this.#count(0);
        });
        return;
      }
      case "garbage":
        if (settings.garbageBody) {
          this.#count(200);
          response.writeHead(200, { "content-type": "application/json" }).end("<html>upstream hiccup</html>");
          return;
        }
        this.#complete(response, body.model, "Sure! Here is what I found: the lane looks great }{");
        return;
      default:
        this.#complete(response, body.model, JSON.stringify(answer(body.messages)));
    }
  }

  #complete(response: ServerResponse, model: string, content: string): void {
    this.#count(200);
    response.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content, refusal: null },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
        usage: { prompt_tokens: 100, completion_tokens: 40, total_tokens: 140 },
      }),
    );
  }
}

/** The stand-in model: the task is told by its system prompt. */
function answer(messages: ChatMessage[]): unknown {
  const system = messages.find((m) => m.role === "system")?.content ?? "";
  const user = messages.find((m) => m.role === "user")?.content ?? "";
  if (system === EXTRACTION_PROMPT) {
    const [subjectLine, ...rest] = user.split("\n");
    return extractByRules({ subject: subjectLine!.replace(/^Subject: /, ""), body: rest.join("\n") }).draft;
  }
  if (system === EXPLANATION_PROMPT) {
    const quote = quoteFigures.parse(JSON.parse(user));
    return {
      summary: `Moving ${quote.equipment.replace("_", " ")} freight ${quote.origin} to ${quote.destination} (${Math.round(quote.distanceMiles)} mi) costs ${(quote.totalCents / 100).toFixed(2)} USD, mostly linehaul.`,
      totalCents: quote.totalCents,
    };
  }
  return { note: "the local stand-in answers only the freight platform's prompts" };
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
    options: { port: { type: "string", default: "8090" }, key: { type: "string", default: "local-llm-key" } },
  });
  const server = new LocalLlmServer({ apiKey: values.key });
  await server.start(Number(values.port));
  console.log(
    `LLM stand-in at ${server.baseUrl} (key ${values.key}); POST ${server.url}/_control/mode to change its mode`,
  );
}
