// The two roles a region plays (primary, secondary), defined once for every product folder: the
// stacks deploy a region in a role, the app reads REGION_ROLE and REGION_ACTIVE, the failover
// controller flips between them, the policy pack checks per role. It lives in app/ because every
// other folder already imports from app/, and it imports nothing, so importing it is free (the
// policy pack, published on its own, imports the type only, which type stripping erases).

export const REGION_ROLES = ["primary", "secondary"] as const;

export type RegionRole = (typeof REGION_ROLES)[number];

/** The other region: where a failover goes, where a peer's outputs come from. */
export function peerRole(role: RegionRole): RegionRole {
  return role === "primary" ? "secondary" : "primary";
}
