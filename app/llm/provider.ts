// The runners' one door to the LLM provider: the official `openai` client against any
// OpenAI-compatible endpoint (LLM_BASE_URL, LLM_MODEL, the key re-read from LLM_API_KEY_FILE so a
// rotated key applies without a restart), behind a cockatiel policy: a per-attempt timeout that also
// cuts an endless or stalled answer, one quick retry for a blip, and a circuit breaker that stops
// calling a provider that keeps failing. The client's own retries are off: they would hide failures
// from the breaker and sleep on Retry-After inside a task's attempt.
//
// An answer is only good when its message parses as JSON and matches the task's schema; anything
// else (garbage, prose, a wrong shape) is a provider failure like a 500, so the breaker counts it.
// While the breaker is not closed the provider is "degraded": the runner stays ready (tasks fall
// back or wait), /readyz says so, llm_provider_degraded is 1 and the LlmProviderDegraded alert pages
// when it lasts.
import { BrokenCircuitError, TaskCancelledError } from "cockatiel";
import OpenAI, { APIError, RateLimitError } from "openai";
import type { Counter, Gauge, Histogram } from "prom-client";
import type { z } from "zod";
import { outboundPolicy } from "../outbound-policy.ts";
import type { SecretValue } from "../secret-file.ts";

export interface LlmProviderOptions {
  baseUrl: string;
  model: string;
  apiKey: SecretValue;
  /** One attempt's bound, headers and body together. */
  timeoutMs: number;
  /** Consecutive failed attempts that open the breaker. */
  breakerFailures: number;
  /** How long the breaker stays open before one trial call (half-open). */
  breakerHalfOpenMs: number;
  metrics: LlmMetrics;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface LlmMetrics {
  llmRequests: Counter<"task_kind" | "outcome">;
  llmRequestSeconds: Histogram<"task_kind">;
  llmCircuitState: Gauge<"state">;
  llmProviderDegraded: Gauge;
}

export type LlmBreakerState = "closed" | "open" | "half_open";
export const LLM_BREAKER_STATES: LlmBreakerState[] = ["closed", "open", "half_open"];

/** Why a call produced no usable answer. */
export type LlmFailureKind =
  | "unavailable" // the breaker is open: nothing was sent
  | "rate_limited" // 429 (retryAfterMs from Retry-After when the provider sent one)
  | "timeout" // no complete answer within LLM_TIMEOUT_MS (slow, stalled or endless)
  | "invalid_answer" // the message was not JSON of the expected shape
  | "error"; // a 5xx, a refused connection, a 4xx other than 429

export class LlmCallError extends Error {
  readonly kind: LlmFailureKind;
  /** How long the provider asked us to wait (Retry-After), or when the breaker tries again. */
  readonly retryAfterMs: number | undefined;
  constructor(kind: LlmFailureKind, message: string, retryAfterMs?: number) {
    super(message);
    this.name = "LlmCallError";
    this.kind = kind;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The JSON object inside an answer's message; models sometimes wrap it in a ```json fence. */
export function answerJson(content: string | null | undefined): unknown {
  const text = (content ?? "").trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, "$1");
  return JSON.parse(text);
}

export class LlmProvider {
  readonly options: LlmProviderOptions;
  #client: { key: string; client: OpenAI } | undefined;
  readonly #policy;
  #state: LlmBreakerState = "closed";
  #degradedSince: number | undefined;
  #openedAt: number | undefined;

  constructor(options: LlmProviderOptions) {
    this.options = options;
    this.#policy = outboundPolicy({
      timeoutMs: options.timeoutMs,
      breakerFailures: options.breakerFailures,
      breakerHalfOpenMs: options.breakerHalfOpenMs,
      // A timeout, a 429, a 5xx, garbage: all say "the provider is not answering usefully now".
      countsAsFailure: (error) => error instanceof LlmCallError && error.kind !== "unavailable",
      // One quick retry for a blip; a 429 is not retried here (the task waits out its Retry-After).
      retryable: (error) =>
        error instanceof LlmCallError && (error.kind === "error" || error.kind === "timeout"),
      retries: 1,
      backoffMaxMs: 500,
      onCircuit: (state) => this.#setState(state),
    });
    this.#setState("closed");
  }

