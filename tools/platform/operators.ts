// Test support for the operators: a real local control plane with our CRDs installed, a real
// PostgreSQL with the app schema, and the manager run as a real child process (so tests can kill
// it, restart it and run two of it).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type pg from "pg";
import { parseAllDocuments } from "yaml";
import { startTestDatabase, type TestDatabase } from "../postgres/test-database.ts";
import { startCluster, type LocalCluster } from "../localcluster/fixture.ts";
import { freePort } from "../postgres/server.ts";
import { admissionPath, crdsPath, rbacPath } from "../../operators/api/generate.ts";
import { apiVersion } from "../../operators/api/group.ts";
import type { ResourceRef } from "../../operators/api/crd.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import type { KubeObject } from "../../operators/api/types.ts";
import { builtin, isNotFound, KubeClient } from "../../operators/runtime/kube.ts";
import { waitForTenantAdmission } from "./local-deploy.ts";
import { OPERATORS_NODE_FLAGS, OPERATORS_SCRIPT } from "../../infra/workloads/operator-process.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..");
const node = join(repoRoot, "node_modules", ".bin", "node");

export const TENANT_NAMESPACE = "tenants";

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Server-side applies every object of a multi-document YAML file (CRDs, RBAC) as the admin. */
export async function applyManifest(client: KubeClient, path: string): Promise<KubeObject[]> {
  const objects = parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
  for (const object of objects) {
    const [group, version] = object.apiVersion!.includes("/")
      ? object.apiVersion!.split("/")
      : ["", object.apiVersion!];
    const kind = object.kind!;
    const plural =
      kind === "Namespace"
        ? "namespaces"
        : kind === "ServiceAccount"
          ? "serviceaccounts"
          : kind === "CustomResourceDefinition"
            ? "customresourcedefinitions"
            : kind === "ClusterRole"
              ? "clusterroles"
              : kind === "ClusterRoleBinding"
                ? "clusterrolebindings"
                : kind === "MutatingAdmissionPolicy"
                  ? "mutatingadmissionpolicies"
                  : kind === "MutatingAdmissionPolicyBinding"
                    ? "mutatingadmissionpolicybindings"
                    : kind === "Role"
                      ? "roles"
                      : kind === "RoleBinding"
                        ? "rolebindings"
                        : undefined;
    if (!plural) throw new Error(`applyManifest: no plural known for kind ${kind}`);
    const namespaced = ![
      "Namespace",
      "CustomResourceDefinition",
      "ClusterRole",
      "ClusterRoleBinding",
      "MutatingAdmissionPolicy",
      "MutatingAdmissionPolicyBinding",
    ].includes(kind);
    await client.apply({ group: group!, version: version!, plural, kind, namespaced }, object, {
      fieldManager: "platform-tests",
    });
  }
  return objects;
}

export interface OperatorPlatform {
  cluster: LocalCluster;
  db: TestDatabase;
  admin: KubeClient;
  stop(): Promise<void>;
}

/**
 * A control plane with the CRDs, RBAC and admission policies installed, the tenants namespace, and
 * a database.
 */
