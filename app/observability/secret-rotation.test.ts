// Rotation dates through the real AWS SDK against a local endpoint speaking the Secrets Manager
// JSON protocol: the app started with SECRETS_ROTATION_WATCH exports, on /metrics, the dates the
// rotation alerts read; SECRETS_LAST_ROTATED still overrides; a refused read keeps the last date.
import { Registry, Gauge } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { FakeSecretsManager } from "../../tools/fakes/secrets-manager.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { RotationLedger, secretsManagerClient, watchSecretRotation } from "./secret-rotation.ts";

const aws = new FakeSecretsManager("us-east-1");
let t: TestApp;

const at = (iso: string) => new Date(iso);
const seconds = (iso: string) => at(iso).getTime() / 1000;
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);
// Rotated 25 days ago and tagged third-party by the store: 5 days left of its 30-day window.
const partnerRotated = daysAgo(25);

async function rotationSamples(url: string, expected: number): Promise<Map<string, number>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const samples = new Map(
      [...text.matchAll(/^secret_last_rotated_timestamp_seconds\{secret="([^"]+)"\} (\S+)$/gm)].map(
        (m) => [m[1]!, Number(m[2])] as const,
      ),
    );
    if (samples.size >= expected || Date.now() > deadline) return samples;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "local-secret");
  aws.put({
    name: "freight/llm-provider-api-key",
    createdDate: at("2026-06-01T00:00:00Z"),
    lastChangedDate: at("2026-11-01T00:00:05Z"),
    lastRotatedDate: at("2026-11-01T00:00:00Z"),
    rotationDays: 30,
  });
  // Never rotated: its first value was set by hand, the deadline runs from then.
  aws.put({
    name: "freight/database-service-role",
    createdDate: at("2026-09-01T00:00:00Z"),
    lastChangedDate: at("2026-10-15T00:00:00Z"),
    rotationDays: 90,
  });
  aws.put({ name: "freight/ops-webhook-url", createdDate: at("2026-11-20T00:00:00Z"), rotationDays: 30 });
  aws.put({ name: "freight/workflow-automation-api-key", createdDate: at("2026-06-01T00:00:00Z") });
  // Its label reads like a service role (90 days), but the store's class tag says third-party (30).
  aws.put({
    name: "freight/database-partner-role",
    createdDate: partnerRotated,
    tags: { "secret-class": "third-party-api-key" },
  });
  aws.denied.add("freight/database-runner-role");
  aws.put({ name: "freight/database-runner-role", createdDate: at("2026-06-01T00:00:00Z") });
  await aws.start();
  t = await startTestApp({
    env: {
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      SECRETS_ROTATION_WATCH: [
        "llm-provider-api-key=freight/llm-provider-api-key",
        "database-service-role=freight/database-service-role",
        "ops-webhook-url=freight/ops-webhook-url",
        "database-runner-role=freight/database-runner-role",
        "workflow-automation-api-key=freight/workflow-automation-api-key",
        "database-partner-role=freight/database-partner-role",
      ].join(","),
      // The override wins over what Secrets Manager says for this one.
      SECRETS_LAST_ROTATED: "workflow-automation-api-key=2026-11-25T00:00:00Z",
    },
  });
});

afterAll(async () => {
  await t?.stop();
  await aws.stop();
  vi.unstubAllEnvs();
});

