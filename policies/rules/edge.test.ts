import { describe, expect, it } from "vitest";
import type { PlanResource } from "../offline.ts";
import { UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import {
  DISTRIBUTION_TYPE,
  FUNCTION_TYPE,
  cloudfrontAccessLogs,
  cloudfrontEdgeFunctionIdentical,
  cloudfrontTls12,
  edgeRules,
} from "./edge.ts";

const ACCOUNT = "123456789012";
const CODE = "async function handler(event) { return event.request; }\n";
const arnOf = (name: string) => `arn:aws:cloudfront::${ACCOUNT}:function/${name}`;

function edgeFunction(name: string, code = CODE, logical = name): PlanResource {
  return res(FUNCTION_TYPE, logical, {
    name,
    runtime: "cloudfront-js-2.0",
    code,
    publish: true,
    arn: arnOf(name),
  });
}

const viewerRequest = (functionArn: string) => [{ eventType: "viewer-request", functionArn }];

/** Shaped like infra/edge's distribution: a default behaviour and read-only paths on the origin group. */
function distribution(overrides: Record<string, unknown> = {}, name = "edge-distribution"): PlanResource {
  const fn = viewerRequest(arnOf("freight-edge-viewer-request"));
  return res(DISTRIBUTION_TYPE, name, {
    enabled: true,
    aliases: ["edge.api.freightrate.example"],
    defaultCacheBehavior: {
      targetOriginId: "api-primary",
      viewerProtocolPolicy: "https-only",
      functionAssociations: fn,
    },
    orderedCacheBehaviors: [
      {
        pathPattern: "/v1/locations*",
        targetOriginId: "api-failover",
        viewerProtocolPolicy: "https-only",
        functionAssociations: fn,
      },
      {
        pathPattern: "/v1/usage*",
        targetOriginId: "api-failover",
        viewerProtocolPolicy: "https-only",
        functionAssociations: fn,
      },
    ],
    viewerCertificate: {
      acmCertificateArn: `arn:aws:acm:us-east-1:${ACCOUNT}:certificate/0b5c`,
      sslSupportMethod: "sni-only",
      minimumProtocolVersion: "TLSv1.2_2021",
    },
    loggingConfig: { bucket: "freightrate-example-edge-logs.s3.amazonaws.com", prefix: "cloudfront/" },
    ...overrides,
  });
}

const ROLES = ["primary", "secondary"] as const;

describe("the edge rules on both stacks", () => {
  it.each(ROLES)(
    "pass the %s stack with one function on every behaviour, TLS 1.2+ and logs",
    async (role) => {
      const report = await check(
        plan([edgeFunction("freight-edge-viewer-request"), distribution()], { role }),
        edgeRules,
      );
      expect(summary(report)).toEqual([]);
    },
  );

  it.each(ROLES)("pass the %s stack without any distribution", async (role) => {
    expect(summary(await check(plan([], { role }), edgeRules))).toEqual([]);
  });
});

describe("cloudfront-edge-function-identical", () => {
  it.each(ROLES)(
    "flags a behaviour of the %s stack whose copy of the function runs other code, naming both hashes and the fix",
    async (role) => {
      const copy = edgeFunction("freight-edge-viewer-request-usage", `${CODE}// patched for /v1/usage\n`);
      const ordered = [
        {
          pathPattern: "/v1/locations*",
          viewerProtocolPolicy: "https-only",
          functionAssociations: viewerRequest(arnOf("freight-edge-viewer-request")),
        },
        {
          pathPattern: "/v1/usage*",
          viewerProtocolPolicy: "https-only",
          functionAssociations: viewerRequest(arnOf("freight-edge-viewer-request-usage")),
        },
      ];
      const report = await check(
        plan(
          [
            edgeFunction("freight-edge-viewer-request"),
            copy,
            distribution({ orderedCacheBehaviors: ordered }),
          ],
          {
            role,
          },
        ),
        cloudfrontEdgeFunctionIdentical,
      );
      expect(summary(report)).toEqual(["cloudfront-edge-function-identical: edge-distribution"]);
      const message = report.violations[0]!.message;
      expect(message).toContain(
        "behaviour /v1/usage* of edge-distribution runs viewer-request function freight-edge-viewer-request-usage (sha256:",
      );
      expect(message).toContain("behaviour default of edge-distribution runs freight-edge-viewer-request");
      expect(report.violations[0]!.remediation).toContain("remove freight-edge-viewer-request-usage");
    },
  );

  it("accepts two function resources with byte-identical code", async () => {
    const twin = edgeFunction("freight-edge-viewer-request-twin");
    const ordered = [
      {
        pathPattern: "/v1/usage*",
        viewerProtocolPolicy: "https-only",
        functionAssociations: viewerRequest(twin.props["arn"] as string),
      },
    ];
    const report = await check(
      plan([
        edgeFunction("freight-edge-viewer-request"),
        twin,
        distribution({ orderedCacheBehaviors: ordered }),
      ]),
      cloudfrontEdgeFunctionIdentical,
    );
    expect(summary(report)).toEqual([]);
  });

  it("compares code across distributions of one stack too", async () => {
    const other = edgeFunction("freight-edge-viewer-request-v2", `${CODE}// v2\n`);
    const fn = viewerRequest(arnOf("freight-edge-viewer-request-v2"));
    const second = distribution(
      {
        defaultCacheBehavior: { viewerProtocolPolicy: "https-only", functionAssociations: fn },
        orderedCacheBehaviors: [],
      },
      "edge-distribution-eu",
    );
    const report = await check(
      plan([edgeFunction("freight-edge-viewer-request"), other, distribution(), second]),
      cloudfrontEdgeFunctionIdentical,
    );
    expect(summary(report)).toEqual(["cloudfront-edge-function-identical: edge-distribution-eu"]);
  });

  it("flags a behaviour that skips the function the others run", async () => {
    const ordered = [
      {
        pathPattern: "/v1/locations*",
        viewerProtocolPolicy: "https-only",
        functionAssociations: viewerRequest(arnOf("freight-edge-viewer-request")),
      },
      { pathPattern: "/v1/usage*", viewerProtocolPolicy: "https-only" },
    ];
    const report = await check(
      plan([edgeFunction("freight-edge-viewer-request"), distribution({ orderedCacheBehaviors: ordered })], {
        role: "secondary",
      }),
      cloudfrontEdgeFunctionIdentical,
    );
    expect(summary(report)).toEqual(["cloudfront-edge-function-identical: edge-distribution"]);
    expect(report.violations[0]!.message).toContain(
      "behaviour /v1/usage* of edge-distribution runs no viewer-request function",
    );
    expect(report.violations[0]!.remediation).toContain('eventType: "viewer-request"');
  });

  it("follows the engine's dependencies when a new function's ARN is unknown during preview", async () => {
    const known = edgeFunction("freight-edge-viewer-request");
    const drifted = edgeFunction("freight-edge-viewer-request-b", `${CODE}// drift\n`);
    const urnOf = (f: PlanResource) => plan([f]).resources.find((r) => r.name === f.name)!.urn;
    const pending = viewerRequest(UNKNOWN_STRING);
    const preview = res(
      DISTRIBUTION_TYPE,
      "edge-distribution",
      {
        ...distribution().props,
        defaultCacheBehavior: { viewerProtocolPolicy: "https-only", functionAssociations: pending },
        orderedCacheBehaviors: [
          { pathPattern: "/v1/usage*", viewerProtocolPolicy: "https-only", functionAssociations: pending },
        ],
      },
      {
        propertyDependencies: {
          defaultCacheBehavior: [urnOf(known)],
          orderedCacheBehaviors: [urnOf(drifted)],
        },
      },
    );
    const report = await check(plan([known, drifted, preview]), cloudfrontEdgeFunctionIdentical);
    expect(summary(report)).toEqual(["cloudfront-edge-function-identical: edge-distribution"]);
  });
});

describe("cloudfront-tls-1-2", () => {
  it.each(ROLES)("flags a distribution of the %s stack that still allows TLS 1.0", async (role) => {
    const report = await check(
      plan(
        [
          distribution({
            viewerCertificate: {
              acmCertificateArn: "arn:aws:acm:us-east-1:1:certificate/x",
              sslSupportMethod: "sni-only",
              minimumProtocolVersion: "TLSv1",
            },
          }),
        ],
        { role },
      ),
      cloudfrontTls12,
    );
    expect(summary(report)).toEqual(["cloudfront-tls-1-2: edge-distribution"]);
    expect(report.violations[0]!.message).toContain(
      `edge-distribution (${DISTRIBUTION_TYPE}): allows viewers below TLS 1.2 (minimumProtocolVersion TLSv1)`,
    );
    expect(report.violations[0]!.remediation).toContain('minimumProtocolVersion: "TLSv1.2_2021"');
  });

  it("flags the default *.cloudfront.net certificate and a behaviour open to plain HTTP", async () => {
    const report = await check(
      plan([
        distribution({
          viewerCertificate: { cloudfrontDefaultCertificate: true },
          orderedCacheBehaviors: [{ pathPattern: "/v1/usage*", viewerProtocolPolicy: "allow-all" }],
        }),
      ]),
      cloudfrontTls12,
    );
    expect(report.violations.map((v) => v.message.split("\n")[0])).toEqual([
      `edge-distribution (${DISTRIBUTION_TYPE}): uses the *.cloudfront.net default certificate, which CloudFront serves with TLS 1.0 and 1.1 still allowed.`,
      `edge-distribution (${DISTRIBUTION_TYPE}): behaviour /v1/usage* accepts plain HTTP (viewerProtocolPolicy allow-all), sending API keys in clear text.`,
    ]);
  });

  it("accepts every TLS 1.2+ security policy CloudFront offers", async () => {
    for (const minimumProtocolVersion of ["TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.3_2025"]) {
      const report = await check(
        plan([
          distribution({
            viewerCertificate: {
              acmCertificateArn: "arn",
              sslSupportMethod: "sni-only",
              minimumProtocolVersion,
            },
          }),
        ]),
        cloudfrontTls12,
      );
      expect(summary(report)).toEqual([]);
    }
  });
});

describe("cloudfront-access-logs", () => {
  it.each(ROLES)("flags a distribution of the %s stack without access logs, naming the fix", async (role) => {
    const { loggingConfig: _logs, ...props } = distribution().props;
    const report = await check(
      plan([res(DISTRIBUTION_TYPE, "edge-distribution", props)], { role }),
      cloudfrontAccessLogs,
    );
    expect(summary(report)).toEqual(["cloudfront-access-logs: edge-distribution"]);
    expect(report.violations[0]!.message).toContain("keeps no access logs");
    expect(report.violations[0]!.remediation).toContain("set loggingConfig: { bucket:");
  });

  it("treats a log bucket created in the same preview (unknown domain name) as set", async () => {
    const report = await check(
      plan([distribution({ loggingConfig: { bucket: UNKNOWN_STRING, prefix: "cloudfront/" } })]),
      cloudfrontAccessLogs,
    );
    expect(summary(report)).toEqual([]);
  });
});
