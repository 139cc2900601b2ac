import { describe, expect, it } from "vitest";
import { UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import { RECORD_TYPE, route53FailoverHealthCheck } from "./route53.ts";

const FAILOVER = {
  name: "failover.api.freightrate.example",
  type: "CNAME",
  zoneId: "Z0123456789ABCDEFGHIJ",
  setIdentifier: "us-east-1-primary",
  failoverRoutingPolicies: [{ type: "PRIMARY" }],
  records: ["us-east-1.api.freightrate.example"],
};

describe("route53-failover-health-check", () => {
  it("passes a failover record with a health check, and plain records without one", async () => {
    const ok = res(RECORD_TYPE, "dns-failover", { ...FAILOVER, healthCheckId: "f5428db0" });
    const plain = res(RECORD_TYPE, "dns-regional", { name: "us-east-1.api", type: "CNAME", records: ["lb"] });
    expect(summary(await check(plan([ok, plain]), route53FailoverHealthCheck))).toEqual([]);
  });

  it("flags a failover record without a health check, naming its failover type", async () => {
    const report = await check(
      plan([
        res(RECORD_TYPE, "dns-failover", { ...FAILOVER, failoverRoutingPolicies: [{ type: "SECONDARY" }] }),
      ]),
      route53FailoverHealthCheck,
    );
    expect(summary(report)).toEqual(["route53-failover-health-check: dns-failover"]);
    expect(report.violations[0]?.message).toContain("is a SECONDARY failover record without a health check");
    expect(report.violations[0]?.remediation).toContain("set healthCheckId");
  });

  it("treats a health check created in the same preview (unknown id) as attached", async () => {
    const pending = res(RECORD_TYPE, "dns-failover", { ...FAILOVER, healthCheckId: UNKNOWN_STRING });
    expect(summary(await check(plan([pending]), route53FailoverHealthCheck))).toEqual([]);
  });
});
