// The DNS health check signal through the real Route 53 SDK: GetHealthCheckStatus of a health check
// moto holds, answered by the local health checkers (tools/fakes/route53-health-checkers.ts) from
// what they saw probing a real HTTP endpoint, every other Route 53 request going to moto.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CreateHealthCheckCommand,
  GetHealthCheckCommand,
  GetHealthCheckStatusCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMoto, type MotoServer } from "../../../tools/aws/moto.ts";
import { CHECKER_REGIONS, LocalHealthCheckers } from "../../../tools/fakes/route53-health-checkers.ts";
import { DnsHealthCheckSignal } from "./signals.ts";

/** A region's /readyz whose answer the test sets. */
let readyStatus = 200;
let endpoint: Server;
let moto: MotoServer;
let checkers: LocalHealthCheckers;
let route53: Route53Client;
let checkId: string;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    last = await probe();
    if (last !== undefined) return last as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  endpoint = createServer((_req, res) => {
    res.writeHead(readyStatus, { "content-type": "text/plain" });
    res.end(readyStatus === 200 ? "ready" : "not ready");
  });
  await new Promise<void>((resolve) => endpoint.listen(0, "127.0.0.1", resolve));
  moto = await startMoto();
  checkers = new LocalHealthCheckers(moto.endpoint, { intervalMs: 200 });
  await checkers.start();
  route53 = new Route53Client({
    region: "us-east-1",
    endpoint: checkers.url,
    credentials: moto.credentials,
    maxAttempts: 1,
  });
  // Created through the stand-in: everything but the status goes to moto.
  const created = await route53.send(
    new CreateHealthCheckCommand({
      CallerReference: "us-east-1-readyz",
      HealthCheckConfig: {
        Type: "HTTPS",
        FullyQualifiedDomainName: "us-east-1.api.freight.example.com",
        Port: 443,
        ResourcePath: "/readyz",
        RequestInterval: 10,
        FailureThreshold: 3,
      },
    }),
  );
  checkId = created.HealthCheck!.Id!;
  checkers.watch(checkId, { url: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/readyz` });
}, 60_000);

afterAll(async () => {
  route53?.destroy();
  await checkers?.stop();
  await moto?.stop();
  endpoint?.close();
});

describe("the DNS health check signal", () => {
  it("passes every other Route 53 request to moto: the health check's definition is moto's", async () => {
    const got = await route53.send(new GetHealthCheckCommand({ HealthCheckId: checkId }));
    expect(got.HealthCheck?.HealthCheckConfig).toMatchObject({
      FullyQualifiedDomainName: "us-east-1.api.freight.example.com",
      ResourcePath: "/readyz",
    });
  });

  it("is healthy while the checkers see the endpoint answer, and failing once they see it fail", async () => {
    const signal = new DnsHealthCheckSignal(route53, { primary: checkId });
    readyStatus = 200;
    const fine = await until("the checkers to see the endpoint healthy", async () => {
      const r = await signal.reading("primary");
      return r.detail ===
        `${CHECKER_REGIONS.length}/${CHECKER_REGIONS.length} Route 53 checkers see it healthy`
        ? r
        : undefined;
    });
    expect(fine).toMatchObject({ signal: "dnsHealthCheck", healthy: true });

    readyStatus = 503;
    const failing = await until("the checkers to see the endpoint fail", async () => {
      const r = await signal.reading("primary");
      return r.healthy ? undefined : r;
    });
    expect(failing.detail).toMatch(
      /^0\/3 Route 53 checkers see it healthy; [a-z]+-[a-z]+-\d: Failure: HTTP Status Code 503/,
    );

    // The raw answer is Route 53's: one observation per checker region, each its latest probe.
    const raw = await route53.send(new GetHealthCheckStatusCommand({ HealthCheckId: checkId }));
    expect(raw.HealthCheckObservations?.map((o) => o.Region).sort()).toEqual([...CHECKER_REGIONS].sort());
    expect(raw.HealthCheckObservations?.every((o) => o.StatusReport?.CheckedTime instanceof Date)).toBe(true);
    readyStatus = 200;
  });

  it("does not count a status it cannot read as a loss, and says why", async () => {
    const unknown = new DnsHealthCheckSignal(route53, { primary: "00000000-0000-0000-0000-000000000000" });
    const reading = await unknown.reading("primary");
    expect(reading.healthy).toBe(true);
    expect(reading.detail).toMatch(
      /^unknown, not counted as failing: GetHealthCheckStatus 0{8}-.* failed \(NoSuchHealthCheck/,
    );

    // A caller without a valid key is refused by moto, not answered by the checkers.
    const forged = new Route53Client({
      region: "us-east-1",
      endpoint: checkers.url,
      credentials: { accessKeyId: moto.credentials.accessKeyId, secretAccessKey: "wrong" },
      maxAttempts: 1,
    });
    const answered = checkers.statusRequests;
    const refused = await new DnsHealthCheckSignal(forged, { primary: checkId }).reading("primary");
    forged.destroy();
    expect(refused.healthy).toBe(true);
    expect(refused.detail).toMatch(/^unknown, not counted as failing: GetHealthCheckStatus .* failed/);
    expect(checkers.statusRequests).toBe(answered);
  });
});
