// Informers against a real API server that is restarted underneath them, and one whose history
// is compacted away while an informer is not watching (410 Gone).
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { createPool } from "../../app/db/pool.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { crdsPath } from "../api/generate.ts";
import { plans, tenants } from "../api/resources.ts";
import type { Tenant } from "../api/tenant.ts";
import {
  applyAs,
  applyManifest,
  startOperator,
  TENANT_NAMESPACE,
  waitFor,
  metricValue,
} from "../../tools/platform/operators.ts";
import {
  startRestartableControlPlane,
  type RestartableControlPlane,
} from "../../tools/platform/restartable.ts";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { Informer } from "./informer.ts";
import { builtin, KubeClient } from "./kube.ts";

let controlPlane: RestartableControlPlane;
let client: KubeClient;
let compacting: LocalCluster;
let compactingClient: KubeClient;
let database: TestDatabase;
const log = pino({ level: "silent" });

const tenant = (name: string, plan = "starter") => ({
  kind: "Tenant",
  metadata: { name, namespace: TENANT_NAMESPACE },
  spec: { plan },
});

beforeAll(async () => {
  [controlPlane, database, compacting] = await Promise.all([
    startRestartableControlPlane("informer"),
    startTestDatabase({ seed: "none" }),
    // No watch cache and compaction every second: watches read etcd history directly, so an old
    // resourceVersion really is gone after a few seconds.
    startCluster({
      name: "compacting",
      apiserverArgs: ["--watch-cache=false", "--etcd-compaction-interval=1s"],
    }),
  ]);
  client = new KubeClient(controlPlane.kubeConfig);
  compactingClient = new KubeClient(compacting.kubeConfig);
  for (const c of [client, compactingClient]) {
    await applyManifest(c, crdsPath);
    await c.apply(
      builtin.namespaces,
      { apiVersion: "v1", kind: "Namespace", metadata: { name: TENANT_NAMESPACE } },
      { fieldManager: "platform-tests" },
    );
    await waitFor("tenants CRD served", async () => (await c.list(tenants)).items !== undefined);
  }
}, 1_800_000);

afterAll(async () => {
  client?.close();
  compactingClient?.close();
  await Promise.all([controlPlane?.destroy(), compacting?.stop()]);
  await database?.stop();
});

describe("Informer", () => {
  it("resumes watching when the API server restarts, relisting only when the server says Gone", async () => {
    const informer = new Informer<Tenant>(client, tenants, { log });
    await applyAs(client, tenants, tenant("steady"));
    const seen: string[] = [];
    informer.on({
      added: (t) => seen.push(`added ${t.metadata.name}`),
      updated: (t) => seen.push(`updated ${t.metadata.name} ${t.spec.plan}`),
    });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await informer.waitForSync();
    await applyAs(client, tenants, tenant("before-restart"));
    await waitFor("added event", () => seen.includes("added before-restart"));

    await controlPlane.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await controlPlane.start();

    await applyAs(client, tenants, tenant("after-restart"));
    await applyAs(client, tenants, tenant("before-restart", "growth"));
    await waitFor(
      "events after the restart",
      () => seen.includes("added after-restart") && seen.includes("updated before-restart growth"),
      { timeoutMs: 30_000 },
    );
    expect(informer.stats.reconnects).toBeGreaterThanOrEqual(1);
    // A restarted API server starts its watch cache at the current revision, so it may answer an
    // older resourceVersion with 410 Gone; the informer must then relist, and only then.
    expect(informer.stats.lists).toBe(1 + informer.stats.relistsAfterGone);
    stop.abort();
    await running;
  }, 120_000);

  it("relists on 410 Gone and reports what changed while it was away, deletions included", async () => {
    const informer = new Informer<Tenant>(compactingClient, tenants, { log });
    const deleted: string[] = [];
    const added: string[] = [];
    informer.on({ deleted: (t) => deleted.push(t.metadata.name), added: (t) => added.push(t.metadata.name) });
    await applyAs(compactingClient, tenants, tenant("gone-while-away"));
    let stop = new AbortController();
    let running = informer.run(stop.signal);
    await informer.waitForSync();
    stop.abort();
    await running;

    // While it is not watching: changes, then enough time and writes for etcd to compact them away.
    await compactingClient.delete(tenants, "gone-while-away", TENANT_NAMESPACE);
    await applyAs(compactingClient, tenants, tenant("while-away"));
    for (let i = 0; i < 4; i++) {
      await applyAs(compactingClient, tenants, tenant("churn", i % 2 ? "a" : "b"));
      await new Promise((r) => setTimeout(r, 1000));
    }

    stop = new AbortController();
    running = informer.run(stop.signal);
    await waitFor("relist after 410", () => informer.stats.relistsAfterGone >= 1, { timeoutMs: 30_000 });
    await waitFor(
      "store caught up",
      () => informer.get({ namespace: TENANT_NAMESPACE, name: "while-away" }) !== undefined,
    );
    expect(deleted).toContain("gone-while-away");
    expect(added).toContain("while-away");
    expect(informer.get({ namespace: TENANT_NAMESPACE, name: "gone-while-away" })).toBeUndefined();
    // The cache holds no managedFields (a large share of each object, read by no controller).
    expect(informer.get({ namespace: TENANT_NAMESPACE, name: "while-away" })!.metadata).not.toHaveProperty(
      "managedFields",
    );
    stop.abort();
    await running;
  }, 60_000);

  it("keeps a running operator reconciling across an API server restart", async () => {
    const operatorDb: pg.Pool = createPool(database.urls.operator, 2);
    const plan = (hardCeiling: number) => ({
      kind: "Plan",
      metadata: { name: "starter" },
      spec: {
        displayName: "Starter",
        rank: 1,
        meters: [{ name: "quotes", included: 5, overageAllowed: false, hardCeiling }],
      },
    });
    await applyAs(client, plans, plan(5));
    // Leader election off: this test is about watches; an outage longer than the renew deadline
    // (10 s) makes a leader step down by design, which the leader-election tests cover.
    const operator = await startOperator({
      kubeconfigPath: controlPlane.kubeconfigPath,
      databaseUrl: database.urls.operator,
      env: { LEADER_ELECT: "false" },
    });
    const ceiling = async (slug: string) =>
      (
        await operatorDb.query(
          "SELECT e.hard_ceiling FROM entitlements e JOIN tenants t ON t.id = e.tenant_id WHERE t.slug = $1 AND e.meter = 'quotes'",
          [slug],
        )
      ).rows[0]?.hard_ceiling as number | undefined;
    try {
      await waitFor("steady provisioned", async () => (await ceiling("steady")) === 5);
      await controlPlane.stop();
      await new Promise((r) => setTimeout(r, 2000));
      await controlPlane.start();
      await applyAs(client, plans, plan(8));
      await applyAs(client, tenants, tenant("born-after-restart"));
      await waitFor("plan change applied after the restart", async () => (await ceiling("steady")) === 8, {
        timeoutMs: 30_000,
      });
      await waitFor(
        "new tenant provisioned after the restart",
        async () => (await ceiling("born-after-restart")) === 8,
      );
      expect(operator.child.exitCode).toBeNull();
      expect(
        await metricValue(operator.probeUrl, "informer_watch_restarts_total", { cause: "error" }),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await operator.stop();
      await operatorDb.end();
    }
  }, 120_000);
});
