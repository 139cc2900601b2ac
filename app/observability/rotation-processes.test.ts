// The runner and the operators check the secrets they use as the quote API does (secret-rotation.ts):
// rotation dates read with DescribeSecret from moto's Secrets Manager (signatures checked) or given
// as overrides, each against its window; within 7 days of a deadline /readyz says "degraded" while
// the process keeps serving, and readiness_degraded{check="secret-rotation"} (the page alert's series)
// moves. The runner in this process, the operators' manager as a real child process.
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startMoto, type MotoServer } from "../../tools/aws/moto.ts";
import { startTestRunner } from "../../tools/platform/runner.ts";
import {
  startOperator,
  startOperatorPlatform,
  waitFor,
  type OperatorPlatform,
} from "../../tools/platform/operators.ts";
import type { RunningRunner } from "../runner/main.ts";

let moto: MotoServer;
let aws: SecretsManagerClient;
let platform: OperatorPlatform;
const created = new Map<string, number>();

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Math.floor((Date.now() - days * DAY) / 1000) * 1000);

beforeAll(async () => {
  [moto, platform] = await Promise.all([startMoto(), startOperatorPlatform("rotation")]);
  aws = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: moto.endpoint,
    credentials: moto.credentials,
  });
  vi.stubEnv("AWS_ACCESS_KEY_ID", moto.credentials.accessKeyId);
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", moto.credentials.secretAccessKey);
  for (const [name, secretClass] of [
    ["freight/database-runner-role", "service-role"],
    ["freight/database-operator-role", "service-role"],
    ["freight/llm-provider-api-key", "third-party-api-key"],
    ["freight/ops-webhook-url", "third-party-api-key"],
  ] as const) {
    await aws.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: "v",
        Tags: [{ Key: "secret-class", Value: secretClass }],
      }),
    );
    const described = await aws.send(new DescribeSecretCommand({ SecretId: name }));
    created.set(name.replace("freight/", ""), described.CreatedDate!.getTime() / 1000);
  }
}, 300_000);

afterAll(async () => {
  aws?.destroy();
  await platform?.stop();
  await moto?.stop();
  vi.unstubAllEnvs();
});

const storeEnv = () => ({ AWS_REGION: "us-east-1", AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint });

function sample(metrics: string, name: string, labels: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("secret rotation checked at run time by the runner and the operators", () => {
  it("runner: ready while its secrets are inside their windows, degraded (still serving) within 7 days", async () => {
    const watch =
      "database-runner-role=freight/database-runner-role,llm-provider-api-key=freight/llm-provider-api-key";
    let runner: RunningRunner | undefined;
    try {
      runner = await startTestRunner(platform.db.urls.runner, {
        ...storeEnv(),
        SECRETS_ROTATION_WATCH: watch,
      });
      const fresh = runner;
      // Both dates come from the store: just created, so far from their deadlines.
      const metrics = await waitFor("the runner's rotation dates", async () => {
        const text = await (await fetch(`${fresh.url}/metrics`)).text();
        return sample(text, "secret_last_rotated_timestamp_seconds", 'secret="llm-provider-api-key"') !==
          undefined &&
          sample(text, "secret_last_rotated_timestamp_seconds", 'secret="database-runner-role"') !== undefined
          ? text
          : undefined;
      });
      expect(sample(metrics, "secret_last_rotated_timestamp_seconds", 'secret="database-runner-role"')).toBe(
        created.get("database-runner-role"),
      );
      expect(sample(metrics, "readiness_degraded", 'check="secret-rotation"')).toBe(0);
      const ready = await fetch(`${fresh.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: "ok",
        checks: { secrets: "2 within their rotation windows" },
      });
    } finally {
      await runner?.stop();
    }

    // The LLM key (30-day window, by its store tag) last rotated 25 days ago: 5 days left.
    try {
      runner = await startTestRunner(platform.db.urls.runner, {
        ...storeEnv(),
        SECRETS_ROTATION_WATCH: watch,
        SECRETS_LAST_ROTATED: `llm-provider-api-key=${daysAgo(25).toISOString()}`,
      });
      const readyz = await fetch(`${runner.url}/readyz`);
      expect(readyz.status).toBe(200);
      const body = (await readyz.json()) as { status: string; checks: { secrets: string } };
      expect(body.status).toBe("degraded");
      expect(body.checks.secrets).toMatch(/^rotate: llm-provider-api-key due by \S+ \(30-day window\)$/);
      const metrics = await (await fetch(`${runner.url}/metrics`)).text();
      expect(sample(metrics, "readiness_degraded", 'check="secret-rotation"')).toBe(1);
    } finally {
      await runner?.stop();
    }
  });

  it("operators: the manager's /readyz says degraded and its metric moves, while it keeps leading", async () => {
    const operator = await startOperator({
      kubeconfigPath: platform.cluster.kubeconfigPath,
      databaseUrl: platform.db.urls.operator,
      env: {
        ...storeEnv(),
        SECRETS_ROTATION_WATCH:
          "database-operator-role=freight/database-operator-role,ops-webhook-url=freight/ops-webhook-url",
        // Past its deadline: the 30-day window ended 5 days ago.
        SECRETS_LAST_ROTATED: `ops-webhook-url=${daysAgo(35).toISOString()}`,
      },
    });
    try {
      const readyz = await waitFor("the manager to lead", async () => {
        const res = await fetch(`${operator.probeUrl}/readyz`);
        const text = await res.text();
        return res.status === 200 && text.includes("leading") ? text : undefined;
      });
      expect(readyz).toMatch(
        /^degraded \(leading\): rotate: ops-webhook-url overdue since \S+ \(30-day window\)\n$/,
      );
      const metrics = await waitFor("the operator role's date from the store", async () => {
        const text = await (await fetch(`${operator.probeUrl}/metrics`)).text();
        return sample(text, "secret_last_rotated_timestamp_seconds", 'secret="database-operator-role"') !==
          undefined
          ? text
          : undefined;
      });
      expect(
        sample(metrics, "secret_last_rotated_timestamp_seconds", 'secret="database-operator-role"'),
      ).toBe(created.get("database-operator-role"));
      expect(sample(metrics, "readiness_degraded", 'check="secret-rotation"')).toBe(1);
    } finally {
      await operator.stop();
    }
  });

  it("refuses a bad rotation setting at start, naming the variable and the fix", async () => {
    const { parseRunnerConfig } = await import("../runner/config.ts");
    const { parseOperatorConfig } = await import("../../operators/config.ts");
    for (const [parse, url] of [
      [parseRunnerConfig, "postgres://freight_runner@db/freight"],
      [parseOperatorConfig, "postgres://freight_operator@db/freight"],
    ] as const) {
      expect(() =>
        parse({
          DATABASE_URL: url,
          SECRETS_ROTATION_WATCH: "llm-provider-api-key=freight/llm-provider-api-key",
        }),
      ).toThrow(/AWS_REGION: is required when SECRETS_ROTATION_WATCH is set/);
      expect(() =>
        parse({ DATABASE_URL: url, SECRETS_LAST_ROTATED: "ops-webhook-url=last-tuesday" }),
      ).toThrow(/SECRETS_LAST_ROTATED: ops-webhook-url: 'last-tuesday' is not a timestamp; use ISO 8601/);
    }
  });
});
