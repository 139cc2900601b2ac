// The CRD TypeScript types against their generated OpenAPI schemas, so a field added to a type but
// not to its schema cannot be pruned silently by the API server (it drops unknown fields without an
// error, and a controller would then "set" a field that never persists).
//
// How: for each kind, a sample of the spec and status typed Complete<T> (every optional field made
// required, recursively), so the compiler refuses a sample that misses a field the type has; then
// the sample is walked against the schema in operators/deploy/crds.yaml (every field known, of the
// declared type and enum, every schema field present in the type), and round-tripped through a
// real API server, which must give back exactly what it was sent. Checking the hand-written types
// rather than deriving them from the schema keeps their doc comments and narrow unions (Region,
// Stage) readable, and the failure names the field and the file to fix.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { builtin, KubeClient } from "../runtime/kube.ts";
import { applyManifest, waitFor } from "../../tools/platform/operators.ts";
import { refOf } from "./crd.ts";
import { crdsPath } from "./generate.ts";
import { API_GROUP, apiVersion } from "./group.ts";
import type { PlanSpec } from "./plan.ts";
import type { PricingModelSpec, PricingModelStatus } from "./pricingmodel.ts";
import type { RateLimitPolicySpec, RateLimitPolicyStatus } from "./ratelimitpolicy.ts";
import type { RegionFailoverSpec, RegionFailoverStatus } from "./regionfailover.ts";
import { resourceDefinitions } from "./resources.ts";
import type { SchemaProps } from "./schema.ts";
import type { TenantSpec, TenantStatus } from "./tenant.ts";
import type { KubeObject } from "./types.ts";

/** T with every optional field required, all the way down: a sample of it sets every field. */
type Complete<T> = T extends (infer U)[]
  ? Complete<U>[]
  : T extends object
    ? { [K in keyof T]-?: Complete<Exclude<T[K], undefined>> }
    : T;

const time = "2026-11-27T03:00:00Z";
const condition = {
  type: "Ready",
  status: "True" as const,
  observedGeneration: 1,
  lastTransitionTime: time,
  reason: "Applied",
  message: "ok",
};

const planSpec: Complete<PlanSpec> = {
  displayName: "Growth",
  rank: 2,
  monthlyPriceCents: 49_900,
  meters: [
    { name: "quotes", included: 10_000, overageAllowed: true, overageUnitPriceCents: 2, hardCeiling: 20_000 },
  ],
  rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 4 },
  features: {
    spotQuotes: true,
    directorySearch: true,
    contracts: true,
    bulkRating: true,
    invites: true,
    lists: false,
    sso: false,
    dataResidency: true,
  },
};

const tenantSpec: Complete<TenantSpec> = {
  displayName: "Acme Freight",
  plan: "growth",
  billingStatus: "active",
  dataResidencyRegion: "us-east-1",
  overrides: [
    {
      meter: "quotes",
      included: 15_000,
      overageAllowed: true,
      overageUnitPriceCents: 1,
      hardCeiling: 30_000,
      reason: "OPS-42",
    },
  ],
};
const tenantStatus: Complete<TenantStatus> = {
  observedGeneration: 1,
  tenantId: "2b0b5f7e-8d0a-4a4e-9a43-3f7b7d1c9e10",
  entitlements: [
    {
      meter: "quotes",
      period: "month",
      included: 15_000,
      overageAllowed: true,
      overageUnitPriceCents: 1,
      hardCeiling: 30_000,
      source: "override",
    },
  ],
  usage: [{ meter: "quotes", periodStart: time, used: 12_000, included: 15_000, percent: 80, level: 80 }],
  warningLevel: 80,
  rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 4, source: "plan/growth" },
  conditions: [condition],
};

const policySpec: Complete<RateLimitPolicySpec> = {
  target: { kind: "Tenant", name: "acme" },
  limits: { requestsPerSecond: 80, burst: 160, bulkJobConcurrency: 8 },
};
const policyStatus: Complete<RateLimitPolicyStatus> = {
  observedGeneration: 1,
  tenantsAffected: 1,
  conditions: [{ ...condition, type: "Effective" }],
};