describe("secret rotation dates from Secrets Manager", () => {
  it("exports each watched secret's last rotation (else last change, else creation) for the rotation alerts", async () => {
    const samples = await rotationSamples(t.url, 5);
    expect(Object.fromEntries(samples)).toEqual({
      "database-partner-role": partnerRotated.getTime() / 1000,
      "llm-provider-api-key": seconds("2026-11-01T00:00:00Z"),
      "database-service-role": seconds("2026-10-15T00:00:00Z"),
      "ops-webhook-url": seconds("2026-11-20T00:00:00Z"),
      "workflow-automation-api-key": seconds("2026-11-25T00:00:00Z"),
    });
  });

  it("asks with signed DescribeSecret calls only (metadata, never a value), and not for overridden secrets", () => {
    expect(new Set(aws.requests.map((r) => r.operation))).toEqual(new Set(["DescribeSecret"]));
    expect(aws.requests.map((r) => r.body["SecretId"]).sort()).toEqual([
      "freight/database-partner-role",
      "freight/database-runner-role",
      "freight/database-service-role",
      "freight/llm-provider-api-key",
      "freight/ops-webhook-url",
    ]);
    for (const r of aws.requests) {
      expect(r.headers["authorization"]).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST\/\d{8}\/us-east-1\/secretsmanager\/aws4_request/,
      );
    }
  });

  it("keeps the last known date when a read is refused, names the permission, and picks up a rotation", async () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "g", help: "h", labelNames: ["secret"], registers: [registry] });
    const warnings: string[] = [];
    const watch = watchSecretRotation({
      client: secretsManagerClient({ region: "us-east-1", endpoint: aws.url }),
      secrets: [{ label: "llm-provider-api-key", secretId: "freight/llm-provider-api-key" }],
      overrides: new Map(),
      ledger: new RotationLedger(gauge),
      intervalMs: 3_600_000,
      log: { info: () => {}, warn: (_obj, msg) => warnings.push(msg) },
    });
    try {
      expect(await watch.refresh()).toEqual([]);
      aws.put({
        ...aws.secrets.get("freight/llm-provider-api-key")!,
        lastRotatedDate: at("2026-12-01T00:00:00Z"),
      });
      expect(await watch.refresh()).toEqual([]);
      expect((await gauge.get()).values[0]?.value).toBe(seconds("2026-12-01T00:00:00Z"));

      aws.denied.add("freight/llm-provider-api-key");
      expect(await watch.refresh()).toEqual(["llm-provider-api-key"]);
      expect((await gauge.get()).values[0]?.value).toBe(seconds("2026-12-01T00:00:00Z"));
      expect(warnings.at(-1)).toContain("secretsmanager:DescribeSecret");
      expect(warnings.at(-1)).toContain("freight/llm-provider-api-key");
    } finally {
      watch.stop();
      aws.denied.delete("freight/llm-provider-api-key");
    }
  });
});

describe("readiness against the rotation windows", () => {
  it("reads degraded (still 200) on /readyz within 7 days of a deadline, with the store's class deciding the window", async () => {
    await rotationSamples(t.url, 5);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe("degraded");
    expect(body.checks.database).toBe("ok");
    const deadline = new Date(partnerRotated.getTime() + 30 * DAY).toISOString();
    expect(body.checks.secrets).toContain(`database-partner-role due by ${deadline} (30-day window)`);
    // Rotated 2026-11-01 on a 30-day window: overdue from 2026-12-01 on.
    expect(body.checks.secrets).toContain(
      "llm-provider-api-key overdue since 2026-12-01T00:00:00.000Z (30-day window)",
    );
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^readiness_degraded\{check="secret-rotation"\} 1$/m);
  });

  it("is ready when every secret is inside its window, and flips 7 days before the deadline", () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "r", help: "h", labelNames: ["secret"], registers: [registry] });
    const degraded = new Gauge({ name: "d", help: "h", labelNames: ["check"], registers: [registry] });
    const ledger = new RotationLedger(gauge, degraded);
    ledger.record("database-service-role", at("2026-10-01T00:00:00Z"));
    ledger.record("stripe-secret-key", at("2026-11-20T00:00:00Z"), "third-party-api-key");
    // Service role: 90 days -> 2026-12-30; the Stripe key: 30 days -> 2026-12-20.
    expect(ledger.readiness(at("2026-12-13T00:00:00Z"))).toEqual({
      degraded: false,
      detail: "2 within their rotation windows",
    });
    const soon = ledger.readiness(at("2026-12-13T00:00:01Z"));
    expect(soon.degraded).toBe(true);
    expect(soon.detail).toBe("rotate: stripe-secret-key due by 2026-12-20T00:00:00.000Z (30-day window)");
    expect(ledger.readiness(at("2026-12-24T00:00:00Z")).detail).toBe(
      "rotate: stripe-secret-key overdue since 2026-12-20T00:00:00.000Z (30-day window); " +
        "database-service-role due by 2026-12-30T00:00:00.000Z (90-day window)",
    );
  });
});
