// The offline runner must judge exactly as `pulumi preview --policy-pack policies` does. This test
// starts the real pack the way the Pulumi CLI does (Pulumi's run-policy-pack loading
// policies/package.json's main, which serves the pack over gRPC), drives it with the engine's
// Analyze/AnalyzeStack calls, and compares every diagnostic with the offline runner's verdict
// on the same resources.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { PolicyPackConfig } from "@pulumi/policy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PlanResource, PlanStack } from "./offline.ts";
import { checkStack, defaultStackTags } from "./offline.ts";
import { packArgs, rules } from "./pack.ts";
import { FIX_MARKER } from "./rules/common.ts";
import { UNKNOWN_STRING, plan, res } from "./testing.ts";

const POLICIES = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(POLICIES, "..");
const requireFromPulumi = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi"));

// The generated gRPC/protobuf classes are untyped.
const grpc = requireFromPulumi("@grpc/grpc-js") as any;
const pb = requireFromPulumi("./proto/analyzer_pb.js") as any;
const { AnalyzerClient } = requireFromPulumi("./proto/analyzer_grpc_pb.js") as any;
const { Struct } = requireFromPulumi("google-protobuf/google/protobuf/struct_pb.js") as any;
const LEVELS = ["advisory", "mandatory", "disabled", "remediate"];

/** A stack breaking most rules at once, plus values unknown during preview that must not count. */
function violatingStack(): PlanStack {
  const bucketName = "freightrate-example-documents-us-east-1";
  return plan([
    res("freight:documents:Documents", "documents", {}),
    res("aws:s3/bucket:Bucket", "documents-bucket", { bucket: bucketName }),
    res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "documents-public-access", {
      bucket: bucketName,
      blockPublicAcls: false,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    }),
    res("aws:s3/bucketVersioning:BucketVersioning", "documents-versioning", {
      bucket: bucketName,
      versioningConfiguration: { status: UNKNOWN_STRING },
    }),
    res("aws:s3/bucket:Bucket", "stray-bucket", { bucket: "stray", region: "eu-west-1" }),
    res("aws:rds/instance:Instance", "database-primary", {
      storageEncrypted: false,
      backupRetentionPeriod: 14,
      deletionProtection: true,
      multiAz: false,
      publiclyAccessible: true,
    }),
    res("aws:route53/record:Record", "dns-failover", {
      name: "api",
      type: "CNAME",
      failoverRoutingPolicies: [{ type: "PRIMARY" }],
    }),
    res("aws:route53/record:Record", "dns-pending", {
      name: "api",
      type: "CNAME",
      failoverRoutingPolicies: [{ type: "SECONDARY" }],
      healthCheckId: UNKNOWN_STRING,
    }),
    res("aws:eks/cluster:Cluster", "cluster-eks", { roleArn: "r", vpcConfig: { subnetIds: ["s"] } }),
    res("aws:ec2/securityGroup:SecurityGroup", "database-db", {
      ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }],
    }),
    res("aws:iam/policy:Policy", "admin", {
      policy: JSON.stringify({ Statement: { Effect: "Allow", Action: "*", Resource: "*" } }),
    }),
    res("aws:secretsmanager/secret:Secret", "secrets-llmProviderApiKey", {
      name: "freight/llm-provider-api-key",
    }),
    res("aws:secretsmanager/secretRotation:SecretRotation", "secrets-llmProviderApiKey", {
      secretId: "freight/llm-provider-api-key",
      rotationRules: { automaticallyAfterDays: 365 },
    }),
    res("aws:kms/key:Key", "untagged-key", { tags: { "region-role": "standby" } }),
    res("kubernetes:apps/v1:Deployment", "workloads-quote-api", {
      metadata: { name: "quote-api", namespace: "freight" },
      spec: {
        template: {
          metadata: { labels: { app: "quote-api" } },
          spec: { containers: [{ name: "api", image: "quote-api:latest" }] },
        },
      },
    }),
  ]);
}

const CONFIG: PolicyPackConfig = {
  "rds-backup-retention": { minimumRetentionDays: 21 },
  "tags-required": "advisory",
  "eks-control-plane-logging": { enforcementLevel: "disabled" },
};

function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? {})) as unknown;
}

function options(resource: PlanResource): any {
  const opts = new pb.AnalyzerResourceOptions();
  const own = (resource.opts ?? {}) as { protect?: boolean; ignoreChanges?: string[] };
  opts.setProtect(own.protect === true);
  opts.setIgnorechangesList(own.ignoreChanges ?? []);
  if (resource.parent) opts.setParent(resource.parent);
  return opts;
}

function providerOf(stack: PlanStack, resource: PlanResource): any {
  const urn = resource.provider?.slice(0, resource.provider.lastIndexOf("::"));
  const provider = stack.resources.find((r) => r.urn === urn);
  if (!provider) return undefined;
  const message = new pb.AnalyzerProviderResource();
  message.setType(provider.type);
  message.setName(provider.name);
  message.setUrn(provider.urn);
  message.setProperties(Struct.fromJavaScript(plain(provider.props)));
  return message;
}

