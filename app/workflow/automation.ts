// The runners' one door to the workflow-automation service (the plan's n8n): each event is POSTed as
// JSON to a webhook under WORKFLOW_AUTOMATION_URL (n8n's production webhooks live at
// <base>/webhook/<path>), authenticated by the key in WORKFLOW_AUTOMATION_API_KEY_FILE (n8n's Header
// Auth credential; re-read per call, so a rotated key applies at once) and deduplicated by the
// receiver on Idempotency-Key. Behind the same outbound policy as the LLM provider (app/outbound-policy.ts): a per-attempt
// timeout, retries with backoff for a blip, and a circuit breaker.
//
// A credential the service refuses (401/403) is its own failure: retrying the same key cannot help,
// so it is not retried here, but it makes the service "degraded" until a call succeeds (the key is
// rotated or fixed). The task goes back to the queue with the runner's backoff (the auto-retry), the
// region turns yellow (/readyz "degraded", still 200), workflow_automation_degraded is 1, and
// WorkflowAutomationDegraded pages when it lasts.
import { BrokenCircuitError, TaskCancelledError } from "cockatiel";
import type { Counter, Gauge } from "prom-client";
import { outboundPolicy } from "../outbound-policy.ts";
import type { SecretValue } from "../secret-file.ts";

export interface WorkflowAutomationOptions {
  /** e.g. https://n8n.example.com/webhook; an event goes to <baseUrl>/<event path>. */
  baseUrl: string;
  apiKey: SecretValue;
  timeoutMs: number;
  breakerFailures: number;
  breakerHalfOpenMs: number;
  metrics: WorkflowAutomationMetrics;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface WorkflowAutomationMetrics {
  workflowRequests: Counter<"event" | "outcome">;
  workflowAutomationDegraded: Gauge<"reason">;
}

/** Why a call was not delivered. */
export type WorkflowFailureKind =
  | "credential_rejected" // 401 or 403: the key is wrong, expired or revoked
  | "unavailable" // the breaker is open: nothing was sent
  | "timeout"
  | "refused" // another 4xx: the service refuses this event for good
  | "error"; // a 5xx, 408, 429, a refused connection

export class WorkflowCallError extends Error {
  readonly kind: WorkflowFailureKind;
  constructor(kind: WorkflowFailureKind, message: string) {
    super(message);
    this.name = "WorkflowCallError";
    this.kind = kind;
  }
}

export type WorkflowDegradedReason = "credential_rejected" | "circuit_open";
export const WORKFLOW_DEGRADED_REASONS: WorkflowDegradedReason[] = ["credential_rejected", "circuit_open"];

export class WorkflowAutomation {
  readonly options: WorkflowAutomationOptions;
  readonly #policy;
  #circuit: "closed" | "open" | "half_open" = "closed";
  #credentialRejectedSince: number | undefined;
  #circuitOpenSince: number | undefined;

