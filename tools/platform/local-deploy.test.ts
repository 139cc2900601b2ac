// How a region's manifests become local processes: the environment is the manifest's own except
// for the endpoint and port variables, and what the platform cannot honour stops the start with
// the object, the problem and the fix.
import { lstatSync, mkdtempSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Manifest } from "../../stacks/manifests.ts";
import { regionJob, regionWorkloads, sortManifests, substitute } from "./local-deploy.ts";

/** The key moto issues the platform's IAM user (any value here: substitute only passes it on). */
const localKey = { accessKeyId: "LOCALPLATFORMKEY0000", secretAccessKey: "local-platform-secret" };
const secrets = { "api-database": { DATABASE_URL: "postgres://freight_app:pw@127.0.0.1:5432/freight" } };

function deployment(container: Record<string, unknown>, pod: Record<string, unknown> = {}): Manifest {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "quote-api", namespace: "freight" },
    spec: {
      template: {
        spec: {
          serviceAccountName: "quote-api",
          volumes: [
            { name: "secret-api-database", secret: { secretName: "api-database", defaultMode: 0o440 } },
          ],
          containers: [{ name: "api", ...container }],
          ...pod,
        },
      },
    },
  };
}

const externalSecret: Manifest = {
  apiVersion: "external-secrets.io/v1",
  kind: "ExternalSecret",
  metadata: { name: "api-database", namespace: "freight" },
  spec: { target: { name: "api-database" } },
};

const api = {
  command: ["node", "app/server.ts"],
  ports: [{ name: "http", containerPort: 8080 }],
  readinessProbe: { httpGet: { path: "/readyz", port: 8080 } },
  env: [
    { name: "PORT", value: "8080" },
    { name: "REGION_NAME", value: "us-east-1" },
    { name: "REGION_PEER_URL", value: "https://api-usw2.freight.example/" },
    { name: "DATABASE_URL_FILE", value: "/var/run/secrets/freight/api-database/DATABASE_URL" },
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
  ],
  volumeMounts: [
    { name: "secret-api-database", mountPath: "/var/run/secrets/freight/api-database", readOnly: true },
  ],
};

