// A watch resumed from a compacted resourceVersion gets 410 Gone: informers
// must relist. In production that happens after a long disconnect (the watch
// cache keeps minutes of history, etcd is compacted every 5 minutes); this
// cluster skips the watch cache and compacts every second to see it quickly.
import { CoreV1Api, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startCluster, type LocalCluster } from "./fixture.ts";
import { buildTimeoutMs } from "./test-support.ts";

let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await startCluster({
    name: "watch-expiry",
    apiserverArgs: ["--etcd-compaction-interval=1s", "--watch-cache=false"],
  });
}, buildTimeoutMs);

afterAll(async () => {
  await cluster?.stop();
});

it("answers a watch from a compacted resourceVersion with 410 Gone", async () => {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: "lanes" } } });
  const first = await core.createNamespacedConfigMap({
    namespace: "lanes",
    body: { metadata: { name: "v1" } },
  });
  const staleVersion = first.metadata!.resourceVersion!;
  const watch = new Watch(cluster.kubeConfig);

  const deadline = Date.now() + 20_000;
  let gone = false;
  for (let n = 2; !gone && Date.now() < deadline; n++) {
    await core.createNamespacedConfigMap({ namespace: "lanes", body: { metadata: { name: `v${n}` } } });
    await new Promise((r) => setTimeout(r, 1000));
    const events: { type: string; code?: number }[] = [];
    const controller = await watch.watch(
      "/api/v1/namespaces/lanes/configmaps",
      { resourceVersion: staleVersion },
      (type, obj: { code?: number }) => events.push({ type, code: obj.code }),
      () => {},
    );
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    gone = events.some((e) => e.type === "ERROR" && e.code === 410);
  }
  expect(gone).toBe(true);
});
