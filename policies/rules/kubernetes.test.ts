import { describe, expect, it } from "vitest";
import { UNKNOWN_ARRAY, UNKNOWN_OBJECT, UNKNOWN_STRING, check, plan, res, summary } from "../testing.ts";
import {
  DEPLOYMENT_TYPE,
  PDB_TYPE,
  isPinnedByDigest,
  k8sApiPdb,
  k8sImageDigest,
  k8sNonRoot,
  k8sProbes,
  k8sResources,
  k8sSecretsAsFiles,
  k8sTokenOnlyForBoundAccounts,
  kubernetesRules,
} from "./kubernetes.ts";

const LABELS = { "app.kubernetes.io/name": "quote-api", "app.kubernetes.io/part-of": "freight" };

const CONTAINER = {
  name: "api",
  image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/quote-api@sha256:${"a".repeat(64)}`,
  resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
  livenessProbe: { httpGet: { path: "/livez", port: 8080 } },
  readinessProbe: { httpGet: { path: "/readyz", port: 8080 } },
  securityContext: { allowPrivilegeEscalation: false },
};

function deployment(
  name: string,
  container: Record<string, unknown> = {},
  pod: Record<string, unknown> = {},
) {
  return res(DEPLOYMENT_TYPE, `workloads-${name}`, {
    metadata: { name, namespace: "freight", labels: LABELS },
    spec: {
      replicas: 3,
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 10001 },
          serviceAccountName: name,
          automountServiceAccountToken: false,
          containers: [{ ...CONTAINER, ...container }],
          ...pod,
        },
      },
    },
  });
}

const pdb = (spec: Record<string, unknown> = {}, namespace = "freight") =>
  res(PDB_TYPE, "workloads-quote-api", {
    metadata: { name: "quote-api", namespace },
    spec: { maxUnavailable: 1, selector: { matchLabels: LABELS }, ...spec },
  });

describe("Kubernetes workload rules", () => {
  it("pass the API as stacks/program.ts deploys it", async () => {
    expect(summary(await check(plan([deployment("quote-api"), pdb()]), kubernetesRules))).toEqual([]);
  });

  it("flag missing requests and limits, naming the container and fields", async () => {
    const report = await check(
      plan([deployment("runner", { resources: { requests: { cpu: "1" } } })]),
      k8sResources,
    );
    expect(report.violations[0]?.message).toContain(
      'container "api" lacks resources.requests.memory, resources.limits.memory',
    );
  });

  it("flag missing probes on long-running workloads but not on Jobs", async () => {
    const report = await check(plan([deployment("runner", { livenessProbe: undefined })]), k8sProbes);
    expect(report.violations[0]?.message).toContain('container "api" has no livenessProbe');
    const job = res("kubernetes:batch/v1:Job", "migrate", {
      spec: { template: { spec: { containers: [{ name: "migrate", image: "app:1.0" }] } } },
    });
    expect(summary(await check(plan([job]), k8sProbes))).toEqual([]);
  });

  it("flag root, maybe-root and privileged containers", async () => {
    const root = await check(plan([deployment("a", { securityContext: { runAsUser: 0 } })]), k8sNonRoot);
    expect(root.violations[0]?.message).toContain("runs as root (runAsUser: 0)");
    const maybe = await check(plan([deployment("b", {}, { securityContext: {} })]), k8sNonRoot);
    expect(maybe.violations[0]?.message).toContain("may run as root (runAsNonRoot is not true)");
    const privileged = await check(
      plan([deployment("c", { securityContext: { privileged: true } })]),
      k8sNonRoot,
    );
    expect(privileged.violations[0]?.message).toContain("runs privileged");
  });

  it("check init containers for non-root too", async () => {
    const init = { name: "wait-db", image: "busybox:1.37", securityContext: { runAsUser: 0 } };
    const report = await check(plan([deployment("d", {}, { initContainers: [init] })]), k8sNonRoot);
    expect(report.violations[0]?.message).toContain('init container "wait-db" runs as root');
  });

  it("flag images pulled by tag, naming the container, the image and the config that fixes it", async () => {
    for (const image of [
      "registry.example/quote-api:latest",
      "registry.example/quote-api:2026.11.26-3f9c2ab",
      "registry.example:5000/quote-api",
      "registry.example/quote-api@sha256:abc",
    ]) {
      const report = await check(plan([deployment("e", { image })]), k8sImageDigest);
      expect(summary(report), image).toEqual(["k8s-image-pinned-by-digest: workloads-e"]);
      expect(report.violations[0]?.message).toContain(
        `container "api" uses "${image}", which is not pinned by digest`,
      );
      expect(report.violations[0]?.remediation).toContain(
        "pulumi config set freight:quoteApiImageTag '<tag>@sha256:<digest>'",
      );
    }
    const tagged = `registry.example/quote-api:2026.11.26-3f9c2ab@sha256:${"b".repeat(64)}`;
    expect(summary(await check(plan([deployment("f", { image: tagged })]), k8sImageDigest))).toEqual([]);
    expect(isPinnedByDigest(`quote-api@sha256:${"a".repeat(64)}`)).toBe(true);
    expect(isPinnedByDigest("quote-api:1.2.3")).toBe(false);
  });

  it("flag a digest-less image in a CronJob's pod too", async () => {
    const cron = res("kubernetes:batch/v1:CronJob", "scheduled-jobs-usage-warnings", {
      metadata: { name: "usage-warnings", namespace: "freight" },
      spec: {
        jobTemplate: {
          spec: { template: { spec: { containers: [{ name: "usage-warnings", image: "app:1.0" }] } } },
        },
      },
    });
    expect(summary(await check(plan([cron]), k8sImageDigest))).toEqual([
      "k8s-image-pinned-by-digest: scheduled-jobs-usage-warnings",
    ]);
  });

  it("require a PodDisruptionBudget selecting the API's pods in its namespace", async () => {
    expect(summary(await check(plan([deployment("quote-api")]), k8sApiPdb))).toEqual([
      "k8s-api-pod-disruption-budget: workloads-quote-api",
    ]);
    const otherNamespace = await check(plan([deployment("quote-api"), pdb({}, "default")]), k8sApiPdb);
    expect(summary(otherNamespace)).toEqual(["k8s-api-pod-disruption-budget: workloads-quote-api"]);
    const wrongSelector = pdb({ selector: { matchLabels: { "app.kubernetes.io/name": "runner" } } });
    expect(summary(await check(plan([deployment("quote-api"), wrongSelector]), k8sApiPdb))).toHaveLength(1);
    const noBudget = pdb({ maxUnavailable: undefined });
    expect(summary(await check(plan([deployment("quote-api"), noBudget]), k8sApiPdb))).toHaveLength(1);
    // Only the API needs one; the runner drains freely.
    expect(summary(await check(plan([deployment("runner")]), k8sApiPdb))).toEqual([]);
  });

  describe("ServiceAccount tokens", () => {
    const RBAC = "kubernetes:rbac.authorization.k8s.io/v1";
    const operators = (pod: Record<string, unknown> = {}) =>
      deployment("freight-operators", {}, { automountServiceAccountToken: true, ...pod });
    const role = res(`${RBAC}:Role`, "operators-role", {
      metadata: { name: "freight-operators", namespace: "freight" },
      rules: [{ apiGroups: ["platform.freight.dev"], resources: ["tenants"], verbs: ["get", "patch"] }],
    });
    const binding = (roleRef: Record<string, unknown>, namespace = "freight", kind = "RoleBinding") =>
      res(`${RBAC}:${kind}`, `operators-${kind}`, {
        metadata: { name: "freight-operators", namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
        subjects: [{ kind: "ServiceAccount", name: "freight-operators", namespace: "freight" }],
      });
    const tokenRule = (resources: Parameters<typeof plan>[0]) =>
      check(plan(resources), k8sTokenOnlyForBoundAccounts).then(summary);

    it("pass a pod with no token, and a token whose account is bound to a Role or ClusterRole of the plan", async () => {
      expect(await tokenRule([deployment("runner")])).toEqual([]);
      expect(
        await tokenRule([operators(), role, binding({ kind: "Role", name: "freight-operators" })]),
      ).toEqual([]);
      const clusterRole = res(`${RBAC}:ClusterRole`, "operators-cluster-role", {
        metadata: { name: "freight-operators" },
        rules: [],
      });
      const clusterBinding = binding(
        { kind: "ClusterRole", name: "freight-operators" },
        "",
        "ClusterRoleBinding",
      );
      expect(await tokenRule([operators(), clusterRole, clusterBinding])).toEqual([]);
    });

    it("flag a token whose account nothing grants, naming the account and the fix", async () => {
      const report = await check(plan([operators()]), k8sTokenOnlyForBoundAccounts);
      expect(summary(report)).toEqual(["k8s-token-only-for-bound-accounts: workloads-freight-operators"]);
      expect(report.violations[0]?.message).toContain(
        "mounts a ServiceAccount token for freight/freight-operators, which no RoleBinding or ClusterRoleBinding of this stack binds",
      );
      expect(report.violations[0]?.remediation).toContain(
        "set automountServiceAccountToken: false in its pod spec",
      );
    });

    it("count the Kubernetes default (unset means mounted) and the account's own setting", async () => {
      const unset = deployment("runner", {}, { automountServiceAccountToken: undefined });
      expect(await tokenRule([unset])).toEqual(["k8s-token-only-for-bound-accounts: workloads-runner"]);
      const account = (automount: boolean) =>
        res("kubernetes:core/v1:ServiceAccount", "runner-account", {
          metadata: { name: "runner", namespace: "freight" },
          automountServiceAccountToken: automount,
        });
      expect(await tokenRule([unset, account(false)])).toEqual([]);
      expect(await tokenRule([unset, account(true)])).toHaveLength(1);
    });

    it("flag a projected serviceAccountToken volume like a mounted token", async () => {
      const projected = deployment(
        "runner",
        {},
        {
          volumes: [
            {
              name: "token",
              projected: { sources: [{ serviceAccountToken: { audience: "vault", path: "t" } }] },
            },
          ],
        },
      );
      expect(await tokenRule([projected])).toEqual(["k8s-token-only-for-bound-accounts: workloads-runner"]);
    });

    it("do not count a binding to a Role the plan lacks, or one in another namespace", async () => {
      expect(
        await tokenRule([operators(), binding({ kind: "Role", name: "freight-operators" })]),
      ).toHaveLength(1);
      const elsewhere = binding({ kind: "Role", name: "freight-operators" }, "tenants");
      expect(await tokenRule([operators(), role, elsewhere])).toHaveLength(1);
    });

    it("give no verdict while a binding's subjects are unknown", async () => {
      const pending = res(`${RBAC}:RoleBinding`, "pending", {
        metadata: { name: "pending", namespace: "freight" },
        roleRef: { kind: "Role", name: "freight-operators" },
        subjects: UNKNOWN_OBJECT,
      });
      expect(await tokenRule([operators(), role, pending])).toEqual([]);
    });
  });

  describe("secrets", () => {
    const mounted = {
      env: [{ name: "DATABASE_URL_FILE", value: "/var/run/secrets/freight/api-database/DATABASE_URL" }],
      volumeMounts: [
        { name: "secret-api-database", mountPath: "/var/run/secrets/freight/api-database", readOnly: true },
      ],
    };
    const volume = { volumes: [{ name: "secret-api-database", secret: { secretName: "api-database" } }] };

    it("pass a secret read from a mounted file", async () => {
      expect(
        summary(await check(plan([deployment("quote-api", mounted, volume)]), k8sSecretsAsFiles)),
      ).toEqual([]);
    });

    it("flag secretKeyRef env and envFrom secretRef, in init containers and CronJobs too, naming each and the fix", async () => {
      const keyRef = {
        env: [
          {
            name: "DATABASE_URL",
            valueFrom: { secretKeyRef: { name: "api-database", key: "DATABASE_URL" } },
          },
        ],
        envFrom: [{ secretRef: { name: "third-party-api-keys" } }, { configMapRef: { name: "settings" } }],
      };
      const report = await check(plan([deployment("quote-api", keyRef)]), k8sSecretsAsFiles);
      expect(report.violations).toHaveLength(1);
      expect(report.violations[0]?.message).toContain(
        'container "api" puts a secret in its environment (env DATABASE_URL from key DATABASE_URL of Secret api-database; envFrom every key of Secret third-party-api-keys)',
      );
      expect(report.violations[0]?.remediation).toMatch(
        /mount the Secret as a read-only volume and set <NAME>_FILE/,
      );

      const cron = res("kubernetes:batch/v1:CronJob", "reconcile", {
        spec: {
          jobTemplate: {
            spec: {
              template: {
                spec: {
                  initContainers: [
                    { name: "wait", image: "x", envFrom: [{ secretRef: { name: "stripe" } }] },
                  ],
                  containers: [{ name: "reconcile", image: "x" }],
                },
              },
            },
          },
        },
      });
      const cronReport = await check(plan([cron]), k8sSecretsAsFiles);
      expect(cronReport.violations[0]?.message).toContain(
        'init container "wait" puts a secret in its environment (envFrom every key of Secret stripe)',
      );
    });

    it("give no verdict while a container's env is unknown", async () => {
      expect(
        summary(await check(plan([deployment("quote-api", { env: UNKNOWN_ARRAY })]), k8sSecretsAsFiles)),
      ).toEqual([]);
    });
  });

  it("do not decide on values unknown during preview", async () => {
    const pending = deployment("quote-api", { image: UNKNOWN_STRING, resources: UNKNOWN_OBJECT });
    const pendingPdb = pdb({ selector: { matchLabels: UNKNOWN_OBJECT } });
    expect(summary(await check(plan([pending, pendingPdb]), kubernetesRules))).toEqual([]);
  });
});
