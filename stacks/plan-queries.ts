// Reading a planned stack in tests: resources by type and name, nested properties, a container's
// environment, an IAM policy document. Shared by the stack tests so each asserts in the same words.
import type { PlannedResource, PlannedStack } from "./plan.ts";

export function all(plan: PlannedStack, type: string): PlannedResource[] {
  return plan.resources.filter((r) => r.type === type);
}

export function one(plan: PlannedStack, type: string, name?: string): PlannedResource {
  const found = all(plan, type).filter((r) => name === undefined || r.name === name);
  if (found.length !== 1)
    throw new Error(`expected one ${type} ${name ?? ""} in ${plan.stack}, found ${found.length}`);
  return found[0]!;
}

export function get(value: unknown, ...path: (string | number)[]): unknown {
  return path.reduce<unknown>(
    (v, k) => (v == null ? undefined : (v as Record<string | number, unknown>)[k]),
    value,
  );
}

export function childrenOf(plan: PlannedStack, componentType: string): PlannedResource[] {
  const component = one(plan, componentType);
  return plan.resources.filter((r) => r.parent === component.urn);
}

export type EnvValue = string | { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown };
export type Env = Record<string, EnvValue | undefined>;

/** The pod template of a Deployment, Job or CronJob. */
export function podSpecOf(resource: PlannedResource): Record<string, unknown> {
  const template =
    resource.type === "kubernetes:batch/v1:CronJob"
      ? get(resource.props, "spec", "jobTemplate", "spec", "template", "spec")
      : get(resource.props, "spec", "template", "spec");
  return template as Record<string, unknown>;
}

/** A workload's first container env as name -> value or valueFrom. */
export function envOf(resource: PlannedResource): Env {
  const container = get(podSpecOf(resource), "containers", 0) as {
    env: { name: string; value?: string; valueFrom?: EnvValue }[];
  };
  return Object.fromEntries(container.env.map((e) => [e.name, e.value ?? e.valueFrom]));
}

export function policyOf(plan: PlannedStack, name: string): { Statement: Record<string, unknown>[] } {
  return JSON.parse(one(plan, "aws:iam/policy:Policy", name).props["policy"] as string) as {
    Statement: Record<string, unknown>[];
  };
}

/** Rotation window in days per secret name, from the plan's SecretRotation resources. */
export function rotationDays(plan: PlannedStack): Record<string, unknown> {
  return Object.fromEntries(
    all(plan, "aws:secretsmanager/secretRotation:SecretRotation").map((r) => [
      r.props["secretId"],
      get(r.props, "rotationRules", "automaticallyAfterDays"),
    ]),
  );
}
