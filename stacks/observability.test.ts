// Both region stacks, planned offline, deliver what the alerts and dashboards need in production:
// Alertmanager receivers filled from the secret store, Grafana's analytics datasource logging in
// as freight_ops (and nothing else using that login), and the API reading exactly the platform
// secrets' rotation dates with an IAM policy scoped to them.
import { existsSync } from "node:fs";

import { beforeAll, describe, expect, it } from "vitest";

import { parseAppConfig } from "../app/config.ts";
import { parseRunnerConfig } from "../app/runner/config.ts";
import { parseOperatorConfig } from "../operators/config.ts";
import { parseWatchedSecrets } from "../app/observability/secret-rotation.ts";
import { OPERATIONS } from "../dashboards/slo.ts";
import { ALERTMANAGER_CONFIG_SECRET, alertmanagerConfigTemplate } from "../infra/monitoring/alertmanager.ts";
import { alertReceiverUrl } from "../infra/workloads/quote-api.ts";
import {
  ANALYTICS_DATASOURCE_FILE,
  ANALYTICS_DATASOURCE_SECRET,
  DATASOURCE_LABEL,
} from "../infra/monitoring/grafana-datasource.ts";
import {
  ROTATION_DAYS,
  rotationLabel,
  BILLING_SECRETS,
  SECRET_NAMES,
  SECRETS_USED,
  type PlatformSecret,
} from "../infra/secrets/secrets.ts";
import type { PlannedResource, PlannedStack } from "./plan.ts";
import { planStack } from "./plan.ts";

const generated = existsSync("operators/deploy/crds.yaml") && existsSync("operators/deploy/rbac.yaml");
const manifests: Record<string, string> = generated
  ? {}
  : { operatorManifestsDir: "stacks/testdata/operators" };

let primary: PlannedStack;
let secondary: PlannedStack;

beforeAll(async () => {
  [primary, secondary] = await Promise.all([
    planStack("prod-primary", { config: manifests }),
    planStack("prod-secondary", { config: manifests }),
  ]);
}, 120_000);

const stacks = () => [
  { plan: primary, role: "primary", region: "us-east-1" },
  { plan: secondary, role: "secondary", region: "us-west-2" },
];

/** The platform secrets of the committed stacks, which plan with billing off (its secrets absent). */
const PLATFORM_SECRETS = (Object.keys(SECRET_NAMES) as PlatformSecret[]).filter(
  (s) => !(BILLING_SECRETS as readonly string[]).includes(s),
);

function get(value: unknown, ...path: (string | number)[]): unknown {
  return path.reduce<unknown>(
    (v, k) => (v == null ? undefined : (v as Record<string | number, unknown>)[k]),
    value,
  );
}

function named(plan: PlannedStack, type: string, name: string): PlannedResource {
  const found = plan.resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`no ${type} ${name} in ${plan.stack}`);
  return found;
}

const EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret";

function externalSecret(plan: PlannedStack, name: string): PlannedResource {
  const found = plan.resources.filter(
    (r) => r.type === EXTERNAL_SECRET && get(r.props, "metadata", "name") === name,
  );
  expect(found, `${plan.stack}: ExternalSecret ${name}`).toHaveLength(1);
  return found[0]!;
}

function policyStatements(resource: PlannedResource): { Action: string[]; Resource: string[] }[] {
  return (
    JSON.parse(resource.props["policy"] as string) as {
      Statement: { Action: string[]; Resource: string[] }[];
    }
  ).Statement;
}