describe("local deploy", () => {
  it("keeps the manifest's environment and replaces only ports, endpoints and where the Secret files are", () => {
    const [workload] = regionWorkloads("primary", [externalSecret, deployment(api)], secrets);
    expect(workload).toMatchObject({
      role: "quote-api",
      command: ["node", "app/server.ts"],
      serviceAccount: "quote-api",
      readiness: { path: "/readyz", port: 8080 },
    });
    const secretDir = mkdtempSync(path.join(tmpdir(), "local-deploy-"));
    const env = substitute(workload!, workload!.env, {
      ports: new Map([[8080, 41000]]),
      endpoints: {
        api: { primary: "http://127.0.0.1:41000", secondary: "http://127.0.0.1:42000" },
        aws: { endpoint: "", credentials: localKey },
      },
      kubeconfig: "/tmp/sa.kubeconfig",
      secretDir,
    });
    const file = path.join(secretDir, "var/run/secrets/freight/api-database/DATABASE_URL");
    expect(env).toEqual({
      PORT: "41000",
      HOST: "127.0.0.1",
      RUNNER_HOST: "127.0.0.1",
      PROBE_HOST: "127.0.0.1",
      REGION_NAME: "us-east-1",
      REGION_PEER_URL: "http://127.0.0.1:42000",
      DATABASE_URL_FILE: file,
      POD_NAME: "quote-api-primary-0",
      KUBECONFIG: "/tmp/sa.kubeconfig",
    });
    // Written as the kubelet writes a Secret volume: the key a link through ..data.
    expect(readFileSync(file, "utf8")).toBe(secrets["api-database"].DATABASE_URL);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expect(readlinkSync(file)).toBe("..data/DATABASE_URL");
  });

  it("refuses a *_FILE that no Secret volume mounts, and a key without a local value", () => {
    expect(() =>
      regionWorkloads("primary", [externalSecret, deployment({ ...api, volumeMounts: [] })], secrets),
    ).toThrow(
      /DATABASE_URL_FILE names \/var\/run\/secrets\/freight\/api-database\/DATABASE_URL, which no Secret volume of the pod mounts/,
    );
    expect(() =>
      regionWorkloads("primary", [externalSecret, deployment(api)], { "api-database": { OTHER: "x" } }),
    ).toThrow(
      /reads key DATABASE_URL of Secret api-database \(DATABASE_URL_FILE\), which has no local value/,
    );
  });

  it("gives a kubeconfig only to pods that declare a token", () => {
    const projected = {
      automountServiceAccountToken: false,
      volumes: [
        { name: "secret-api-database", secret: { secretName: "api-database" } },
        { name: "kube-api-token", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } },
      ],
    };
    const [withToken] = regionWorkloads("primary", [externalSecret, deployment(api, projected)], secrets);
    const [without] = regionWorkloads(
      "primary",
      [externalSecret, deployment(api, { automountServiceAccountToken: false })],
      secrets,
    );
    expect([withToken!.mountsToken, without!.mountsToken]).toEqual([true, false]);
  });

  it("points every process holding a Stripe key at the Stripe stand-in, billing's CronJobs too", () => {
    const stripeSecret: Manifest = {
      ...externalSecret,
      metadata: { name: "stripe", namespace: "freight" },
      spec: { target: { name: "stripe" } },
    };
    const cronJob: Manifest = {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "trial-expiry", namespace: "freight" },
      spec: {
        jobTemplate: {
          spec: {
            template: {
              spec: {
                serviceAccountName: "trial-expiry",
                volumes: [{ name: "secret-stripe", secret: { secretName: "stripe", defaultMode: 0o440 } }],
                containers: [
                  {
                    name: "trial-expiry",
                    command: ["node", "app/billing/trial-expiry.ts"],
                    env: [
                      {
                        name: "STRIPE_SECRET_KEY_FILE",
                        value: "/var/run/secrets/freight/stripe/STRIPE_SECRET_KEY",
                      },
                      { name: "KUBERNETES_API", value: "in-cluster" },
                    ],
                    volumeMounts: [
                      { name: "secret-stripe", mountPath: "/var/run/secrets/freight/stripe", readOnly: true },
                    ],
                  },
                ],
              },
            },
          },
        },
      },
    };
    const [job] = regionJob(
      "primary",
      [stripeSecret, cronJob],
      { stripe: { STRIPE_SECRET_KEY: "sk_test_local" } },
      "trial-expiry",
    );
    const env = substitute(job!, job!.env, {
      ports: new Map(),
      endpoints: {
        api: { primary: "", secondary: "" },
        aws: { endpoint: "", credentials: localKey },
        stripe: "http://127.0.0.1:12111",
      },
      kubeconfig: "/tmp/trial-expiry.kubeconfig",
      secretDir: mkdtempSync(path.join(tmpdir(), "local-deploy-")),
    });
    expect(readFileSync(env["STRIPE_SECRET_KEY_FILE"]!, "utf8")).toBe("sk_test_local");
    expect(env).toMatchObject({
      STRIPE_API_URL: "http://127.0.0.1:12111",
      KUBECONFIG: "/tmp/trial-expiry.kubeconfig",
    });
    expect(env).not.toHaveProperty("KUBERNETES_API");
  });

  it("points the quote API's Secrets Manager (SSO client secrets) at the platform's moto, with its key", () => {
    const withSso = { ...api, env: [...api.env, { name: "SSO_SESSION_MINUTES", value: "30" }] };
    const [workload] = regionWorkloads("primary", [externalSecret, deployment(withSso)], secrets);
    const env = substitute(workload!, workload!.env, {
      ports: new Map([[8080, 41000]]),
      endpoints: {
        api: { primary: "http://127.0.0.1:41000", secondary: "http://127.0.0.1:42000" },
        aws: { endpoint: "http://127.0.0.1:43000", credentials: localKey },
      },
      secretDir: mkdtempSync(path.join(tmpdir(), "local-deploy-")),
    });
    expect(env).toMatchObject({
      SSO_SESSION_MINUTES: "30",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: "http://127.0.0.1:43000",
      AWS_ACCESS_KEY_ID: localKey.accessKeyId,
      AWS_SECRET_ACCESS_KEY: localKey.secretAccessKey,
    });
  });

  it("points the failover controller's Route 53 at the local health checkers, with moto's health check ids", () => {
    const withFailover = {
      ...api,
      env: [
        ...api.env,
        { name: "FAILOVER_PRIMARY_HEALTH_URL", value: "https://us-east-1.api.freight.example/readyz" },
        { name: "ROUTE53_PRIMARY_HEALTH_CHECK_ID", value: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" },
        { name: "ROUTE53_SECONDARY_HEALTH_CHECK_ID", value: "1f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" },
      ],
    };
    const [workload] = regionWorkloads("secondary", [externalSecret, deployment(withFailover)], secrets);
    const endpoints = {
      api: { primary: "http://127.0.0.1:41000", secondary: "http://127.0.0.1:42000" },
      aws: { endpoint: "http://127.0.0.1:43000", credentials: localKey },
    };
    const context = {
      ports: new Map([[8080, 42000]]),
      secretDir: mkdtempSync(path.join(tmpdir(), "local-deploy-")),
    };
    const env = substitute(workload!, workload!.env, {
      ...context,
      endpoints: {
        ...endpoints,
        aws: {
          ...endpoints.aws,
          route53Endpoint: "http://127.0.0.1:44000",
          healthChecks: { primary: "moto-primary-check", secondary: "moto-secondary-check" },
        },
      },
    });
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL_ROUTE_53: "http://127.0.0.1:44000",
      ROUTE53_PRIMARY_HEALTH_CHECK_ID: "moto-primary-check",
      ROUTE53_SECONDARY_HEALTH_CHECK_ID: "moto-secondary-check",
    });
    // No health checks on moto: the stacks' ids would name nothing, so the controller gets none.
    const without = substitute(workload!, workload!.env, { ...context, endpoints });
    expect(without["AWS_ENDPOINT_URL_ROUTE_53"]).toBe("http://127.0.0.1:43000");
    expect(without).not.toHaveProperty("ROUTE53_PRIMARY_HEALTH_CHECK_ID");
  });

  it("points the evidence job's S3 (the published supply-chain reports) at its region's local S3, with its key", () => {
    const withReports = {
      ...api,
      env: [...api.env, { name: "EVIDENCE_SUPPLY_CHAIN_S3_URI", value: "s3://docs-us-west-2/supply-chain" }],
    };
    const [workload] = regionWorkloads("secondary", [externalSecret, deployment(withReports)], secrets);
    const env = substitute(workload!, workload!.env, {
      ports: new Map([[8080, 41000]]),
      endpoints: {
        api: { primary: "http://127.0.0.1:41000", secondary: "http://127.0.0.1:42000" },
        aws: { endpoint: "http://127.0.0.1:43000", credentials: localKey },
        s3: { primary: "http://127.0.0.1:44000", secondary: "http://127.0.0.1:45000" },
      },
      secretDir: mkdtempSync(path.join(tmpdir(), "local-deploy-")),
    });
    expect(env).toMatchObject({
      EVIDENCE_SUPPLY_CHAIN_S3_URI: "s3://docs-us-west-2/supply-chain",
      AWS_ENDPOINT_URL_S3: "http://127.0.0.1:45000",
      AWS_ACCESS_KEY_ID: localKey.accessKeyId,
      AWS_SECRET_ACCESS_KEY: localKey.secretAccessKey,
    });
  });

  it("refuses a container without a command, naming the fix", () => {
    expect(() => regionWorkloads("primary", [deployment({ ...api, command: undefined })], secrets)).toThrow(
      /primary Deployment freight\/quote-api container api has no command.*explicit command in infra\/workloads/,
    );
  });

  it("refuses a Secret the stacks never create, and one without a local value", () => {
    expect(() => regionWorkloads("primary", [deployment(api)], secrets)).toThrow(
      /reads Secret api-database, which the stacks never create in freight/,
    );
    expect(() => regionWorkloads("primary", [externalSecret, deployment(api)], {})).toThrow(
      /reads Secret api-database, which has no local value: add it to localSecrets\(\)/,
    );
  });

  it("refuses a kind it neither applies nor skips, and skips the ones it cannot run", () => {
    const podMonitor: Manifest = {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PodMonitor",
      metadata: { name: "quote-api" },
    };
    expect(sortManifests([podMonitor]).skipped).toEqual([
      { kind: "PodMonitor", name: "quote-api", why: expect.stringMatching(/no Prometheus Operator/) },
    ]);
    // NetworkPolicies are stored (nothing enforces them here: no network plugin), never skipped.
    const policy: Manifest = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "default-deny", namespace: "freight" },
    };
    const sorted = sortManifests([policy]);
    expect(sorted.skipped).toEqual([]);
    expect(sorted.rest.map(([m, ref]) => `${m.kind} ${ref.plural}`)).toEqual([
      "NetworkPolicy networkpolicies",
    ]);
    const unknown: Manifest = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } };
    expect(() => sortManifests([unknown])).toThrow(
      /a Widget \(example.com\/v1\) named w, which the local platform neither applies nor skips. Add it to SKIPPED_KINDS/,
    );
  });
});