  get state(): LlmBreakerState {
    return this.#state;
  }
  /** Degraded while the breaker is open or half-open; since when (ms epoch). */
  get degradedSince(): number | undefined {
    return this.#degradedSince;
  }
  /** When the breaker lets a trial call through again, ms from now (0 when closed). */
  get retryInMs(): number {
    if (this.#state !== "open" || this.#openedAt === undefined) return 0;
    return Math.max(0, this.#openedAt + this.options.breakerHalfOpenMs - Date.now());
  }

  #setState(state: LlmBreakerState): void {
    const before = this.#state;
    this.#state = state;
    if (state === "open") this.#openedAt = Date.now();
    if (state === "closed") this.#degradedSince = undefined;
    else this.#degradedSince ??= Date.now();
    const { llmCircuitState, llmProviderDegraded } = this.options.metrics;
    for (const s of LLM_BREAKER_STATES) llmCircuitState.set({ state: s }, s === state ? 1 : 0);
    llmProviderDegraded.set(state === "closed" ? 0 : 1);
    if (before !== state)
      this.options.log[state === "closed" ? "info" : "warn"](
        { from: before, to: state, baseUrl: this.options.baseUrl },
        state === "open"
          ? `LLM provider failing: circuit opened after ${this.options.breakerFailures} failed calls; agent tasks fall back or wait`
          : state === "half_open"
            ? "LLM provider circuit half-open: trying one call"
            : "LLM provider answering again: circuit closed",
      );
  }

  #openai(): OpenAI {
    const key = this.options.apiKey.read();
    if (this.#client?.key !== key)
      this.#client = {
        key,
        client: new OpenAI({
          apiKey: key,
          baseURL: this.options.baseUrl,
          maxRetries: 0,
          timeout: this.options.timeoutMs,
        }),
      };
    return this.#client.client;
  }

  /**
   * Asks the model for a JSON object matching `schema`. Throws LlmCallError (kind says why) when the
   * provider is unavailable, slow, rate-limited or answers nonsense; `signal` (the task's) aborts it.
   */
  async completeJson<S extends z.ZodType>(
    taskKind: string,
    request: { system: string; user: string; schema: S },
    signal?: AbortSignal,
  ): Promise<z.output<S>> {
    const { metrics } = this.options;
    const stopTimer = metrics.llmRequestSeconds.startTimer({ task_kind: taskKind });
    try {
      const answer = await this.#policy.execute(
        ({ signal: attemptSignal }) =>
          this.#attempt(request, signal ? AbortSignal.any([signal, attemptSignal]) : attemptSignal),
        signal,
      );
      metrics.llmRequests.inc({ task_kind: taskKind, outcome: "success" });
      return answer;
    } catch (raw) {
      const error = this.#classify(raw);
      metrics.llmRequests.inc({ task_kind: taskKind, outcome: error.kind });
      throw error;
    } finally {
      stopTimer();
    }
  }

  async #attempt<S extends z.ZodType>(
    request: { system: string; user: string; schema: S },
    signal: AbortSignal,
  ): Promise<z.output<S>> {
    let content: string | null | undefined;
    try {
      const completion = await this.#openai().chat.completions.create(
        {
          model: this.options.model,
          temperature: 0,
          response_format: { type: "json_object" },
          messages: [
            { role: "system", content: request.system },
            { role: "user", content: request.user },
          ],
        },
        { signal },
      );
      content = completion.choices[0]?.message.content;
    } catch (error) {
      throw this.#classify(error);
    }
    let parsed: unknown;
    try {
      parsed = answerJson(content);
    } catch {
      throw new LlmCallError(
        "invalid_answer",
        `the model's answer is not JSON (first 120 characters: ${JSON.stringify(String(content).slice(0, 120))})`,
      );
    }
    const checked = request.schema.safeParse(parsed);
    if (!checked.success)
      throw new LlmCallError(
        "invalid_answer",
        `the model's answer does not have the expected shape: ${checked.error.issues
          .map((i) => `${i.path.join(".") || "(answer)"} ${i.message}`)
          .join("; ")
          .slice(0, 300)}`,
      );
    return checked.data;
  }

  #classify(error: unknown): LlmCallError {
    if (error instanceof LlmCallError) return error;
    if (error instanceof BrokenCircuitError)
      return new LlmCallError(
        "unavailable",
        `the LLM provider at ${this.options.baseUrl} is failing; calls are paused (circuit open) for up to ${this.options.breakerHalfOpenMs} ms`,
        this.retryInMs,
      );
    if (error instanceof TaskCancelledError || (error as Error).name === "APIConnectionTimeoutError")
      return new LlmCallError("timeout", `no complete answer within ${this.options.timeoutMs} ms`);
    if (error instanceof RateLimitError)
      return new LlmCallError(
        "rate_limited",
        "the LLM provider is rate-limiting us (429)",
        retryAfterMs(error.headers?.get("retry-after")),
      );
    if (error instanceof APIError && error.name === "APIUserAbortError")
      return new LlmCallError(
        "timeout",
        `the call was cut off after ${this.options.timeoutMs} ms or the task stopped`,
      );
    if (error instanceof SyntaxError)
      return new LlmCallError("invalid_answer", `the provider's response is not JSON: ${error.message}`);
    const status = error instanceof APIError ? ` (HTTP ${String(error.status ?? "no status")})` : "";
    return new LlmCallError("error", `the LLM provider call failed${status}: ${(error as Error).message}`);
  }
}
