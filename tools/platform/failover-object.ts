// The RegionFailover on the local platform: the object the region stacks deploy (where failover is on)
// is found in the planned manifests, and on-call's edits go to that region's control plane.
import { OPERATOR_NAMESPACE, apiVersion } from "../../operators/api/group.ts";
import type { Region, RegionFailover, RegionFailoverSpec } from "../../operators/api/regionfailover.ts";
import type { Manifest } from "../../stacks/manifests.ts";

/** The one RegionFailover per environment (docs/runbooks/failover.md). */
export const FAILOVER_NAME = "prod";
export const FAILOVER_NAMESPACE = OPERATOR_NAMESPACE;

/** A RegionFailover with `spec`, every other field defaulted: what on-call applies. */
export function regionFailoverObject(spec: RegionFailoverSpec = { activeRegion: "primary" }): RegionFailover {
  return {
    apiVersion,
    kind: "RegionFailover",
    metadata: { name: FAILOVER_NAME, namespace: FAILOVER_NAMESPACE },
    spec,
  };
}

/** The region whose stack deploys the RegionFailover (the failover controller runs beside it). */
export function failoverRegion(manifests: Record<Region, Manifest[]>): Region {
  const regions = (["primary", "secondary"] as const).filter((region) =>
    manifests[region].some((m) => m.kind === "RegionFailover"),
  );
  if (regions.length !== 1)
    throw new Error(
      `Exactly one region's stack must deploy the RegionFailover (freight:failover on); found ${regions.length}: ${regions.join(", ") || "none"}`,
    );
  return regions[0]!;
}
