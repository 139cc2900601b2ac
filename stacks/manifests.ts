// The Kubernetes objects a planned region stack deploys, as plain manifests: what `pulumi up` sends to
// the cluster, minus the Helm releases (their charts render elsewhere). The deploy contract test
// dry-runs them against the real local kube-apiserver and the local platform starts its processes
// from them, so neither keeps its own copy of how a workload is configured.
import type { PlannedResource, PlannedStack } from "./plan.ts";

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

/** `kubernetes:apps/v1:Deployment` -> apps/v1 Deployment; `kubernetes:core/v1:Secret` -> v1 Secret. */
export function kubernetesKind(type: string): { apiVersion: string; kind: string } | undefined {
  const match = /^kubernetes:([^:]+):([A-Za-z]+)$/.exec(type);
  if (!match || type.startsWith("kubernetes:helm.sh/")) return undefined;
  const [group, version] = match[1]!.split("/") as [string, string];
  return { apiVersion: group === "core" ? version : `${group}/${version}`, kind: match[2]! };
}

function toManifest(resource: PlannedResource): Manifest | undefined {
  const kind = kubernetesKind(resource.type);
  if (!kind) return undefined;
  // Pulumi's own bookkeeping inputs are not part of the object the API server receives.
  const body = Object.fromEntries(
    Object.entries(resource.props).filter(
      ([key]) => !key.startsWith("__") && key !== "apiVersion" && key !== "kind",
    ),
  );
  const metadata = (body["metadata"] ?? {}) as Partial<Manifest["metadata"]>;
  const name = metadata.name;
  if (!name) throw new Error(`${resource.urn} has no metadata.name; give the object a fixed name`);
  return { ...kind, ...body, metadata: { ...metadata, name } };
}

/** Every Kubernetes object of the plan, in registration order (CRDs and namespaces come first there). */
export function kubernetesManifests(plan: PlannedStack): Manifest[] {
  return plan.resources.map(toManifest).filter((m): m is Manifest => m !== undefined);
}

export function findManifest(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) {
    const known = manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name);
    throw new Error(`The plan has no ${kind} named ${name}; it has: ${known.join(", ") || "none"}`);
  }
  return found;
}
