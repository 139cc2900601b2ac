// What each write verb on a Tenant costs the local kube-apiserver (`npm run bench:api-verbs`):
// on a fresh control plane with the CRDs installed, N Tenants are written from 64 parallel clients
// with each verb in turn, in several rounds, and the median rate is reported per verb:
//   - create (plain) and create carrying the finalizer;
//   - the finalizer as a JSON merge patch (what the tenant controller sends when it is missing);
//   - status as a server-side apply (the controllers' status writes) and as a JSON merge patch.
// The machine's load average is printed with the numbers; compare verbs within one run.
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { TENANT_FINALIZER } from "../operators/api/group.ts";
import { tenants } from "../operators/api/resources.ts";
import { applyAs, startOperatorPlatform, TENANT_NAMESPACE } from "../tools/platform/operators.ts";

const { values } = parseArgs({
  options: {
    tenants: { type: "string", default: "1000" },
    clients: { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
  },
});
const count = Number(values.tenants);
const clients = Number(values.clients);
const rounds = Number(values.rounds);
if (!Number.isInteger(count) || count < 10 || !Number.isInteger(clients) || clients < 1) {
  throw new Error(
    `--tenants takes a whole number of at least 10 and --clients at least 1; got "${values.tenants}", "${values.clients}"`,
  );
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const log = (line: string) => console.log(`[bench:api-verbs] ${line}`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

log(`load average ${load()}; starting a local control plane`);
const platform = await startOperatorPlatform("api-verbs");
const { admin } = platform;
const rates: Record<string, number[]> = {};
async function measure(verb: string, names: string[], write: (name: string) => Promise<unknown>) {
  const t0 = performance.now();
  await inParallel(names, clients, write);
  const perSecond = Math.round(names.length / ((performance.now() - t0) / 1000));
  (rates[verb] ??= []).push(perSecond);
  log(`${verb}: ${perSecond} writes/s (${names.length} objects, ${clients} clients, load ${load()})`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const spec = { plan: "starter" };
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const condition = (type: string) => ({
    type,
    status: "True",
    reason: "Bench",
    message: "bench",
    lastTransitionTime: stamp,
    observedGeneration: 1,
  });
  const ssaStatus = (name: string, manager: string, status: object) =>
    admin.apply(
      tenants,
      {
        apiVersion: `${tenants.group}/${tenants.version}`,
        kind: "Tenant",
        metadata: { name, namespace: TENANT_NAMESPACE },
        status,
      } as never,
      { fieldManager: manager, subresource: "status", force: true },
    );
  const mergeStatus = (name: string, manager: string, status: object) =>
    admin.request("PATCH", admin.path(tenants, TENANT_NAMESPACE, name, "status"), {
      query: { fieldManager: manager },
      body: { status },
      contentType: "application/merge-patch+json",
    });
  // The machine is shared and its load moves within seconds: every verb runs once per round on
  // its own objects, and the median round is reported, so the verbs are compared under the same load.
  for (let round = 0; round < rounds; round++) {
    const plain = Array.from({ length: count }, (_, i) => `plain-${round}-${i}`);
    const withFinalizer = Array.from({ length: count }, (_, i) => `final-${round}-${i}`);
    await measure("create", plain, (name) =>
      applyAs(admin, tenants, { kind: "Tenant", metadata: { name, namespace: TENANT_NAMESPACE }, spec }),
    );
    await measure("create carrying the finalizer", withFinalizer, (name) =>
      applyAs(admin, tenants, {
        kind: "Tenant",
        metadata: { name, namespace: TENANT_NAMESPACE, finalizers: [TENANT_FINALIZER] },
        spec,
      }),
    );
    await measure("finalizer JSON merge patch", plain, (name) =>
      admin.mergePatch(
        tenants,
        name,
        { metadata: { finalizers: [TENANT_FINALIZER] } },
        { namespace: TENANT_NAMESPACE, fieldManager: "bench-a" },
      ),
    );
    // First status write of a new object (the tenant controller's), then a second manager's
    // (the rate-limit controller's), with each verb.
    await measure("status server-side apply", plain, (name) =>
      ssaStatus(name, "bench-a", { tenantId: name, conditions: [condition("A")] }),
    );
    await measure("status JSON merge patch", withFinalizer, (name) =>
      mergeStatus(name, "bench-a", { tenantId: name, conditions: [condition("A")] }),
    );
    await measure("status server-side apply, second manager", plain, (name) =>
      ssaStatus(name, "bench-b", { conditions: [condition("B")] }),
    );
    await measure("status JSON merge patch, second write", withFinalizer, (name) =>
      mergeStatus(name, "bench-b", { conditions: [condition("A"), condition("B")] }),
    );
  }
  const writesPerSecond = Object.fromEntries(Object.entries(rates).map(([verb, xs]) => [verb, median(xs)]));
  log(`median of ${rounds} rounds (writes/s): ${JSON.stringify(writesPerSecond)}; load ${load()}`);
  console.log(JSON.stringify({ tenants: count, clients, rounds, writesPerSecond, rates }, null, 2));
} finally {
  await platform.stop();
}