const failoverSpec: Complete<RegionFailoverSpec> = {
  activeRegion: "secondary",
  mode: "Planned",
  trafficSteps: [10, 50, 100],
  stepSeconds: 30,
  healthGate: { maxErrorRatePercent: 1, maxP95LatencyMs: 600, consecutiveHealthyChecks: 3 },
  onGateFailure: "Pause",
  maxReplicationLagSeconds: 300,
  writeFreezeTimeoutSeconds: 120,
  paused: true,
  abort: false,
  automatic: { enabled: true, confirmationSeconds: 3, minFailingSignals: 2 },
  readCanary: { weight: 25, maxReplicationLagSeconds: 5 },
  fenceOverride: { region: "primary", reason: "INC-1234: us-east-1 down, RDS API unreachable" },
};
const snapshot = { invoices: 42, queueDepth: 3, errorRatePercent: 0.5, takenAt: time };
const failoverStatus: Complete<RegionFailoverStatus> = {
  observedGeneration: 1,
  phase: "Paused",
  servingRegion: "primary",
  targetRegion: "secondary",
  mode: "Planned",
  stage: "ShiftTraffic",
  pauseConditions: [{ reason: "PausedBySpec", startTime: time }],
  trafficStep: 1,
  trafficWeights: { primary: 50, secondary: 50 },
  stepStartedAt: time,
  healthyChecks: 2,
  startedAt: time,
  completedAt: time,
  stages: [{ stage: "PreChecks", startedAt: time, finishedAt: time }],
  promotion: { target: "secondary", requestedAt: time, issuedAt: time, completedAt: time },
  fence: {
    target: "primary",
    requestedAt: time,
    issuedAt: time,
    completedAt: time,
    method: "security group swapped to freight-fence and rebooted",
    requestedAtGeneration: 3,
    overridden: { reason: "INC-1234: us-east-1 down, RDS API unreachable", at: time, generation: 4 },
  },
  automatic: {
    signals: [{ signal: "database", healthy: false, detail: "connection refused" }],
    suspectSince: time,
    suspicionsCleared: 2,
    triggeredAt: time,
    triggeredAtGeneration: 1,
    lostRegion: "primary",
    message: "primary lost: database, readiness failing for 3 s",
  },
  failback: { ready: true, lagSeconds: 0.2, message: "primary is a replica of secondary" },
  readCanary: {
    state: "Tripped",
    weight: 0,
    region: "secondary",
    trippedAt: time,
    trippedAtGeneration: 1,
    trippedReason: "secondary's replica is 7.2 s behind (max 5 s)",
    message: "Tripped: edit spec.readCanary to re-arm.",
  },
  rtoSeconds: 41.5,
  lagAtCutoverSeconds: 0,
  integrityBefore: snapshot,
  integrityAfter: snapshot,
  message: "Paused by spec.paused at ShiftTraffic; set it to false to continue.",
  conditions: [{ ...condition, type: "Promoted", reason: "Promoted" }],
};

const modelVersion = {
  name: "2026-12.1",
  description: "Linehaul 3 % up in the west.",
  coefficients: { linehaulMultiplier: 1.03, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
  guardrails: {
    minMarginPercent: 8,
    regionalCaps: [{ region: "west_coast" as const, maxCentsPerMile: 600 }],
  },
};
const pricingSpec: Complete<PricingModelSpec> = {
  versions: [{ ...modelVersion, name: "2026-11.1" }, modelVersion],
  aliases: { champion: "2026-11.1", challenger: "2026-12.1" },
  steps: [{ weights: { champion: 90, challenger: 10 }, holdSeconds: 600, analysis: { minSamples: 20 } }],
  analysis: {
    minSamples: 50,
    maxAbsVariancePercent: 10,
    windowDays: 28,
    srmPValue: 0.001,
    requirePassingBacktest: true,
    backtestMaxAgeDays: 8,
  },
  stepDeadlineSeconds: 86_400,
  onFailure: "Rollback",
  bucketVersion: 1,
  paused: false,
  abort: false,
};
const versionMetrics = {
  samples: 60,
  absVariancePercent: 4.5,
  marginPercent: 14.2,
  capBreaches: 0,
  observedAt: time,
};
const pricingStatus: Complete<PricingModelStatus> = {
  observedGeneration: 1,
  phase: "Progressing",
  step: 0,
  weights: { champion: 90, challenger: 10 },
  champion: "2026-11.1",
  challenger: "2026-12.1",
  stepStartedAt: time,
  pauseReason: "Inconclusive: 12 of 50 settled bookings.",
  rollback: { requestedAt: time, reason: "absVariancePercent 14.1 > 10", challenger: "2026-12.1" },
  metrics: { champion: versionMetrics, challenger: versionMetrics, srmPValue: 0.4 },
  versionChecksums: [{ name: "2026-12.1", checksum: "ab12" }],
  lastAppliedHash: "cd34",
  lastPromotedHash: "ef56",
  message: "Holding 10 % on 2026-12.1.",
  conditions: [{ ...condition, type: "AnalysisPassed", reason: "WithinGuardrails" }],
};

const samples: Record<string, { name: string; spec: object; status?: object }> = {
  PricingModel: { name: "spot", spec: pricingSpec, status: pricingStatus },
  Plan: { name: "growth", spec: planSpec },
  Tenant: { name: "acme", spec: tenantSpec, status: tenantStatus },
  RateLimitPolicy: { name: "acme-burst", spec: policySpec, status: policyStatus },
  RegionFailover: { name: "prod", spec: failoverSpec, status: failoverStatus },
};

/** Every way `value` disagrees with `schema`, as "path: problem; fix". */
function schemaProblems(schema: SchemaProps, value: unknown, path: string, file: string): string[] {
  const problems: string[] = [];
  const at = (problem: string) => problems.push(`${path}: ${problem}`);
  switch (schema.type) {
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        at(`is ${JSON.stringify(value)} in the type, an object in the schema`);
        break;
      }
      const properties = schema.properties ?? {};
      for (const [key, child] of Object.entries(value)) {
        const childSchema = properties[key];
        if (!childSchema)
          at(
            `.${key} is in the TypeScript type but not in the schema: the API server prunes it; add it to the schema in ${file}`,
          );
        else problems.push(...schemaProblems(childSchema, child, `${path}.${key}`, file));
      }
      for (const key of Object.keys(properties))
        if (!(key in value))
          at(
            `.${key} is in the schema but not in the TypeScript type: add it to the type in ${file} (or to this sample)`,
          );
      break;
    }
    case "array":
      if (!Array.isArray(value)) at(`is ${JSON.stringify(value)} in the type, an array in the schema`);
      else if (value.length === 0) at("give the sample one item, so the item's fields are checked too");
      else
        value.forEach((item, i) =>
          problems.push(...schemaProblems(schema.items!, item, `${path}[${i}]`, file)),
        );
      break;
    case "integer":
      if (!Number.isInteger(value)) at(`${JSON.stringify(value)} is not an integer`);
      break;
    case "number":
      if (typeof value !== "number") at(`${JSON.stringify(value)} is not a number`);
      break;
    case "string":
      if (typeof value !== "string") at(`${JSON.stringify(value)} is not a string`);
      break;
    case "boolean":
      if (typeof value !== "boolean") at(`${JSON.stringify(value)} is not a boolean`);
      break;
  }
  if (schema.enum && !schema.enum.includes(value as string | number))
    at(`${JSON.stringify(value)} is not one of the schema's values ${JSON.stringify(schema.enum)}`);
  return problems;
}

