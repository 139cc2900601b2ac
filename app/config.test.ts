import { describe, expect, it } from "vitest";
import { parseAppConfig } from "./config.ts";
import { ConfigError } from "./env.ts";

describe("configuration", () => {
  it("applies documented defaults", () => {
    const config = parseAppConfig({ DATABASE_URL: "postgres://u:p@localhost/freight" });
    expect(config.PORT).toBe(8080);
    expect(config.REGION_ACTIVE).toBe("primary");
    expect(config.METERING).toBe("on");
    expect(config.publicBaseUrl).toBe("http://localhost:8080");
  });

  it("lists every bad variable in one error", () => {
    let error: unknown;
    try {
      parseAppConfig({ PORT: "eighty", REGION_ROLE: "tertiary", METERING: "maybe" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toMatch(
      /^DATABASE_URL_FILE: is required: the path of a file holding DATABASE_URL \(the app role's connection URL, e\.g\. postgres:\/\/.*\); for local development DATABASE_URL itself may hold the value$/m,
    );
    expect(problems).toMatch(/^PORT: must be a number$/m);
    expect(problems).toMatch(/^REGION_ROLE: must be one of primary, secondary$/m);
    expect(problems).toMatch(/^METERING: must be one of on, off$/m);
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it("checks SECRETS_LAST_ROTATED timestamps at start, not when the rotation gauge is first set", () => {
    expect(() =>
      parseAppConfig({
        DATABASE_URL: "postgres://u:p@localhost/freight",
        SECRETS_LAST_ROTATED: "llm-provider=2026-11-01T00:00:00Z,service-role=last-tuesday",
      }),
    ).toThrow(/SECRETS_LAST_ROTATED: service-role: 'last-tuesday' is not a timestamp; use ISO 8601/);
  });

  it("rejects a non-postgres database URL", () => {
    expect(() => parseAppConfig({ DATABASE_URL: "mysql://x" })).toThrow(
      /DATABASE_URL: must be a postgres:\/\/ URL/,
    );
  });

  it("needs the region when secret rotation dates are read from Secrets Manager", () => {
    const watch = "llm-provider-api-key=freight/llm-provider-api-key";
    expect(() => parseAppConfig({ DATABASE_URL: "postgres://u@h/f", SECRETS_ROTATION_WATCH: watch })).toThrow(
      /AWS_REGION: is required when SECRETS_ROTATION_WATCH is set/,
    );
    expect(() =>
      parseAppConfig({
        DATABASE_URL: "postgres://u@h/f",
        SECRETS_ROTATION_WATCH: "llm provider",
        AWS_REGION: "us-east-1",
      }),
    ).toThrow(/SECRETS_ROTATION_WATCH: .*label=secret-name-or-ARN pairs/);
    expect(
      parseAppConfig({
        DATABASE_URL: "postgres://u@h/f",
        SECRETS_ROTATION_WATCH: watch,
        AWS_REGION: "us-east-1",
      }).SECRETS_ROTATION_REFRESH_SECONDS,
    ).toBe(3600);
  });

  it("asks for billing's secrets as files when BILLING=on", () => {
    let error: unknown;
    try {
      parseAppConfig({ DATABASE_URL: "postgres://u:p@localhost/freight", BILLING: "on" });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).variables).toEqual([
      "STRIPE_WEBHOOK_SECRET_FILE",
      "STRIPE_SECRET_KEY_FILE",
      "BILLING_DATABASE_URL_FILE",
    ]);
    expect((error as ConfigError).problems[0]).toBe(
      "STRIPE_WEBHOOK_SECRET_FILE: is required: the path of a file holding STRIPE_WEBHOOK_SECRET (when BILLING=on: the webhook endpoint's signing secret (whsec_...) from the Stripe dashboard; or set BILLING=off); for local development STRIPE_WEBHOOK_SECRET itself may hold the value",
    );
  });
});
