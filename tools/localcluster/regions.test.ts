// Two regions, two independent control planes running side by side.
import { existsSync } from "node:fs";
import { CoreV1Api, VersionApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClusters, type LocalCluster } from "./fixture.ts";
import { buildTimeoutMs } from "./test-support.ts";

let primary: LocalCluster;
let secondary: LocalCluster;

beforeAll(async () => {
  [primary, secondary] = (await startClusters(["primary", "secondary"])) as [LocalCluster, LocalCluster];
}, buildTimeoutMs);

afterAll(async () => {
  await Promise.all([primary?.stop(), secondary?.stop()]);
});

describe("two local control planes", () => {
  it("run side by side on their own ports, directories and credentials", async () => {
    expect(primary.server).not.toBe(secondary.server);
    expect(primary.dir).not.toBe(secondary.dir);
    for (const cluster of [primary, secondary]) {
      const version = await cluster.kubeConfig.makeApiClient(VersionApi).getCode();
      expect(version.gitVersion).toMatch(/^v1\.37\./);
    }
    expect(primary.kubeConfig.getCurrentContext()).toBe("primary");
    expect(secondary.kubeConfig.getCurrentContext()).toBe("secondary");
  });

  it("keep separate state: an object created in one region is absent from the other", async () => {
    const primaryCore = primary.kubeConfig.makeApiClient(CoreV1Api);
    const secondaryCore = secondary.kubeConfig.makeApiClient(CoreV1Api);
    await primaryCore.createNamespace({ body: { metadata: { name: "only-in-primary" } } });
    const inPrimary = await primaryCore.listNamespace();
    const inSecondary = await secondaryCore.listNamespace();
    expect(inPrimary.items.map((n) => n.metadata?.name)).toContain("only-in-primary");
    expect(inSecondary.items.map((n) => n.metadata?.name)).not.toContain("only-in-primary");
  });

  it("removes a cluster's directory and process when it stops", async () => {
    const [extra] = await startClusters(["extra"]);
    await extra!.stop();
    expect(existsSync(extra!.dir)).toBe(false);
    expect(existsSync(extra!.stateDir)).toBe(false);
    expect(() => process.kill(extra!.pid, 0)).toThrow();
  });
});
