// Rotation dates through the real AWS SDK against moto's Secrets Manager (signatures checked): the
// app started with SECRETS_ROTATION_WATCH exports, on /metrics, the dates the rotation alerts read;
// SECRETS_LAST_ROTATED still overrides; a read IAM refuses keeps the last date.
// Moto stamps every date with its own clock in whole seconds, so the setup lets a second pass between
// creating, changing and rotating a secret: the three dates differ and the test can tell them apart.
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { Registry, Gauge } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ALLOW_ALL, startMoto, type MotoServer } from "../../tools/aws/moto.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { RotationLedger, secretsManagerClient, watchSecretRotation } from "./secret-rotation.ts";

let moto: MotoServer;
let aws: SecretsManagerClient;
let t: TestApp;
/** What Secrets Manager says each secret's dates are, read before the app starts. */
const dates = new Map<string, { created: number; changed: number; rotated: number | undefined }>();

const seconds = (d: Date | undefined) => (d === undefined ? undefined : d.getTime() / 1000);

/** Waits until moto's next whole second has begun, so the next date it stamps is a later one. */
async function nextSecond(): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  while (Math.floor(Date.now() / 1000) <= now) await new Promise((r) => setTimeout(r, 20));
}

async function describeDates(name: string) {
  const d = await aws.send(new DescribeSecretCommand({ SecretId: name }));
  return {
    created: seconds(d.CreatedDate)!,
    changed: seconds(d.LastChangedDate)!,
    rotated: seconds(d.LastRotatedDate),
  };
}

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

const DAY = 86_400_000;
const at = (iso: string) => new Date(iso);
// Overridden to 25 days ago; its label reads third-party (30 days): 5 days left, so readiness is degraded.
const workflowRotated = new Date(Math.floor((Date.now() - 25 * DAY) / 1000) * 1000);
const LLM = "freight/llm-provider-api-key";
// Its label reads like a service role (90 days), but the store's class tag says third-party (30).
const PARTNER = "freight/database-partner-role";
const SERVICE_ROLE = "freight/database-service-role";
const WEBHOOK = "freight/ops-webhook-url";

beforeAll(async () => {
  moto = await startMoto({ record: true });
  aws = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: moto.endpoint,
    credentials: moto.credentials,
  });
  vi.stubEnv("AWS_ACCESS_KEY_ID", moto.credentials.accessKeyId);
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", moto.credentials.secretAccessKey);
  for (const name of [LLM, SERVICE_ROLE, WEBHOOK, "freight/workflow-automation-api-key"])
    await aws.send(new CreateSecretCommand({ Name: name, SecretString: "first" }));
  await aws.send(
    new CreateSecretCommand({
      Name: PARTNER,
      SecretString: "first",
      Tags: [{ Key: "secret-class", Value: "third-party-api-key" }],
    }),
  );
  // Changed by hand after creation, never rotated: the deadline runs from the change.
  await nextSecond();
  for (const name of [LLM, SERVICE_ROLE])
    await aws.send(new PutSecretValueCommand({ SecretId: name, SecretString: "second" }));
  await nextSecond();
  await aws.send(new RotateSecretCommand({ SecretId: LLM, RotationRules: { AutomaticallyAfterDays: 30 } }));
  for (const name of [LLM, SERVICE_ROLE, WEBHOOK, PARTNER]) dates.set(name, await describeDates(name));
  // freight/database-runner-role does not exist: its read fails, and it is left out.
  moto.clearRequests();
  t = await startTestApp({
    env: {
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
      SECRETS_ROTATION_WATCH: [
        "llm-provider-api-key=freight/llm-provider-api-key",
        "database-service-role=freight/database-service-role",
        "ops-webhook-url=freight/ops-webhook-url",
        "database-runner-role=freight/database-runner-role",
        "workflow-automation-api-key=freight/workflow-automation-api-key",
        "database-partner-role=freight/database-partner-role",
      ].join(","),
      // The override wins over what Secrets Manager says for this one.
      SECRETS_LAST_ROTATED: `workflow-automation-api-key=${workflowRotated.toISOString()}`,
    },
  });
}, 300_000);

afterAll(async () => {
  await t?.stop();
  aws?.destroy();
  await moto?.stop();
  vi.unstubAllEnvs();
});