interface Crd {
  spec: {
    names: { kind: string; plural: string };
    versions: { schema: { openAPIV3Schema: { properties: Record<string, SchemaProps> } } }[];
  };
}
const crds = parseAllDocuments(readFileSync(crdsPath, "utf8")).map((d) => d.toJS() as Crd);
const schemaOf = (kind: string) =>
  crds.find((c) => c.spec.names.kind === kind)!.spec.versions[0]!.schema.openAPIV3Schema.properties;
const fileOf = (kind: string) => `operators/api/${kind.toLowerCase()}.ts`;

describe("CRD types against their schemas", () => {
  it("has a complete sample for every kind the operators serve", () => {
    expect(Object.keys(samples).sort()).toEqual(resourceDefinitions.map((d) => d.kind).sort());
  });

  for (const [kind, sample] of Object.entries(samples)) {
    it(`${kind}: every field of the spec and status types is in the generated schema, and back`, () => {
      const schema = schemaOf(kind);
      const problems = [
        ...schemaProblems(schema.spec!, sample.spec, "spec", fileOf(kind)),
        ...(sample.status ? schemaProblems(schema.status!, sample.status, "status", fileOf(kind)) : []),
      ];
      expect(problems).toEqual([]);
      expect(Boolean(schema.status)).toBe(sample.status !== undefined);
    });
  }

  it("names the field and the fix when a type has a field the schema lacks", () => {
    const withExtra = { ...failoverSpec, drainTimeoutSeconds: 60 };
    expect(
      schemaProblems(schemaOf("RegionFailover").spec!, withExtra, "spec", fileOf("RegionFailover")),
    ).toEqual([
      "spec: .drainTimeoutSeconds is in the TypeScript type but not in the schema: the API server prunes it; add it to the schema in operators/api/regionfailover.ts",
    ]);
  });
});

describe("CRD types against the API server", () => {
  let cluster: LocalCluster;
  let client: KubeClient;

  beforeAll(async () => {
    cluster = await startCluster({ name: "schema-coverage" });
    client = new KubeClient(cluster.kubeConfig, { userAgent: "schema-coverage-test" });
    await applyManifest(client, crdsPath);
    await waitFor("CRDs established", async () => {
      const list = await client.list<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >(builtin.crds);
      const established = list.items.filter(
        (c) =>
          c.metadata.name.endsWith(`.${API_GROUP}`) &&
          c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True"),
      );
      return established.length === resourceDefinitions.length;
    });
  }, 180_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it("gives back every field of a complete spec and status, pruning nothing", async () => {
    for (const definition of resourceDefinitions) {
      const sample = samples[definition.kind]!;
      const ref = refOf(definition);
      const namespace = ref.namespaced ? "default" : undefined;
      const metadata = { name: sample.name, ...(namespace ? { namespace } : {}) };
      const created = await client.apply<{ spec: unknown }>(
        ref,
        { apiVersion, kind: definition.kind, metadata, spec: sample.spec } as KubeObject,
        { fieldManager: "schema-coverage" },
      );
      expect(created.spec, `${definition.kind} spec`).toEqual(sample.spec);
      if (sample.status) {
        const written = await client.apply<{ status: unknown }>(
          ref,
          { apiVersion, kind: definition.kind, metadata, status: sample.status } as KubeObject,
          { fieldManager: "schema-coverage", subresource: "status" },
        );
        expect(written.status, `${definition.kind} status`).toEqual(sample.status);
      }
    }
  });
});
