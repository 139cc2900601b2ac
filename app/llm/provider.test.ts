// The LLM provider policy against the local OpenAI-compatible stand-in, through the real `openai`
// client: good answers parsed and checked, garbage and endless answers cut off, 429's Retry-After
// honoured, and the circuit opening on repeated failures and closing after recovery.
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LocalLlmServer } from "../../tools/fakes/llm-server.ts";
import { EXTRACTION_PROMPT, quoteRequestDraft } from "../assistant/quote-request-email.ts";
import { createMetrics } from "../observability/metrics.ts";
import { fixedSecret } from "../secret-file.ts";
import { LlmCallError, LlmProvider, retryAfterMs } from "./provider.ts";

const server = new LocalLlmServer({ apiKey: "test-key" });
beforeAll(() => server.start());
afterAll(() => server.stop());
beforeEach(() => server.setMode({ mode: "ok" }));

const email = {
  system: EXTRACTION_PROMPT,
  user: "Subject: load next week\n\nNeed a reefer from Chicago, IL to Dallas, TX, 38,000 lbs, pickup 2026-12-09.",
  schema: quoteRequestDraft,
};

function provider(overrides: Partial<ConstructorParameters<typeof LlmProvider>[0]> = {}) {
  const metrics = createMetrics();
  const llm = new LlmProvider({
    baseUrl: server.baseUrl,
    model: "gpt-4o-mini",
    apiKey: fixedSecret("test-key"),
    timeoutMs: 500,
    breakerFailures: 3,
    breakerHalfOpenMs: 300,
    metrics,
    log: pino({ level: "silent" }),
    ...overrides,
  });
  return { llm, metrics };
}

async function failure(promise: Promise<unknown>): Promise<LlmCallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LlmCallError);
  return error as LlmCallError;
}

describe("LLM provider", () => {
  it("returns the model's JSON answer checked against the task's schema", async () => {
    const { llm, metrics } = provider();
    expect(await llm.completeJson("quote_request_extraction", email)).toEqual({
      origin: "Chicago, IL",
      destination: "Dallas, TX",
      equipment: "reefer",
      weightLbs: 38_000,
      pickupDate: "2026-12-09",
    });
    expect(await metrics.registry.getSingleMetricAsString("llm_requests_total")).toContain(
      'llm_requests_total{task_kind="quote_request_extraction",outcome="success"} 1',
    );
  });

  it("refuses a wrong key with the provider's 401, without opening the circuit on one call", async () => {
    const { llm } = provider({ apiKey: fixedSecret("wrong") });
    const error = await failure(llm.completeJson("quote_request_extraction", email));
    expect(error.kind).toBe("error");
    expect(error.message).toContain("401");
    expect(llm.state).toBe("closed");
  });

  it("treats an answer that is not JSON, or a body that is not JSON, as an invalid answer", async () => {
    const { llm } = provider();
    server.setMode({ mode: "garbage" });
    const content = await failure(llm.completeJson("quote_request_extraction", email));
    expect(content.kind).toBe("invalid_answer");
    expect(content.message).toMatch(/not JSON/);
    server.setMode({ mode: "garbage", garbageBody: true });
    const body = await failure(llm.completeJson("quote_request_extraction", email));
    expect(["invalid_answer", "error"]).toContain(body.kind);
  });

  it("cuts an endless answer off at the timeout, for each attempt", async () => {
    const { llm } = provider({ timeoutMs: 300, breakerFailures: 10 });
    server.setMode({ mode: "endless" });
    const started = Date.now();
    const error = await failure(llm.completeJson("quote_request_extraction", email));
    const took = Date.now() - started;
    expect(error.kind).toBe("timeout");
    // Two attempts of 300 ms and a short backoff: well under the 5 s an unbounded read would hang for.
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(5_000);
  });

  it("counts timeouts toward the circuit: a provider that only stalls is judged down too", async () => {
    const { llm } = provider({ timeoutMs: 200, breakerFailures: 2 });
    server.setMode({ mode: "slow", delayMs: 2_000 });
    await failure(llm.completeJson("quote_request_extraction", email));
    expect(llm.state).toBe("open");
  });

  it("reports a 429 with the provider's Retry-After and does not retry it", async () => {
    const { llm } = provider();
    server.setMode({ mode: "rate-limit", retryAfterSeconds: 7 });
    const before = server.requests;
    const error = await failure(llm.completeJson("quote_request_extraction", email));
    expect(error.kind).toBe("rate_limited");
    expect(error.retryAfterMs).toBe(7_000);
    expect(server.requests - before).toBe(1);
  });

  it("opens the circuit after consecutive failures, stops calling, and closes once the provider answers", async () => {
    const { llm, metrics } = provider();
    server.setMode({ mode: "failing" });
    for (let i = 0; i < 2 && llm.state === "closed"; i++)
      await failure(llm.completeJson("quote_request_extraction", email));
    expect(llm.state).toBe("open");
    expect(llm.degradedSince).toBeDefined();
    expect(await metrics.registry.getSingleMetricAsString("llm_provider_degraded")).toMatch(
      /llm_provider_degraded 1/,
    );
    const sent = server.requests;
    const open = await failure(llm.completeJson("quote_request_extraction", email));
    expect(open.kind).toBe("unavailable");
    expect(server.requests).toBe(sent);

    server.setMode({ mode: "ok" });
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(await llm.completeJson("quote_request_extraction", email)).toMatchObject({
      origin: "Chicago, IL",
    });
    expect(llm.state).toBe("closed");
    expect(await metrics.registry.getSingleMetricAsString("llm_provider_degraded")).toMatch(
      /llm_provider_degraded 0/,
    );
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