  constructor(options: WorkflowAutomationOptions) {
    this.options = options;
    this.#policy = outboundPolicy({
      timeoutMs: options.timeoutMs,
      breakerFailures: options.breakerFailures,
      breakerHalfOpenMs: options.breakerHalfOpenMs,
      // Every failure but a refused event says "the service is not answering usefully now"; a
      // rejected credential counts too, so a bad key stops the calls as a dead service does.
      countsAsFailure: (error) =>
        error instanceof WorkflowCallError && error.kind !== "refused" && error.kind !== "unavailable",
      // A blip is retried twice; a rejected credential or a refused event is not (the same call fails again).
      retryable: (error) =>
        error instanceof WorkflowCallError && (error.kind === "error" || error.kind === "timeout"),
      retries: 2,
      backoffMaxMs: 1000,
      onCircuit: (state) => {
        this.#circuit = state;
        if (state === "closed") this.#circuitOpenSince = undefined;
        else this.#circuitOpenSince ??= Date.now();
        this.#publish();
      },
    });
    this.#publish();
  }

  /** Why the service is degraded now (empty: healthy). */
  get degradedReasons(): WorkflowDegradedReason[] {
    return [
      ...(this.#credentialRejectedSince !== undefined ? (["credential_rejected"] as const) : []),
      ...(this.#circuit !== "closed" ? (["circuit_open"] as const) : []),
    ];
  }
  get degradedSince(): number | undefined {
    const since = [this.#credentialRejectedSince, this.#circuitOpenSince].filter((t) => t !== undefined);
    return since.length ? Math.min(...since) : undefined;
  }
  get circuit(): "closed" | "open" | "half_open" {
    return this.#circuit;
  }

  #publish(): void {
    const reasons = this.degradedReasons;
    for (const reason of WORKFLOW_DEGRADED_REASONS)
      this.options.metrics.workflowAutomationDegraded.set({ reason }, reasons.includes(reason) ? 1 : 0);
  }

  #credential(rejected: boolean): void {
    const before = this.#credentialRejectedSince !== undefined;
    if (rejected === before) return;
    this.#credentialRejectedSince = rejected ? Date.now() : undefined;
    this.#publish();
    if (rejected)
      this.options.log.warn(
        { baseUrl: this.options.baseUrl },
        "workflow automation rejects our credential (401/403): events wait and retry; rotate or fix freight/workflow-automation-api-key",
      );
    else
      this.options.log.info(
        { baseUrl: this.options.baseUrl },
        "workflow automation accepts our credential again",
      );
  }

  /**
   * Delivers `event` to the webhook at `path`. Throws WorkflowCallError (kind says why); `signal`
   * (the task's) aborts it. `idempotencyKey` lets the receiver drop a redelivery.
   */
  async post(
    path: string,
    event: { event: string } & Record<string, unknown>,
    options: { idempotencyKey: string; signal?: AbortSignal },
  ): Promise<void> {
    const { metrics } = this.options;
    try {
      await this.#policy.execute(
        ({ signal: attempt }) =>
          this.#attempt(
            path,
            event,
            options.idempotencyKey,
            options.signal ? AbortSignal.any([options.signal, attempt]) : attempt,
          ),
        options.signal,
      );
      metrics.workflowRequests.inc({ event: event.event, outcome: "delivered" });
      this.#credential(false);
    } catch (raw) {
      const error =
        raw instanceof WorkflowCallError
          ? raw
          : raw instanceof BrokenCircuitError
            ? new WorkflowCallError(
                "unavailable",
                `workflow automation at ${this.options.baseUrl} is failing; calls are paused (circuit open) for up to ${this.options.breakerHalfOpenMs} ms`,
              )
            : raw instanceof TaskCancelledError
              ? new WorkflowCallError("timeout", `no answer within ${this.options.timeoutMs} ms`)
              : new WorkflowCallError("error", `workflow automation call failed: ${(raw as Error).message}`);
      metrics.workflowRequests.inc({ event: event.event, outcome: error.kind });
      throw error;
    }
  }

  async #attempt(path: string, event: object, idempotencyKey: string, signal: AbortSignal): Promise<void> {
    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl.replace(/\/$/, "")}/${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${this.options.apiKey.read().trim()}`,
          "idempotency-key": idempotencyKey,
        },
        body: JSON.stringify(event),
        signal,
      });
      await response.body?.cancel();
    } catch (error) {
      if (signal.aborted) throw new TaskCancelledError();
      throw new WorkflowCallError("error", `workflow automation unreachable: ${(error as Error).message}`);
    }
    if (response.ok) return;
    const status = `workflow automation answered ${response.status} ${response.statusText}`;
    if (response.status === 401 || response.status === 403) {
      this.#credential(true);
      throw new WorkflowCallError("credential_rejected", `${status}: it rejects our credential`);
    }
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429)
      throw new WorkflowCallError("refused", `${status}: it refuses this event`);
    throw new WorkflowCallError("error", status);
  }
}
