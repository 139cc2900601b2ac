// The workflow-automation client against the n8n stand-in: delivered with the key and an
// Idempotency-Key, a blip retried, a failing service opening the circuit (degraded, and calls stop)
// and closing it after recovery, a refused event not retried and not counted against the service, a
// rejected key degrading until a call with the right key succeeds.
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LocalWorkflowServer } from "../../tools/fakes/workflow-server.ts";
import { createMetrics } from "../observability/metrics.ts";
import { fixedSecret, type SecretValue } from "../secret-file.ts";
import { WorkflowAutomation, WorkflowCallError } from "./automation.ts";

const server = new LocalWorkflowServer({ apiKey: "key-1" });
beforeAll(() => server.start());
afterAll(() => server.stop());
beforeEach(() => {
  server.setMode("ok");
  server.rotateKey("key-1");
  server.answered.clear();
});

function client(apiKey: SecretValue = fixedSecret("key-1")) {
  const metrics = createMetrics();
  const workflow = new WorkflowAutomation({
    baseUrl: server.baseUrl,
    apiKey,
    timeoutMs: 500,
    breakerFailures: 3,
    breakerHalfOpenMs: 300,
    metrics,
    log: pino({ level: "silent" }),
  });
  return { workflow, metrics };
}

const event = (id: string) => ({ event: "carrier_invited", inviteId: id });
async function failure(promise: Promise<unknown>): Promise<WorkflowCallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowCallError);
  return error as WorkflowCallError;
}

describe("workflow automation", () => {
  it("delivers an event once per Idempotency-Key and counts it", async () => {
    const { workflow, metrics } = client();
    await workflow.post("carrier_invited", event("a"), { idempotencyKey: "task-a" });
    await workflow.post("carrier_invited", event("a"), { idempotencyKey: "task-a" });
    expect(server.received.filter((e) => e.idempotencyKey === "task-a")).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString("workflow_automation_requests_total")).toContain(
      'workflow_automation_requests_total{event="carrier_invited",outcome="delivered"} 2',
    );
    expect(workflow.degradedReasons).toEqual([]);
  });

  it("retries a failing service, opens the circuit, and closes it after recovery", async () => {
    const { workflow, metrics } = client();
    server.setMode("failing");
    const first = await failure(workflow.post("carrier_invited", event("b"), { idempotencyKey: "task-b" }));
    expect(first.kind).toBe("error");
    // One call and its two retries, then the third failure opened the circuit: nothing more is sent.
    expect(server.answered.get(500)).toBe(3);
    expect(workflow.degradedReasons).toEqual(["circuit_open"]);
    expect(
      (await failure(workflow.post("carrier_invited", event("b"), { idempotencyKey: "task-b" }))).kind,
    ).toBe("unavailable");
    expect(server.answered.get(500)).toBe(3);
    expect(await metrics.registry.getSingleMetricAsString("workflow_automation_degraded")).toContain(
      'workflow_automation_degraded{reason="circuit_open"} 1',
    );
    server.setMode("ok");
    await new Promise((resolve) => setTimeout(resolve, 350));
    await workflow.post("carrier_invited", event("b"), { idempotencyKey: "task-b" });
    expect(workflow.degradedReasons).toEqual([]);
  });

  it("refuses an event no workflow registers without retrying or blaming the service", async () => {
    const { workflow } = client();
    const refused = await failure(
      workflow.post("no_such_event", { event: "no_such_event" }, { idempotencyKey: "x" }),
    );
    expect(refused.kind).toBe("refused");
    expect(refused.message).toMatch(/404.*refuses this event/);
    expect(server.answered.get(404)).toBe(1);
    expect(workflow.degradedReasons).toEqual([]);
  });

  it("is degraded while the service rejects the key, not retrying it, until the rotated key is read", async () => {
    let key = "key-1";
    const { workflow } = client({ read: () => key });
    server.rotateKey("key-2");
    const rejected = await failure(
      workflow.post("carrier_invited", event("c"), { idempotencyKey: "task-c" }),
    );
    expect(rejected.kind).toBe("credential_rejected");
    expect(server.answered.get(403)).toBe(1);
    expect(workflow.degradedReasons).toEqual(["credential_rejected"]);
    key = "key-2";
    await workflow.post("carrier_invited", event("c"), { idempotencyKey: "task-c" });
    expect(workflow.degradedReasons).toEqual([]);
  });
});
