// A carrier invite reaches workflow automation (the n8n stand-in) through the runner, with its key
// read from WORKFLOW_AUTOMATION_API_KEY_FILE as the stacks mount it. When the service rejects the key
// (it was rotated there, not here) the runner turns yellow: /readyz "degraded" and still 200,
// workflow_automation_degraded{reason="credential_rejected"} 1, and the invite's event waits without
// using up its attempts. Once the new key lands in the file the event is delivered, once, and the
// runner is green again.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DATABASE } from "../db/bootstrap.ts";
import { LocalWorkflowServer } from "../../tools/fakes/workflow-server.ts";
import { apiClient } from "../../tools/platform/api-client.ts";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { startTestRunner } from "../../tools/platform/runner.ts";
import type { RunningRunner } from "./main.ts";

const workflow = new LocalWorkflowServer({ apiKey: "workflow-key-1" });
const dir = mkdtempSync(join(tmpdir(), "workflow-key-"));
const keyFile = join(dir, "WORKFLOW_AUTOMATION_API_KEY");
let t: TestApp;
let runner: RunningRunner;

beforeAll(async () => {
  writeFileSync(keyFile, "workflow-key-1\n");
  await workflow.start();
  t = await startTestApp();
  runner = await startTestRunner(t.db.urls.runner, {
    WORKFLOW_AUTOMATION_URL: workflow.baseUrl,
    WORKFLOW_AUTOMATION_API_KEY_FILE: keyFile,
    WORKFLOW_AUTOMATION_TIMEOUT_MS: "1000",
    WORKFLOW_AUTOMATION_BREAKER_FAILURES: "3",
    WORKFLOW_AUTOMATION_BREAKER_HALF_OPEN_MS: "300",
  });
}, 120_000);
afterAll(async () => {
  await runner?.stop();
  await t?.stop();
  await workflow.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const readiness = async () => {
  const response = await fetch(`${runner.url}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};
const degradedMetric = async () =>
  /workflow_automation_degraded\{reason="credential_rejected"\} (\d)/.exec(
    await (await fetch(`${runner.url}/metrics`)).text(),
  )?.[1];

describe("workflow automation credential", () => {
  it("delivers invites, turns yellow on a rejected key without losing one, and recovers on rotation", async () => {
    const tenant = await provisionTestTenant(t.db, "pro");
    const client = apiClient(t.url, tenant.apiKey);
    const carriers = (await client.get<Record<string, any>>("/v1/directory/carriers?limit=5")).body.carriers;
    const invite = async (i: number) =>
      (
        await client.post<Record<string, any>>("/v1/directory/invites", {
          carrierId: carriers[i].id,
          email: `dispatch${i}@example.com`,
        })
      ).body;

    const first = await invite(0);
    const delivered = await until("the first invite's event", async () =>
      workflow.received.find((e) => e.body.inviteId === first.id),
    );
    expect(delivered.path).toBe("carrier_invited");
    expect(delivered.body).toMatchObject({
      event: "carrier_invited",
      carrierId: carriers[0].id,
      email: "dispatch0@example.com",
      tenantId: tenant.tenantId,
    });
    expect(await readiness()).toMatchObject({ status: 200, body: { status: "ok" } });

    // The service now holds a rotated key our file does not have yet.
    workflow.rotateKey("workflow-key-2");
    const second = await invite(1);
    await until("degraded readiness", async () => {
      const r = await readiness();
      return r.body.status === "degraded" ? r : undefined;
    });
    const yellow = await readiness();
    expect(yellow.status).toBe(200);
    expect(yellow.body.workflowAutomation.degraded).toContain("credential_rejected");
    expect(await degradedMetric()).toBe("1");
    expect(workflow.answered.get(403)).toBeGreaterThan(0);
    // Deferred, not failed: its attempts are not used up however long the key stays wrong.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const freight = new URL(t.db.urls.superuser);
    freight.pathname = `/${DEFAULT_DATABASE}`;
    const admin = new pg.Client({ connectionString: freight.href });
    await admin.connect();
    const waiting = await admin
      .query<{ status: string; attempts: number }>(
        "SELECT status, attempts FROM agent_tasks WHERE kind = 'workflow_event' AND payload->>'inviteId' = $1",
        [second.id],
      )
      .finally(() => admin.end());
    expect(waiting.rows[0]!.status).not.toBe("failed");
    expect(waiting.rows[0]!.attempts).toBeLessThanOrEqual(1);

    // The rotation reaches the mounted file: the waiting event goes out, once, and the runner is green.
    writeFileSync(keyFile, "workflow-key-2\n");
    await until("the second invite's event", async () =>
      workflow.received.find((e) => e.body.inviteId === second.id),
    );
    await until("green readiness", async () => ((await readiness()).body.status === "ok" ? true : undefined));
    expect(await degradedMetric()).toBe("0");
    expect(workflow.received.filter((e) => e.body.inviteId === second.id)).toHaveLength(1);
  }, 90_000);
});