describe("secret rotation dates from Secrets Manager", () => {
  it("exports each watched secret's last rotation (else last change, else creation) for the rotation alerts", async () => {
    const llm = dates.get(LLM)!;
    const serviceRole = dates.get(SERVICE_ROLE)!;
    // The three rules are told apart only if the dates differ.
    expect(llm.rotated).toBeGreaterThan(llm.changed);
    expect(llm.changed).toBeGreaterThan(llm.created);
    expect(serviceRole.rotated).toBeUndefined();
    expect(serviceRole.changed).toBeGreaterThan(serviceRole.created);
    const samples = await rotationSamples(t.url, 5);
    expect(Object.fromEntries(samples)).toEqual({
      "database-partner-role": dates.get(PARTNER)!.created,
      "llm-provider-api-key": llm.rotated,
      "database-service-role": serviceRole.changed,
      "ops-webhook-url": dates.get(WEBHOOK)!.created,
      "workflow-automation-api-key": workflowRotated.getTime() / 1000,
    });
  });

  it("asks with signed DescribeSecret calls only (metadata, never a value), and not for overridden secrets", () => {
    const requests = moto.requests().filter((r) => r.service === "secretsmanager");
    expect(new Set(requests.map((r) => r.operation))).toEqual(new Set(["DescribeSecret"]));
    expect(requests.map((r) => (JSON.parse(r.body) as { SecretId: string }).SecretId).sort()).toEqual([
      "freight/database-partner-role",
      "freight/database-runner-role",
      "freight/database-service-role",
      "freight/llm-provider-api-key",
      "freight/ops-webhook-url",
    ]);
    for (const r of requests) {
      expect(r.headers["authorization"]).toMatch(
        new RegExp(
          `^AWS4-HMAC-SHA256 Credential=${moto.credentials.accessKeyId}/\\d{8}/us-east-1/secretsmanager/aws4_request`,
        ),
      );
    }
  });

  it("keeps the last known date when a read is refused, names the permission, and picks up a rotation", async () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "g", help: "h", labelNames: ["secret"], registers: [registry] });
    const warnings: string[] = [];
    const watch = watchSecretRotation({
      client: secretsManagerClient({ region: "us-east-1", endpoint: moto.endpoint }),
      secrets: [{ label: "llm-provider-api-key", secretId: "freight/llm-provider-api-key" }],
      overrides: new Map(),
      ledger: new RotationLedger(gauge),
      intervalMs: 3_600_000,
      log: { info: () => {}, warn: (_obj, msg) => warnings.push(msg) },
    });
    try {
      expect(await watch.refresh()).toEqual([]);
      expect((await gauge.get()).values[0]?.value).toBe(dates.get(LLM)!.rotated);
      await nextSecond();
      await aws.send(new RotateSecretCommand({ SecretId: LLM }));
      const rotated = (await describeDates(LLM)).rotated!;
      expect(rotated).toBeGreaterThan(dates.get(LLM)!.rotated!);
      expect(await watch.refresh()).toEqual([]);
      expect((await gauge.get()).values[0]?.value).toBe(rotated);

      // The pod's role loses secretsmanager:DescribeSecret: IAM refuses the read.
      await moto.putUserPolicy(moto.user, [
        ...ALLOW_ALL,
        { Effect: "Deny", Action: "secretsmanager:DescribeSecret", Resource: "*" },
      ]);
      expect(await watch.refresh()).toEqual(["llm-provider-api-key"]);
      expect((await gauge.get()).values[0]?.value).toBe(rotated);
      expect(warnings.at(-1)).toContain("secretsmanager:DescribeSecret");
      expect(warnings.at(-1)).toContain("freight/llm-provider-api-key");
    } finally {
      watch.stop();
      await moto.putUserPolicy(moto.user, ALLOW_ALL);
    }
  });
});

describe("readiness against the rotation windows", () => {
  it("reads degraded (still 200) on /readyz within 7 days of a deadline", async () => {
    await rotationSamples(t.url, 5);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe("degraded");
    expect(body.checks.database).toBe("ok");
    const deadline = new Date(workflowRotated.getTime() + 30 * DAY).toISOString();
    expect(body.checks.secrets).toContain(`workflow-automation-api-key due by ${deadline} (30-day window)`);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^readiness_degraded\{check="secret-rotation"\} 1$/m);
  });

  it("takes the window from the store's class tag over the label's guess", async () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "p", help: "h", labelNames: ["secret"], registers: [registry] });
    const ledger = new RotationLedger(gauge);
    const watch = watchSecretRotation({
      client: secretsManagerClient({ region: "us-east-1", endpoint: moto.endpoint }),
      secrets: [{ label: "database-partner-role", secretId: PARTNER }],
      overrides: new Map(),
      ledger,
      intervalMs: 3_600_000,
      log: { info: () => {}, warn: () => {} },
    });
    try {
      expect(await watch.refresh()).toEqual([]);
      const created = dates.get(PARTNER)!.created * 1000;
      // 24 days on, a 90-day service role would be far from due; the tag's 30 days make it due in 6.
      const later = ledger.readiness(new Date(created + 24 * DAY));
      expect(later.degraded).toBe(true);
      expect(later.detail).toBe(
        `rotate: database-partner-role due by ${new Date(created + 30 * DAY).toISOString()} (30-day window)`,
      );
    } finally {
      watch.stop();
    }
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
