// The capability checks recognise a wired region: a copy of the primary's plan with every capability
// added the way issue 14 asks for (failover configured, billing on, schedules, migrations and the
// probe around the API, Alertmanager receivers, the Grafana datasource) passes every check, and
// each addition taken away again is named. The contract test then holds the real stacks to the
// same checks; this shows the checks can pass before the wiring lands.
import { beforeAll, describe, expect, it } from "vitest";

import { billingRole, billingRoleBinding } from "../operators/api/rbac.ts";
import { DEFAULT_PLANS } from "../app/db/plans.ts";
import { apiVersion as platformApiVersion } from "../operators/api/group.ts";
import { CAPABILITIES, regionDeployment, type RegionDeployment } from "./capabilities.ts";
import { kubernetesManifests } from "./manifests.ts";
import { planStack, type PlannedResource, type PlannedStack } from "./plan.ts";

const db = "postgres://{{ .username | urlquery }}:{{ .password | urlquery }}@db.internal:5432/freight";

interface Container {
  name: string;
  command?: string[];
  env: { name: string; value?: string; valueFrom?: unknown }[];
}

function container(plan: PlannedStack, deployment: string): Container {
  const r = plan.resources.find(
    (x) =>
      x.type === "kubernetes:apps/v1:Deployment" &&
      (x.props["metadata"] as { name: string }).name === deployment,
  )!;
  return (r.props["spec"] as { template: { spec: { containers: Container[] } } }).template.spec
    .containers[0]!;
}

const secret = (name: string, key: string) => ({ name: key, valueFrom: { secretKeyRef: { name, key } } });

