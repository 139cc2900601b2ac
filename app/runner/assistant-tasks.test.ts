// The assistant's LLM-backed tasks end to end: the API queues them, a runner works them against the
// local OpenAI-compatible stand-in, and a degraded provider changes only who writes the result:
// explanations come from the template at once, email drafts wait (uncounted) and are read by the
// model after recovery; the runner stays ready and says "degraded"; nothing is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalLlmServer } from "../../tools/fakes/llm-server.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { startTestRunner, until } from "../../tools/platform/runner.ts";
import { createPool } from "../db/pool.ts";
import type { RunningRunner } from "./main.ts";

let app: TestApp;
let runner: RunningRunner;
const llm = new LocalLlmServer();

beforeAll(async () => {
  await llm.start();
  app = await startTestApp({ seed: "demo" });
  runner = await startTestRunner(app.db.urls.runner, {
    LLM_BASE_URL: llm.baseUrl,
    LLM_API_KEY: llm.apiKey,
    LLM_TIMEOUT_MS: "400",
    LLM_BREAKER_FAILURES: "2",
    LLM_BREAKER_HALF_OPEN_MS: "500",
  });
});
afterAll(async () => {
  await runner?.stop();
  await app?.stop();
  await llm.stop();
});

interface TaskView {
  id: string;
  status: string;
  result: Record<string, unknown> | null;
}

const email = {
  from: "dispatch@shipper.example",
  subject: "Quote please",
  body: "Hi, we need a reefer from Atlanta, GA to Chicago, IL, about 40,000 lbs, pickup 2026-12-14. Thanks!",
};

describe("assistant tasks", () => {
  it("drafts a quote request from an email with the model, and refuses an empty email", async () => {
    const client = apiClient(app.url, app.apiKeys["acme-logistics"]);
    const bad = await client.post("/v1/assistant/quote-requests", { body: "" });
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body)).toContain("must hold the email's text");

    const queued = await client.post<TaskView>("/v1/assistant/quote-requests", email);
    expect(queued.status).toBe(202);
    const done = await until(
      "draft",
      async () => (await client.get<TaskView>(`/v1/assistant/tasks/${queued.body.id}`)).body,
      (t) => t.status === "success",
      20_000,
    );
    expect(done.result).toEqual({
      source: "llm",
      draft: {
        origin: "Atlanta, GA",
        destination: "Chicago, IL",
        equipment: "reefer",
        weightLbs: 40_000,
        pickupDate: "2026-12-14",
      },
      missing: [],
    });
    // Another tenant cannot read it.
    const other = apiClient(app.url, app.apiKeys["globex-freight"]);
    expect((await other.get(`/v1/assistant/tasks/${queued.body.id}`)).status).toBe(404);
  });

  it("while the provider fails: explanations from the template, drafts wait uncounted, readiness degraded; after recovery every draft is the model's", async () => {
    const client = apiClient(app.url, app.apiKeys["acme-logistics"]);
    const quote = await client.post<{ id: string; totalCents: number }>("/v1/quotes", quoteBody());
    expect(quote.status).toBe(201);

    llm.setMode({ mode: "failing" });
    const drafts = await Promise.all(
      [1, 2, 3].map(async () => (await client.post<TaskView>("/v1/assistant/quote-requests", email)).body.id),
    );
    await until(
      "circuit open",
      async () => runner.llm!.state,
      (s) => s === "open",
      20_000,
    );
    const ready = await fetch(`${runner.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "degraded", llm: { circuit: "open" } });

    const explained = await client.post<TaskView>(`/v1/quotes/${quote.body.id}/explanation`);
    expect(explained.status).toBe(202);
    const explanation = await until(
      "explanation",
      async () => (await client.get<TaskView>(`/v1/assistant/tasks/${explained.body.id}`)).body,
      (t) => t.status === "success",
      20_000,
    );
    expect(explanation.result).toMatchObject({ source: "template" });
    const total = (quote.body.totalCents / 100).toLocaleString("en-US", { minimumFractionDigits: 2 });
    expect(String(explanation.result!.summary)).toContain(`$${total} in total`);

    // While the provider stays down, the drafts wait without using up their attempts.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const ops = createPool(app.db.urls.ops, 1);
    const { rows: waiting } = await ops
      .query<{ status: string; attempts: number; max_attempts: number }>(
        "SELECT status, attempts, max_attempts FROM agent_tasks WHERE id = ANY($1::uuid[])",
        [drafts],
      )
      .finally(() => ops.end());
    expect(waiting).toHaveLength(3);
    for (const task of waiting) {
      expect(task.status).not.toBe("failed");
      expect(task.attempts).toBeLessThan(task.max_attempts);
    }

    llm.setMode({ mode: "ok" });
    for (const id of drafts) {
      const done = await until(
        `draft ${id}`,
        async () => (await client.get<TaskView>(`/v1/assistant/tasks/${id}`)).body,
        (t) => t.status === "success",
        30_000,
      );
      expect(done.result).toMatchObject({ source: "llm", missing: [] });
    }
    expect(runner.llm!.state).toBe("closed");
    expect(await (await fetch(`${runner.url}/readyz`)).json()).toMatchObject({ status: "ok" });
    const metrics = await (await fetch(`${runner.url}/metrics`)).text();
    expect(metrics).toMatch(
      /agent_task_fallbacks_total\{kind="quote_explanation",fallback="template"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /agent_task_fallbacks_total\{kind="quote_request_extraction",fallback="deferred"\} [1-9]/,
    );
  });
});
