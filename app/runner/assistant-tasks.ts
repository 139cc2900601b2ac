// The LLM-backed agent task kinds and their fallbacks when the provider cannot answer (app/llm):
//   quote_request_extraction  a shipper's email -> a draft quote request. While the provider is
//                             unavailable (circuit open) or rate-limiting, the task waits uncounted
//                             (DeferTaskError) and is read by the model after recovery; a task whose
//                             own calls keep failing gets the rule-based reading on its last attempt.
//   quote_explanation         a priced quote -> plain words. The template explanation at once: a
//                             shipper waiting on a screen is better served by it than by a wait.
// Both store their result on the task (agent_tasks.result) with the source that produced it.
import type { Counter } from "prom-client";
import {
  EXPLANATION_PROMPT,
  explainByTemplate,
  explanationUserMessage,
  quoteExplanationAnswer,
  quoteFigures,
  type QuoteExplanation,
} from "../assistant/quote-explanation.ts";
import {
  EXTRACTION_PROMPT,
  extractByRules,
  extractionUserMessage,
  finishExtraction,
  quoteRequestDraft,
  shipperEmail,
  type QuoteRequestExtraction,
} from "../assistant/quote-request-email.ts";
import { LlmCallError, type LlmProvider } from "../llm/provider.ts";
import { DeferTaskError, PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

export const ASSISTANT_TASK_KINDS = ["quote_request_extraction", "quote_explanation"] as const;

interface AssistantOptions {
  /** Absent when LLM_BASE_URL is not set: every task gets its fallback. */
  llm?: LlmProvider;
  fallbacks: Counter<"kind" | "fallback">;
}

/** The smallest wait before a deferred task is claimed again: the breaker's own trial comes first. */
const MIN_DEFER_MS = 1000;

function payloadOf<T>(
  kind: string,
  schema: {
    safeParse(
      v: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  payload: unknown,
): T {
  const parsed = schema.safeParse(payload);
  if (!parsed.success)
    throw new PermanentTaskError(
      `${kind} payload is not valid: ${parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "(payload)"} ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

export function quoteRequestExtractionHandler(options: AssistantOptions): AgentTaskHandler {
  const kind = "quote_request_extraction";
  return async (task, { signal, log }) => {
    const email = payloadOf(kind, shipperEmail, task.payload);
    const rules = (why: string): QuoteRequestExtraction => {
      options.fallbacks.inc({ kind, fallback: "rules" });
      log.warn(
        { kind, attempt: task.attempts, why },
        "quote request drafted by rules: the LLM provider could not answer",
      );
      return extractByRules(email);
    };
    if (!options.llm) return { ...rules("LLM_BASE_URL is not set") };
    try {
      const draft = await options.llm.completeJson(
        kind,
        { system: EXTRACTION_PROMPT, user: extractionUserMessage(email), schema: quoteRequestDraft },
        signal,
      );
      return { ...finishExtraction("llm", draft) };
    } catch (error) {
      if (!(error instanceof LlmCallError)) throw error;
      if (error.kind === "unavailable" || error.kind === "rate_limited") {
        options.fallbacks.inc({ kind, fallback: "deferred" });
        throw new DeferTaskError(
          error.message,
          Math.max(MIN_DEFER_MS, error.retryAfterMs ?? 0, options.llm.retryInMs),
        );
      }
      // Its own calls failed while the provider as a whole is not (yet) judged down: an ordinary
      // retry, and on the last attempt the rules' reading rather than a failed task.
      if (task.attempts >= task.maxAttempts) return { ...rules(error.message) };
      throw error;
    }
  };
}

export function quoteExplanationHandler(options: AssistantOptions): AgentTaskHandler {
  const kind = "quote_explanation";
  return async (task, { signal, log }) => {
    const quote = payloadOf(kind, quoteFigures, task.payload);
    const template = (why: string): QuoteExplanation => {
      options.fallbacks.inc({ kind, fallback: "template" });
      log.warn({ kind, why }, "quote explained by the template: the LLM provider could not answer");
      return explainByTemplate(quote);
    };
    if (!options.llm) return { ...template("LLM_BASE_URL is not set") };
    try {
      const answer = await options.llm.completeJson(
        kind,
        { system: EXPLANATION_PROMPT, user: explanationUserMessage(quote), schema: quoteExplanationAnswer },
        signal,
      );
      if (answer.totalCents !== quote.totalCents)
        return {
          ...template(
            `the model stated a total of ${answer.totalCents} cents, not the quote's ${quote.totalCents}`,
          ),
        };
      return { source: "llm", summary: answer.summary } satisfies QuoteExplanation;
    } catch (error) {
      if (!(error instanceof LlmCallError)) throw error;
      return { ...template(error.message) };
    }
  };
}
