import { describe, expect, it } from "vitest";
import { parseManagerConfig, parseOperatorConfig } from "./config.ts";

describe("operator configuration", () => {
  it("applies documented defaults: probes on 8081, leader election in freight-system", () => {
    const config = parseOperatorConfig({
      DATABASE_URL: "postgres://freight_operator:x@db/freight",
      POD_NAME: "op-0",
    });
    expect(config).toMatchObject({
      PROBE_PORT: 8081,
      LEADER_ELECT: true,
      LEADER_ELECTION_NAMESPACE: "freight-system",
      LEADER_ELECTION_LEASE: "freight-operators-leader",
      USAGE_REFRESH_SECONDS: 60,
      PRICING_NAMESPACE: "freight-system",
      PRICING_ANALYSIS_SECONDS: 60,
      TENANT_SWEEP_SECONDS: 300,
      identity: "op-0",
    });
  });

  it("refuses a pricing analysis interval that is not a positive number of seconds", () => {
    expect(() =>
      parseOperatorConfig({ DATABASE_URL: "postgres://x@db/freight", PRICING_ANALYSIS_SECONDS: "0" }),
    ).toThrow(/PRICING_ANALYSIS_SECONDS: /);
  });

  it("refuses a tenant sweep interval that is not a positive number of seconds", () => {
    for (const bad of ["0", "-5", "often"])
      expect(() =>
        parseOperatorConfig({ DATABASE_URL: "postgres://x@db/freight", TENANT_SWEEP_SECONDS: bad }),
      ).toThrow(/TENANT_SWEEP_SECONDS: /);
    expect(
      parseOperatorConfig({ DATABASE_URL: "postgres://x@db/freight", TENANT_SWEEP_SECONDS: "30" })
        .TENANT_SWEEP_SECONDS,
    ).toBe(30);
  });

  it("reports every bad key at once, saying what is expected", () => {
    expect(() => parseOperatorConfig({ PROBE_PORT: "http", LEADER_ELECT: "yes" })).toThrow(
      /DATABASE_URL_FILE: is required: the path of a file holding DATABASE_URL \(the app database as the freight_operator role[\s\S]*PROBE_PORT: must be a number[\s\S]*LEADER_ELECT: must be one of true, false/,
    );
    expect(() => parseOperatorConfig({ DATABASE_URL: "mysql://x" })).toThrow(
      "DATABASE_URL: must be a postgres:// URL",
    );
  });

  it("checks the failover controller's variables with the manager's, where FAILOVER_* is set", () => {
    const manager = { DATABASE_URL: "postgres://freight_operator:x@db/freight", POD_NAME: "op-0" };
    expect(parseManagerConfig(manager).failover).toBeUndefined();
    expect(() =>
      parseManagerConfig({ PROBE_PORT: "http", FAILOVER_PRIMARY_HEALTH_URL: "http://api-use1/readyz" }),
    ).toThrow(
      /Invalid operator manager configuration \(\d+ problems\):\n[\s\S]*DATABASE_URL_FILE: is required[\s\S]*PROBE_PORT: must be a number[\s\S]*FAILOVER_SECONDARY_HEALTH_URL: must be/,
    );
  });
});
