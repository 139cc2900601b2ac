// What a process says at start about its optional capabilities: every one listed once, and a warning
// naming the setting that turns it on for each that is off (and none for those that are on).
import { describe, expect, it } from "vitest";
import {
  operatorCapabilities,
  quoteApiCapabilities,
  reportCapabilities,
  runnerCapabilities,
  type Capability,
} from "./capabilities.ts";

function report(capabilities: Capability[]) {
  const info: unknown[][] = [];
  const warn: unknown[][] = [];
  reportCapabilities(
    { info: (...args: unknown[]) => info.push(args), warn: (...args: unknown[]) => warn.push(args) } as never,
    capabilities,
  );
  return { info, warnings: warn.map((args) => String(args[1])) };
}

describe("capabilities at start", () => {
  it("warns once per capability that is off, naming what turns it on", () => {
    const { info, warnings } = report(quoteApiCapabilities({ BILLING: "off" }));
    expect(info).toHaveLength(1);
    expect(info[0]![0]).toEqual({
      capabilities: {
        billing: "off",
        "standby redirect": "off",
        "secret rotation dates": "off",
        "ops queries": "off",
        "request rate limits": "off",
      },
    });
    expect(warnings).toHaveLength(5);
    expect(warnings[0]).toMatch(/^billing is off: BILLING=off.*set BILLING=on with STRIPE_SECRET_KEY/);
    expect(warnings[1]).toMatch(/^standby redirect is off: REGION_PEER_URL is not set/);
    expect(warnings[4]).toMatch(/^request rate limits is off: RATE_LIMITING=off.*set RATE_LIMITING=on/);
  });

  it("says nothing more when everything the stacks deploy is on", () => {
    const api = report(
      quoteApiCapabilities({
        BILLING: "on",
        REGION_PEER_URL: "https://us-west-2.api.example.com",
        SECRETS_ROTATION_WATCH: "a=freight/a",
        OPS_DATABASE_URL: "postgres://freight_ops@replica/freight",
        RATE_LIMITING: "on",
      }),
    );
    expect(api.warnings).toEqual([]);
    const runner = report(
      runnerCapabilities({
        SMTP_URL: "smtps://u:p@mail:465",
        OPS_WEBHOOK_URL: "https://hooks",
        WORKFLOW_AUTOMATION_URL: "https://automation/webhook",
      }),
    );
    expect(runner.warnings).toEqual([]);
    expect(report(operatorCapabilities(true)).warnings).toEqual([]);
  });

  it("names the runner's and the operators' capabilities that are off", () => {
    expect(report(runnerCapabilities({})).warnings).toEqual([
      expect.stringMatching(/^billing notices by email is off: SMTP_URL is not set.*billing_alert/),
      expect.stringMatching(/^ops webhook is off: OPS_WEBHOOK_URL is not set/),
      expect.stringMatching(/^workflow automation is off: WORKFLOW_AUTOMATION_URL is not set/),
    ]);
    expect(report(operatorCapabilities(false)).warnings).toEqual([
      expect.stringMatching(/^failover controller is off: no FAILOVER_\* settings/),
    ]);
  });
});
