import { describe, expect, it } from "vitest";
import { failoverEnabled, parseFailoverConfig } from "./config.ts";

const base = {
  FAILOVER_PRIMARY_HEALTH_URL: "http://api-use1.internal/readyz",
  FAILOVER_SECONDARY_HEALTH_URL: "http://api-usw2.internal/readyz",
  FAILOVER_PRIMARY_DB_ADMIN_URL: "postgres://failover@db-use1/freight",
  FAILOVER_SECONDARY_DB_ADMIN_URL: "postgres://failover@db-usw2/freight",
  FAILOVER_PRIMARY_DB_OPERATOR_URL: "postgres://freight_operator@db-use1/freight",
  FAILOVER_SECONDARY_DB_OPERATOR_URL: "postgres://freight_operator@db-usw2/freight",
};

describe("failover configuration", () => {
  it("is off unless the primary's health URL is set", () => {
    expect(failoverEnabled({})).toBe(false);
    expect(failoverEnabled(base)).toBe(true);
  });

  it("defaults to the local PostgreSQL and routing-row drivers", () => {
    expect(parseFailoverConfig(base)).toMatchObject({
      FAILOVER_DATABASE_DRIVER: "postgres",
      FAILOVER_TRAFFIC_DRIVER: "routing-row",
      FAILOVER_HEALTH_SAMPLES: 5,
    });
  });

  it("lists every missing or malformed setting at once", () => {
    expect(() =>
      parseFailoverConfig({
        FAILOVER_PRIMARY_HEALTH_URL: "not a url",
        FAILOVER_SECONDARY_DB_ADMIN_URL: "mysql://x",
      }),
    ).toThrow(
      /FAILOVER_PRIMARY_HEALTH_URL: must be[\s\S]*FAILOVER_SECONDARY_HEALTH_URL[\s\S]*FAILOVER_SECONDARY_DB_ADMIN_URL: must be a postgres:\/\/ URL/,
    );
  });

  it("asks for what the AWS drivers need when they are chosen", () => {
    expect(() =>
      parseFailoverConfig({
        ...base,
        FAILOVER_DATABASE_DRIVER: "rds",
        FAILOVER_TRAFFIC_DRIVER: "routing-row+route53",
        RDS_PRIMARY_INSTANCE: "us-east-1:freight-prod-primary",
      }),
    ).toThrow(
      /RDS_SECONDARY_INSTANCE: is required with FAILOVER_DATABASE_DRIVER=rds[\s\S]*ROUTE53_HOSTED_ZONE_ID: is required/,
    );
    expect(() =>
      parseFailoverConfig({ ...base, FAILOVER_DATABASE_DRIVER: "rds", RDS_PRIMARY_INSTANCE: "freight" }),
    ).toThrow(/RDS_PRIMARY_INSTANCE: must be <aws-region>:<DBInstanceIdentifier>/);
  });

  it("takes each region's Route 53 health check id for the DNS signal, and names a malformed one", () => {
    const id = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
    expect(parseFailoverConfig({ ...base, ROUTE53_PRIMARY_HEALTH_CHECK_ID: id })).toMatchObject({
      ROUTE53_PRIMARY_HEALTH_CHECK_ID: id,
    });
    expect(() =>
      parseFailoverConfig({ ...base, ROUTE53_SECONDARY_HEALTH_CHECK_ID: "arn:aws:route53:::healthcheck/x" }),
    ).toThrow(
      /ROUTE53_SECONDARY_HEALTH_CHECK_ID: must be a Route 53 health check id \(a UUID, the stack output healthCheckId\)/,
    );
  });
});
