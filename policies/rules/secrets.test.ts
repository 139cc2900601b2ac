import { describe, expect, it } from "vitest";
import type { PlanResource } from "../offline.ts";
import { UNKNOWN_NUMBER, check, plan, res, summary } from "../testing.ts";
import { ROTATION_TYPE, SECRET_TYPE, longestIntervalDays, secretsRotation } from "./secrets.ts";

function secretWithRotation(
  name: string,
  rotationRules: Record<string, unknown> | null,
  tags?: Record<string, string>,
): PlanResource[] {
  const secret = res(SECRET_TYPE, `secrets-${name}`, { name: `freight/${name}`, ...(tags ? { tags } : {}) });
  if (!rotationRules) return [secret];
  return [secret, res(ROTATION_TYPE, `secrets-${name}`, { secretId: `freight/${name}`, rotationRules })];
}

describe("secrets-rotation-window", () => {
  it("passes third-party keys rotating every 30 days and the service role every 90", async () => {
    const resources = [
      ...secretWithRotation("llm-provider-api-key", { automaticallyAfterDays: 30 }),
      ...secretWithRotation("workflow-automation-api-key", { scheduleExpression: "rate(14 days)" }),
      ...secretWithRotation("database-service-role", { automaticallyAfterDays: 90 }),
    ];
    expect(summary(await check(plan(resources), secretsRotation))).toEqual([]);
  });

  it("flags a key rotating every 365 days and a secret without rotation", async () => {
    const resources = [
      ...secretWithRotation("llm-provider-api-key", { automaticallyAfterDays: 365 }),
      ...secretWithRotation("database-service-role", null),
    ];
    const report = await check(plan(resources), secretsRotation);
    expect(report.violations.map((v) => v.message)).toEqual([
      expect.stringContaining("is a third-party-api-key rotating every 365 days; the limit is 30 days"),
      expect.stringContaining(
        "is a service-role with no rotation schedule; it must rotate at least every 90 days",
      ),
    ]);
  });

  it("classifies by the secret-class tag first, and gives unclassified secrets the strictest window", async () => {
    const tagged = secretWithRotation(
      "stripe",
      { automaticallyAfterDays: 60 },
      { "secret-class": "service-role" },
    );
    expect(summary(await check(plan(tagged), secretsRotation))).toEqual([]);
    const unclassified = secretWithRotation("misc", { automaticallyAfterDays: 60 });
    const report = await check(plan(unclassified), secretsRotation);
    expect(report.violations[0]?.message).toContain(
      "unclassified secret (no secret-class tag) rotating every 60 days",
    );
    expect(report.violations[0]?.remediation).toContain("tag the secret secret-class=service-role");
  });

  it("reads cron schedules conservatively (monthly on the 1st can wait 31 days)", async () => {
    const monthly = secretWithRotation("llm-provider-api-key", { scheduleExpression: "cron(0 4 1 * ? *)" });
    expect((await check(plan(monthly), secretsRotation)).violations[0]?.message).toContain(
      "rotating every 31 days",
    );
    const twiceMonthly = secretWithRotation("llm-provider-api-key", {
      scheduleExpression: "cron(0 4 1,15 * ? *)",
    });
    expect(summary(await check(plan(twiceMonthly), secretsRotation))).toEqual([]);
  });

  it("uses the windows a team configures", async () => {
    const resources = secretWithRotation("database-service-role", { automaticallyAfterDays: 90 });
    const report = await check(plan(resources), secretsRotation, {
      config: { "secrets-rotation-window": { serviceRoleMaxDays: 60 } },
    });
    expect(report.violations[0]?.message).toContain("rotating every 90 days; the limit is 60 days");
  });

  it("does not decide on an unknown rotation interval", async () => {
    const pending = secretWithRotation("llm-provider-api-key", { automaticallyAfterDays: UNKNOWN_NUMBER });
    expect(summary(await check(plan(pending), secretsRotation))).toEqual([]);
  });
});

describe("longestIntervalDays", () => {
  it.each([
    ["rate(30 days)", 30],
    ["rate(1 day)", 1],
    ["rate(48 hours)", 2],
    ["cron(0 4 * * ? *)", 1],
    ["cron(0 4 ? * MON *)", 7],
    ["cron(0 4 ? * MON-FRI *)", 3],
    ["cron(0 4 ? * 2 *)", 7],
    ["cron(0 4 ? * 2,5 *)", 4],
    ["cron(0 4 1 * ? *)", 31],
    ["cron(0 4 1 1,7 ? *)", 186],
    ["every month", undefined],
  ])("%s -> %s", (expression, days) => {
    expect(longestIntervalDays(expression)).toBe(days);
  });
});