/** The primary's plan with every capability wired. */
function wire(base: PlannedStack): PlannedStack {
  const plan = structuredClone(base);
  const urn = (type: string, name: string) => `urn:pulumi:${plan.stack}::${plan.project}::${type}::${name}`;
  const add = (type: string, name: string, props: Record<string, unknown>, dependsOn: string[] = []) => {
    const resource: PlannedResource = { urn: urn(type, name), type, name, props, opts: { dependsOn } };
    plan.resources.push(resource);
    return resource.urn;
  };
  const find = (type: string, name: string) =>
    plan.resources.find((r) => r.type === type && (r.props["metadata"] as { name?: string })?.name === name)!;

  // Failover: FAILOVER_* with both AWS drivers, an IRSA role on the operators' account, the object.
  const operators = container(plan, "freight-operators");
  for (const [name, value] of Object.entries({
    FAILOVER_PRIMARY_HEALTH_URL: "https://api-use1.freightrate.example/readyz",
    FAILOVER_SECONDARY_HEALTH_URL: "https://api-usw2.freightrate.example/readyz",
    FAILOVER_DATABASE_DRIVER: "rds",
    FAILOVER_TRAFFIC_DRIVER: "routing-row+route53",
    RDS_PRIMARY_INSTANCE: "us-east-1:freight-us-east-1",
    RDS_SECONDARY_INSTANCE: "us-west-2:freight-us-west-2",
    ROUTE53_HOSTED_ZONE_ID: "Z0123456789ABCDEFGHIJ",
    ROUTE53_RECORD_NAME: "api.freightrate.example",
    ROUTE53_PRIMARY_TARGET: "api-use1.freightrate.example",
    ROUTE53_SECONDARY_TARGET: "api-usw2.freightrate.example",
  }))
    operators.env.push({ name, value });
  for (const key of [
    "FAILOVER_PRIMARY_DB_ADMIN_URL",
    "FAILOVER_SECONDARY_DB_ADMIN_URL",
    "FAILOVER_PRIMARY_DB_OPERATOR_URL",
    "FAILOVER_SECONDARY_DB_OPERATOR_URL",
  ])
    operators.env.push(secret("failover-databases", key));
  add("kubernetes:external-secrets.io/v1:ExternalSecret", "failover-databases", {
    metadata: { name: "failover-databases", namespace: "freight-system" },
    spec: {
      secretStoreRef: { kind: "ClusterSecretStore", name: "aws-secrets-manager" },
      target: {
        name: "failover-databases",
        template: {
          data: Object.fromEntries(
            ["PRIMARY_DB_ADMIN", "SECONDARY_DB_ADMIN", "PRIMARY_DB_OPERATOR", "SECONDARY_DB_OPERATOR"].map(
              (k) => [`FAILOVER_${k}_URL`, db],
            ),
          ),
        },
      },
      dataFrom: [{ extract: { key: "freight/database-operator-role" } }],
    },
  });
  const operatorsAccount = find("kubernetes:core/v1:ServiceAccount", "freight-operators");
  (operatorsAccount.props["metadata"] as Record<string, unknown>)["annotations"] = {
    "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/freight-operators",
  };
  add(`kubernetes:${platformApiVersion}:RegionFailover`, "prod", {
    metadata: { name: "prod", namespace: "freight-system" },
    spec: { activeRegion: "primary" },
  });
  for (const p of DEFAULT_PLANS)
    add(`kubernetes:${platformApiVersion}:Plan`, p.id, { metadata: { name: p.id } });

  // The quote API: peer URL, billing with its secrets, rotation dates; the billing Role.
  const api = container(plan, "quote-api");
  api.env.push(
    { name: "REGION_PEER_URL", value: "https://api-usw2.freightrate.example" },
    { name: "BILLING", value: "on" },
    secret("billing", "STRIPE_SECRET_KEY"),
    secret("billing", "STRIPE_WEBHOOK_SECRET"),
    secret("billing", "BILLING_DATABASE_URL"),
    secret("billing", "SECRETS_LAST_ROTATED"),
  );
  add("kubernetes:external-secrets.io/v1:ExternalSecret", "billing", {
    metadata: { name: "billing", namespace: "freight" },
    spec: {
      secretStoreRef: { kind: "ClusterSecretStore", name: "aws-secrets-manager" },
      target: { name: "billing" },
      data: [
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "BILLING_DATABASE_URL",
        "SECRETS_LAST_ROTATED",
      ].map((secretKey) => ({ secretKey, remoteRef: { key: `freight/${secretKey.toLowerCase()}` } })),
    },
  });
  for (const m of [billingRole(), billingRoleBinding({ namespace: "freight", name: "quote-api" })])
    add(`kubernetes:${m.apiVersion}:${m.kind}`, `billing-${m.kind}`, m);

  // The runner posts notify_ops to the ops webhook; Alertmanager pages and tickets to it too.
  container(plan, "runner").env.push({
    name: "OPS_WEBHOOK_URL",
    value: "https://hooks.freightrate.example/ops",
  });
  const stack = plan.resources.find(
    (r) => r.type === "kubernetes:helm.sh/v3:Release" && r.props["chart"] === "kube-prometheus-stack",
  )!;
  const values = stack.props["values"] as Record<string, unknown>;
  values["alertmanager"] = {
    config: {
      route: {
        receiver: "ops",
        routes: [
          { receiver: "ops", matchers: ['severity="page"'] },
          { receiver: "ops", matchers: ['severity="ticket"'] },
        ],
      },
      receivers: [{ name: "ops", webhook_configs: [{ url: "https://hooks.freightrate.example/alerts" }] }],
    },
  };
  values["grafana"] = {
    ...(values["grafana"] as object),
    additionalDataSources: [{ name: "business", type: "grafana-postgresql-datasource" }],
  };

  // Scheduled work, and migrations before / the probe after the API.
  const job = (name: string, command: string[], env: unknown[]) => ({
    template: {
      spec: { restartPolicy: "Never", containers: [{ name, image: "quote-api:1", command, env }] },
    },
  });
  const cron = (name: string, schedule: string, command: string[], env: unknown[]) =>
    add("kubernetes:batch/v1:CronJob", name, {
      metadata: { name, namespace: "freight" },
      spec: { schedule, jobTemplate: { spec: job(name, command, env) } },
    });
  cron(
    "usage-warnings",
    "0 2 * * *",
    ["node", "app/ops/usage-warnings.ts"],
    [secret("ops-jobs", "OPERATOR_DATABASE_URL")],
  );
  cron(
    "billing-reconcile",
    "0 3 * * *",
    ["npm", "run", "billing:reconcile"],
    [secret("billing", "BILLING_DATABASE_URL"), secret("billing", "STRIPE_SECRET_KEY")],
  );
  cron(
    "exec-report",
    "0 6 * * 1",
    ["node", "dashboards/report/main.ts", "--prometheus-url", "http://prometheus:9090"],
    [secret("ops-jobs", "OPS_DATABASE_URL")],
  );
  add("kubernetes:external-secrets.io/v1:ExternalSecret", "ops-jobs", {
    metadata: { name: "ops-jobs", namespace: "freight" },
    spec: {
      secretStoreRef: { kind: "ClusterSecretStore", name: "aws-secrets-manager" },
      target: {
        name: "ops-jobs",
        template: { data: { OPERATOR_DATABASE_URL: db, OPS_DATABASE_URL: db, MIGRATIONS_DATABASE_URL: db } },
      },
      dataFrom: [{ extract: { key: "freight/database-operator-role" } }],
    },
  });
  const migrations = add("kubernetes:batch/v1:Job", "migrate", {
    metadata: { name: "migrate", namespace: "freight" },
    spec: job("migrate", ["npm", "run", "migrate"], [secret("ops-jobs", "MIGRATIONS_DATABASE_URL")]),
  });
  const apiDeployment = find("kubernetes:apps/v1:Deployment", "quote-api");
  apiDeployment.opts = {
    ...apiDeployment.opts,
    dependsOn: [...(apiDeployment.opts?.dependsOn ?? []), migrations],
  };
  add(
    "kubernetes:batch/v1:Job",
    "rls-probe",
    {
      metadata: { name: "rls-probe", namespace: "freight" },
      spec: job(
        "rls-probe",
        ["node", "app/ops/rls-probe.ts"],
        [secret("quote-api-database", "DATABASE_URL")],
      ),
    },
    [apiDeployment.urn],
  );
  return plan;
}