describe("alerting", () => {
  it("gives Alertmanager page and ticket receivers whose webhook URL comes from the secret store", () => {
    for (const { plan } of stacks()) {
      const release = plan.resources.find(
        (r) => r.type === "kubernetes:helm.sh/v3:Release" && r.props["chart"] === "kube-prometheus-stack",
      )!;
      expect(get(release.props, "values", "alertmanager", "alertmanagerSpec")).toMatchObject({
        useExistingSecret: true,
        configSecret: ALERTMANAGER_CONFIG_SECRET,
      });
      // No webhook URL (nor its token) in chart values, hence none in Pulumi state or the Helm release.
      expect(JSON.stringify(get(release.props, "values"))).not.toMatch(/https?:\/\//);

      const config = externalSecret(plan, ALERTMANAGER_CONFIG_SECRET);
      expect(get(config.props, "metadata", "namespace")).toBe("monitoring");
      expect(get(config.props, "spec", "target", "template", "data", "alertmanager.yaml")).toBe(
        alertmanagerConfigTemplate(alertReceiverUrl()),
      );
      const refs = (get(config.props, "spec", "data") as { remoteRef: { key: string } }[]).map(
        (d) => d.remoteRef.key,
      );
      expect(refs).toEqual([
        SECRET_NAMES.opsWebhookUrl,
        SECRET_NAMES.opsWebhookUrl,
        SECRET_NAMES.alertReceiverToken,
      ]);
    }
  });

  it("creates the monitoring ExternalSecrets only once the ClusterSecretStore they read through exists", () => {
    for (const { plan } of stacks()) {
      const store = plan.resources.find(
        (r) => r.type === "kubernetes:external-secrets.io/v1:ClusterSecretStore",
      )!;
      for (const name of [ALERTMANAGER_CONFIG_SECRET, ANALYTICS_DATASOURCE_SECRET]) {
        const es = externalSecret(plan, name);
        expect(get(es.props, "spec", "secretStoreRef")).toEqual({
          kind: "ClusterSecretStore",
          name: get(store.props, "metadata", "name"),
        });
        expect(es.opts?.dependsOn, name).toContain(store.urn);
      }
    }
  });
});

describe("Grafana's analytics datasource", () => {
  it("reads the analytics replica on the primary and the standby replica on the secondary", () => {
    expect(named(primary, "aws:rds/instance:Instance", "database-analytics").props["replicateSourceDb"]).toBe(
      "freight-us-east-1-primary",
    );
    for (const { plan, role, region } of stacks()) {
      const datasource = externalSecret(plan, ANALYTICS_DATASOURCE_SECRET);
      const file = get(
        datasource.props,
        "spec",
        "target",
        "template",
        "data",
        ANALYTICS_DATASOURCE_FILE,
      ) as string;
      // The mocks name an RDS endpoint <identifier>.c<10 hex>.<region>.rds.amazonaws.com, as AWS does.
      const instance = role === "primary" ? "freight-us-east-1-analytics" : "freight-us-west-2-replica";
      expect(file).toMatch(
        new RegExp(`\\burl: ${instance}\\.c[0-9a-f]{10}\\.${region}\\.rds\\.amazonaws\\.com:5432\\n`),
      );
      expect(file).toContain("uid: freight-analytics");
      expect(get(datasource.props, "spec", "target", "template", "metadata", "labels")).toEqual({
        [DATASOURCE_LABEL]: "1",
      });
      expect(get(datasource.props, "spec", "dataFrom")).toEqual([
        { extract: { key: SECRET_NAMES.databaseOpsRole } },
      ]);
      const release = plan.resources.find((r) => r.props["chart"] === "kube-prometheus-stack")!;
      expect(get(release.props, "values", "grafana", "sidecar", "datasources")).toMatchObject({
        enabled: true,
        label: DATASOURCE_LABEL,
        labelValue: "1",
      });
    }
  });

  it("gives the freight_ops login only to Grafana, the API's aggregate gauges, the weekly report and evidence", () => {
    // A login reaches a pod only through an ExternalSecret; all of them read the analytics replica (the
    // secondary: its standby replica), never the writer (stacks/program.ts), which refuses freight_ops
    // (migration 0035).
    for (const { plan } of stacks()) {
      const users = plan.resources.filter(
        (r) =>
          r.type === EXTERNAL_SECRET &&
          JSON.stringify(r.props).includes(`"key":"${SECRET_NAMES.databaseOpsRole}"`),
      );
      expect(users.map((r) => get(r.props, "metadata", "name")).sort()).toEqual(
        [
          ANALYTICS_DATASOURCE_SECRET,
          "quote-api-ops-database",
          ...(plan.stack === "prod-primary" ? ["exec-report-database", "evidence-ops-database"] : []),
        ].sort(),
      );
    }
    // The primary owns the login's secret and rotates it on the service-role window.
    const rotation = primary.resources.find(
      (r) =>
        r.type === "aws:secretsmanager/secretRotation:SecretRotation" &&
        r.props["secretId"] === SECRET_NAMES.databaseOpsRole,
    );
    expect(get(rotation?.props, "rotationRules", "automaticallyAfterDays")).toBe(90);
  });
});

describe("secret rotation dates", () => {
  it("has the API watch every platform secret, in its own region, with a config its loader accepts", () => {
    for (const { plan, region } of stacks()) {
      const api = plan.resources.find(
        (r) => r.type === "kubernetes:apps/v1:Deployment" && get(r.props, "metadata", "name") === "quote-api",
      )!;
      const env = get(api.props, "spec", "template", "spec", "containers", 0, "env") as {
        name: string;
        value?: string;
      }[];
      const values = Object.fromEntries(
        env.filter((e) => e.value !== undefined && !e.name.endsWith("_FILE")).map((e) => [e.name, e.value]),
      );
      // The secrets are mounted files at run time (stacks/contract.test.ts reads them); the rest as deployed.
      const config = parseAppConfig({ ...values, DATABASE_URL: "postgres://freight_app@db/freight" });
      expect(config.AWS_REGION).toBe(region);
      expect(parseWatchedSecrets(config.SECRETS_ROTATION_WATCH)).toEqual(
        PLATFORM_SECRETS.map((s) => ({ label: rotationLabel(s), secretId: SECRET_NAMES[s] })),
      );
    }
  });

  it("has the runner and the operators watch the secrets they use, with configs their loaders accept and DescribeSecret by IRSA", () => {
    const processes = [
      { deployment: "runner", parse: parseRunnerConfig, login: "runner", used: SECRETS_USED.runner },
      {
        deployment: "freight-operators",
        parse: parseOperatorConfig,
        login: "operator",
        used: SECRETS_USED.operators,
      },
    ] as const;
    for (const { plan, region } of stacks()) {
      for (const p of processes) {
        const deployment = plan.resources.find(
          (r) =>
            r.type === "kubernetes:apps/v1:Deployment" && get(r.props, "metadata", "name") === p.deployment,
        )!;
        const env = get(deployment.props, "spec", "template", "spec", "containers", 0, "env") as {
          name: string;
          value?: string;
        }[];
        const values = Object.fromEntries(
          env.filter((e) => e.value !== undefined && !e.name.endsWith("_FILE")).map((e) => [e.name, e.value]),
        );
        // The mounted secrets (stacks/contract.test.ts reads them) stand in as values.
        const config = p.parse({
          ...values,
          DATABASE_URL: `postgres://freight_${p.login}@db/freight`,
          ...(p.login === "runner" ? { LLM_API_KEY: "mounted", WORKFLOW_AUTOMATION_API_KEY: "mounted" } : {}),
        });
        expect(config.AWS_REGION, p.deployment).toBe(region);
        expect(parseWatchedSecrets(config.SECRETS_ROTATION_WATCH), p.deployment).toEqual(
          PLATFORM_SECRETS.filter((s) => (p.used as readonly string[]).includes(s)).map((s) => ({
            label: rotationLabel(s),
            secretId: SECRET_NAMES[s],
          })),
        );
        // The role its ServiceAccount assumes (IRSA) carries the describe policy.
        const account = plan.resources.find(
          (r) =>
            r.type === "kubernetes:core/v1:ServiceAccount" &&
            get(r.props, "metadata", "name") ===
              get(deployment.props, "spec", "template", "spec", "serviceAccountName"),
        )!;
        const roleArn = String(get(account.props, "metadata", "annotations", "eks.amazonaws.com/role-arn"));
        const role = plan.resources.find(
          (r) => r.type === "aws:iam/role:Role" && roleArn.includes(`/${r.name}`),
        );
        expect(role, `${p.deployment}'s IRSA role (${roleArn})`).toBeDefined();
        const attached = plan.resources
          .filter(
            (r) =>
              r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" &&
              new RegExp(`^${role!.name}-\\d+$`).test(r.name),
          )
          .map((r) => String(r.props["policyArn"]));
        expect(
          attached.some((arn) => /:policy\/secrets-describe-/.test(arn)),
          `${p.deployment} may DescribeSecret (${attached.join(", ")})`,
        ).toBe(true);
      }
    }
  });

  it("grants the API DescribeSecret on exactly the platform secrets of its region, and nothing more", () => {
    for (const { plan, region } of stacks()) {
      const describe = named(plan, "aws:iam/policy:Policy", "secrets-describe");
      const [statement, ...others] = policyStatements(describe);
      expect(others).toEqual([]);
      expect(statement!.Action).toEqual(["secretsmanager:DescribeSecret"]);
      // The same ARNs the secret sync may read (tested to be exactly the platform secrets).
      const read = policyStatements(named(plan, "aws:iam/policy:Policy", "secrets-read")).find((s) =>
        s.Action.includes("secretsmanager:GetSecretValue"),
      )!;
      expect(statement!.Resource).toEqual(read.Resource);
      expect(statement!.Resource).toHaveLength(PLATFORM_SECRETS.length);
      for (const arn of statement!.Resource)
        expect(arn).toMatch(new RegExp(`^arn:aws:secretsmanager:${region}:`));

      const attached = plan.resources
        .filter(
          (r) =>
            r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && r.name.startsWith("quote-api-"),
        )
        .map((r) => String(r.props["policyArn"]));
      expect(attached.some((arn) => /:policy\/secrets-describe-/.test(arn))).toBe(true);
    }
  });

  it("exports each secret under a label the rotation alerts give the same window as its rotation schedule", () => {
    const { serviceRolePattern, serviceRoleDays, otherDays } = OPERATIONS.secretRotation;
    // PromQL regexes are RE2, fully anchored; (?i) is RE2's case-insensitive flag.
    const serviceRole = new RegExp(`^(?:${serviceRolePattern.replace("(?i)", "")})$`, "i");
    for (const secret of PLATFORM_SECRETS) {
      const alertWindow = serviceRole.test(rotationLabel(secret)) ? serviceRoleDays : otherDays;
      expect(alertWindow, `${secret} (${rotationLabel(secret)})`).toBe(ROTATION_DAYS[secret]);
    }
  });
});