function call(client: any, method: string, request: any): Promise<any> {
  return new Promise((resolve, reject) =>
    client[method](request, (err: Error | null, reply: any) => (err ? reject(err) : resolve(reply))),
  );
}

/** `policy|urn|level|message` as the engine would display each diagnostic. */
function fromDiagnostics(reply: any, defaultUrn?: string): string[] {
  return reply
    .getDiagnosticsList()
    .map(
      (d: any) =>
        `${d.getPolicyname()}|${d.getUrn() || defaultUrn || ""}|${LEVELS[d.getEnforcementlevel()]}|${d.getMessage()}`,
    );
}

let server: ChildProcess | undefined;
let client: any;

beforeAll(async () => {
  const localNode = path.join(ROOT, "node_modules", ".bin", "node");
  const node = existsSync(localNode) ? localNode : process.execPath;
  const runPolicyPack = path.join(
    path.dirname(requireFromPulumi.resolve("./package.json")),
    "cmd",
    "run-policy-pack",
  );
  // Same invocation as the CLI's policy analyzer: run-policy-pack <engine address> <pack dir>, in the pack dir.
  server = spawn(node, [runPolicyPack, "127.0.0.1:0", POLICIES], {
    cwd: POLICIES,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    let err = "";
    server!.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = /^(\d+)\s*$/m.exec(out);
      if (line) resolve(Number(line[1]));
    });
    server!.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    server!.on("exit", (code) => reject(new Error(`policy pack exited with ${code}: ${err}${out}`)));
  });
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 60_000);

afterAll(() => {
  client?.close();
  server?.kill();
});

describe("the offline runner agrees with the policy pack served to the Pulumi engine", () => {
  it("reports the same diagnostics, levels and messages for every resource and the stack", async () => {
    const stack = violatingStack();
    const stackTags = defaultStackTags(stack);

    const configure = new pb.AnalyzerStackConfigureRequest();
    configure.setStack(stack.stack);
    configure.setProject(stack.project);
    for (const [k, v] of stackTags) configure.getTagsMap().set(k, v);
    await call(client, "configureStack", configure);
    const policyConfig = new pb.ConfigureAnalyzerRequest();
    for (const [name, value] of Object.entries(CONFIG)) {
      const entry = new pb.PolicyConfig();
      const { enforcementLevel, ...properties } =
        typeof value === "string" ? { enforcementLevel: value } : value;
      entry.setEnforcementlevel(
        LEVELS.indexOf(enforcementLevel ?? rules.find((r) => r.name === name)!.enforcementLevel!),
      );
      entry.setProperties(Struct.fromJavaScript(properties));
      policyConfig.getPolicyconfigMap().set(name, entry);
    }
    await call(client, "configure", policyConfig);

    const served: string[] = [];
    for (const resource of stack.resources) {
      const request = new pb.AnalyzeRequest();
      request.setType(resource.type);
      request.setName(resource.name);
      request.setUrn(resource.urn);
      request.setProperties(Struct.fromJavaScript(plain(resource.props)));
      request.setOptions(options(resource));
      const provider = providerOf(stack, resource);
      if (provider) request.setProvider(provider);
      // The engine attributes a resource diagnostic to the analyzed resource.
      served.push(...fromDiagnostics(await call(client, "analyze", request), resource.urn));
    }
    const stackRequest = new pb.AnalyzeStackRequest();
    stackRequest.setResourcesList(
      stack.resources.map((resource) => {
        const message = new pb.AnalyzerResource();
        message.setType(resource.type);
        message.setName(resource.name);
        message.setUrn(resource.urn);
        message.setProperties(Struct.fromJavaScript(plain(resource.props)));
        message.setOptions(options(resource));
        if (resource.parent) message.setParent(resource.parent);
        const provider = providerOf(stack, resource);
        if (provider) message.setProvider(provider);
        return message;
      }),
    );
    served.push(...fromDiagnostics(await call(client, "analyzeStack", stackRequest)));

    const offline = await checkStack(stack, {
      rules,
      config: CONFIG,
      packEnforcementLevel: packArgs.enforcementLevel ?? "mandatory",
      stackTags,
    });
    const descriptions = new Map(rules.map((r) => [r.name, r.description]));
    const expected = offline.violations.map(
      (v) =>
        `${v.policy}|${v.urn ?? ""}|${v.enforcementLevel}|${descriptions.get(v.policy)}\n${v.message}${FIX_MARKER}${v.remediation}`,
    );

    expect([...served].sort()).toEqual([...expected].sort());
    // The fixture really exercises the pack: most rules fire, config changes levels and thresholds.
    const fired = new Set(offline.violations.map((v) => v.policy));
    expect(fired.size).toBeGreaterThanOrEqual(15);
    expect(fired.has("eks-control-plane-logging")).toBe(false);
    expect(offline.violations.find((v) => v.policy === "tags-required")?.enforcementLevel).toBe("advisory");
    expect(offline.violations.find((v) => v.policy === "rds-backup-retention")?.message).toContain(
      "at least 21",
    );
    expect(served.some((d) => d.includes("dns-pending") || d.includes("documents-versioning"))).toBe(false);
  }, 60_000);
});