let base: PlannedStack;
let wired: RegionDeployment;

beforeAll(async () => {
  base = await planStack("prod-primary");
  const plan = wire(base);
  wired = regionDeployment(plan, kubernetesManifests(plan));
});

describe("capability checks", () => {
  it("pass for a region with every capability wired", () => {
    const missing = CAPABILITIES.flatMap((c) => c.missing(wired).map((m) => `${c.id}: ${m}`));
    expect(missing).toEqual([]);
    const refused = wired.processes.flatMap((p) => [...p.envProblems, ...(p.refused ? [p.refused] : [])]);
    expect(refused).toEqual([]);
  });

  it("name what a region lacks when a capability is taken away again", () => {
    const unwired = regionDeployment(base, kubernetesManifests(base));
    const failing = CAPABILITIES.filter((c) => c.missing(unwired).length > 0).map((c) => c.id);
    expect(failing).toContain("failover-controller");
    expect(failing).toContain("migrations-before-traffic");

    const plan = wire(base);
    const api = plan.resources.find(
      (r) =>
        r.type === "kubernetes:apps/v1:Deployment" &&
        (r.props["metadata"] as { name: string }).name === "quote-api",
    )!;
    api.opts = { ...api.opts, dependsOn: [] };
    const operators = container(plan, "freight-operators");
    operators.env = operators.env.filter((e) => e.name !== "FAILOVER_DATABASE_DRIVER");
    const d = regionDeployment(plan, kubernetesManifests(plan));
    const byId = (id: string) => CAPABILITIES.find((c) => c.id === id)!.missing(d);
    expect(byId("migrations-before-traffic")).toEqual([
      "Deployment quote-api does not wait for Job migrate (dependsOn)",
    ]);
    expect(byId("failover-controller")).toEqual(["FAILOVER_DATABASE_DRIVER is postgres, not rds"]);
  });
});
