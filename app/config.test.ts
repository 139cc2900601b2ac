import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

describe("configuration", () => {
  it("applies documented defaults", () => {
    const config = loadConfig({ DATABASE_URL: "postgres://u:p@localhost/freight" });
    expect(config.PORT).toBe(8080);
    expect(config.REGION_ACTIVE).toBe("primary");
    expect(config.METERING).toBe("on");
    expect(config.publicBaseUrl).toBe("http://localhost:8080");
  });

  it("lists every bad variable in one error", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "eighty", REGION_ROLE: "tertiary", METERING: "maybe" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toMatch(/DATABASE_URL is required/);
    expect(problems).toMatch(/PORT/);
    expect(problems).toMatch(/REGION_ROLE/);
    expect(problems).toMatch(/METERING/);
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it("rejects a non-postgres database URL", () => {
    expect(() => loadConfig({ DATABASE_URL: "mysql://x" })).toThrow(
      /DATABASE_URL must be a postgres:\/\/ URL/,
    );
  });

  it("needs the region when secret rotation dates are read from Secrets Manager", () => {
    const watch = "llm-provider-api-key=freight/llm-provider-api-key";
    expect(() => loadConfig({ DATABASE_URL: "postgres://u@h/f", SECRETS_ROTATION_WATCH: watch })).toThrow(
      /AWS_REGION is required when SECRETS_ROTATION_WATCH is set/,
    );
    expect(() =>
      loadConfig({
        DATABASE_URL: "postgres://u@h/f",
        SECRETS_ROTATION_WATCH: "llm provider",
        AWS_REGION: "us-east-1",
      }),
    ).toThrow(/SECRETS_ROTATION_WATCH must be label=secret-name-or-ARN pairs/);
    expect(
      loadConfig({ DATABASE_URL: "postgres://u@h/f", SECRETS_ROTATION_WATCH: watch, AWS_REGION: "us-east-1" })
        .SECRETS_ROTATION_REFRESH_SECONDS,
    ).toBe(3600);
  });
});