export async function startOperatorPlatform(
  name = "operators",
  options: { seed?: "plans" | "none" } = {},
): Promise<OperatorPlatform> {
  const [cluster, db] = await Promise.all([
    startCluster({ name }),
    startTestDatabase({ seed: options.seed ?? "none" }),
  ]);
  const admin = new KubeClient(cluster.kubeConfig, { userAgent: "platform-tests" });
  try {
    await applyManifest(admin, crdsPath);
    await applyManifest(admin, rbacPath);
    // As the stacks deploy it: Tenants get the offboarding finalizer when they are created.
    await applyManifest(admin, admissionPath);
    await admin.apply(
      builtin.namespaces,
      { apiVersion: "v1", kind: "Namespace", metadata: { name: TENANT_NAMESPACE } },
      { fieldManager: "platform-tests" },
    );
    for (const plural of ["plans", "tenants", "ratelimitpolicies", "pricingmodels"]) {
      await waitFor(`CRD ${plural} established`, async () => {
        const crd = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
          builtin.crds,
          `${plural}.platform.freight.dev`,
        );
        return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
      });
    }
    await waitForTenantAdmission(admin, TENANT_NAMESPACE);
  } catch (error) {
    await Promise.all([cluster.stop(), db.stop()]);
    throw error;
  }
  return {
    cluster,
    db,
    admin,
    async stop() {
      admin.close();
      await Promise.all([cluster.stop(), db.stop()]);
    },
  };
}

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  probeUrl: string;
  logPath: string;
  logs(): string;
  /** SIGKILL: no cleanup, no lease release, the way a node loss looks. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

const logDir = mkdtempSync(join(tmpdir(), "operator-logs-"));
process.once("exit", () => rmSync(logDir, { recursive: true, force: true }));
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export async function startOperator(options: {
  kubeconfigPath: string;
  databaseUrl: string;
  identity?: string;
  env?: Record<string, string>;
  /** How long to wait for /healthz; a loaded machine may need more than the default 30 s. */
  readyTimeoutMs?: number;
}): Promise<OperatorProcess> {
  const identity = options.identity ?? `operator-${Math.random().toString(36).slice(2, 8)}`;
  const port = await freePort();
  const logPath = join(logDir, `${identity}.log`);
  const log = createWriteStream(logPath, { flags: "a" });
  // The heap flags the stacks deploy (infra/workloads/operator-process.ts), so memory measured here
  // is memory in the pod.
  const child = spawn(node, [...OPERATORS_NODE_FLAGS, join(repoRoot, OPERATORS_SCRIPT)], {
    env: {
      ...process.env,
      KUBECONFIG: options.kubeconfigPath,
      DATABASE_URL: options.databaseUrl,
      POD_NAME: identity,
      PROBE_PORT: String(port),
      PROBE_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      // A test that dies or times out without stop() must not leave a manager running.
      EXIT_WITH_STDIN: "true",
      ...options.env,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolveExit) =>
    child.once("exit", (code) => {
      children.delete(child);
      resolveExit(code);
    }),
  );
  const probeUrl = `http://127.0.0.1:${port}`;
  const logs = () => readFileSync(logPath, "utf8");
  try {
    await waitFor(
      `operator ${identity} probes`,
      async () => {
        if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}:\n${logs()}`);
        return (await fetch(`${probeUrl}/healthz`)).ok;
      },
      { timeoutMs: options.readyTimeoutMs ?? 30_000 },
    );
  } catch (error) {
    // A manager that never answered must not keep reconciling behind the test's back.
    child.kill("SIGKILL");
    await exited;
    throw error;
  }
  return {
    child,
    identity,
    probeUrl,
    logPath,
    logs,
    exited,
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** SSA as a human or another system would edit our objects (field manager "platform-tests"). */
export function applyAs<T>(
  client: KubeClient,
  ref: ResourceRef,
  object: Omit<KubeObject, "apiVersion"> & Record<string, unknown>,
  fieldManager = "platform-tests",
): Promise<T> {
  return client.apply<T>(ref, { apiVersion, ...object } as KubeObject, { fieldManager });
}

export async function deleteIfExists(
  client: KubeClient,
  ref: ResourceRef,
  name: string,
  namespace?: string,
): Promise<void> {
  try {
    await client.delete(ref, name, namespace);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export async function metricValue(
  probeUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${probeUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`)))
      total += Number(match[3]);
  }
  return total;
}

/** Ready and RateLimitsApplied, with the quotes entitlement at `included`: a tenant fully converged. */
export const tenantReady = (t: Tenant, included: number): boolean =>
  !!t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
  !!t.status.conditions.some((c) => c.type === "RateLimitsApplied" && c.status === "True") &&
  t.status.entitlements?.find((e) => e.meter === "quotes")?.included === included;

/**
 * Object writes (not lease renewals) an operator process has sent, and the rows written in the
 * operators' tables (`superuser` reads the statistics): equal before and after a window means the
 * window was write-free.
 */
export async function operatorWrites(
  probeUrl: string,
  superuser: pg.Pool,
): Promise<{ api: number; rows: number }> {
  const text = await (await fetch(`${probeUrl}/metrics`)).text();
  let api = 0;
  for (const line of text.split("\n")) {
    const m =
      /^rest_client_requests_total\{method="(POST|PUT|PATCH|DELETE)",resource="([^"]+)",code="\d+"\} (\d+)/.exec(
        line,
      );
    if (m && m[2] !== "leases") api += Number(m[3]);
  }
  await superuser.query("SELECT pg_stat_force_next_flush()");
  const { rows } = await superuser.query<{ n: string }>(
    `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables
      WHERE relname IN ('tenants', 'entitlements', 'tenant_rate_limits', 'plans', 'plan_meters', 'plan_rate_limits', 'agent_tasks')`,
  );
  return { api, rows: Number(rows[0]!.n) };
}
