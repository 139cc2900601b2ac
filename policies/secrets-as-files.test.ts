// k8s-secrets-as-files on both region stacks as they are planned: every workload passes (its secrets
// are files of mounted Secret volumes); a workload given a secret by environment, one key
// (secretKeyRef) or a whole Secret (envFrom), fails naming the resource, the container, the Secret
// and the fix.
import { beforeAll, describe, expect, it } from "vitest";

import { PRODUCTION_CONFIG } from "../stacks/capabilities.ts";
import { knownStacks, planStack, transformPlan } from "../stacks/plan.ts";
import { checkStack, type PlanResource, type PlanStack } from "./offline.ts";
import { k8sSecretsAsFiles } from "./rules/kubernetes.ts";

const PLAN_TIMEOUT = 180_000;
const STACKS = knownStacks();

type Container = { name: string; env?: Record<string, unknown>[]; envFrom?: Record<string, unknown>[] };

/** The Deployment `name`'s first container changed by `change`; other resources as planned. */
function breakDeployment(name: string, change: (container: Container) => Container) {
  return (resource: PlanResource): PlanResource => {
    if (resource.type !== "kubernetes:apps/v1:Deployment" || resource.name !== name) return resource;
    const props = structuredClone(resource.props) as {
      spec: { template: { spec: { containers: Container[] } } };
    };
    const containers = props.spec.template.spec.containers;
    containers[0] = change(containers[0]!);
    return { ...resource, props: props as unknown as Record<string, unknown> };
  };
}

const plans = new Map<string, { clean: PlanStack; keyRef: PlanStack; envFrom: PlanStack }>();

beforeAll(async () => {
  await Promise.all(
    STACKS.map(async (stack) => {
      const clean = await planStack(stack, { config: PRODUCTION_CONFIG[stack] ?? {} });
      const keyRef = transformPlan(
        clean,
        breakDeployment("runner", (c) => ({
          ...c,
          env: [
            ...(c.env ?? []),
            {
              name: "DATABASE_URL",
              valueFrom: { secretKeyRef: { name: "runner-database", key: "DATABASE_URL" } },
            },
          ],
        })),
      );
      const envFrom = transformPlan(
        clean,
        breakDeployment("quote-api", (c) => ({ ...c, envFrom: [{ secretRef: { name: "stripe" } }] })),
      );
      plans.set(stack, { clean, keyRef, envFrom });
    }),
  );
}, PLAN_TIMEOUT);

/** Each violation as `resource: message Fix: remediation`, the way policy:check prints it. */
const messages = async (plan: PlanStack) =>
  (await checkStack(plan, { rules: [k8sSecretsAsFiles] })).violations.map(
    (v) => `${v.resource}: ${v.message} Fix: ${v.remediation}`,
  );

describe.each(STACKS)("k8s-secrets-as-files on %s", (stack) => {
  it("passes every workload the stack deploys: its secrets are mounted files", async () => {
    expect(await messages(plans.get(stack)!.clean)).toEqual([]);
  });

  it("fails a secret key read into an env variable, naming the Deployment, the Secret and the fix", async () => {
    const found = await messages(plans.get(stack)!.keyRef);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /^runner \(kubernetes:apps\/v1:Deployment\): .*container "runner" puts a secret in its environment \(env DATABASE_URL from key DATABASE_URL of Secret runner-database\)/,
    );
    expect(found[0]).toMatch(/mount the Secret as a read-only volume and set <NAME>_FILE/);
    expect(found[0]).toContain("infra/workloads/pod-spec.ts");
  });

  it("fails a whole Secret loaded with envFrom", async () => {
    const found = await messages(plans.get(stack)!.envFrom);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /^quote-api \(kubernetes:apps\/v1:Deployment\): .*container "quote-api" puts a secret in its environment \(envFrom every key of Secret stripe\)/,
    );
  });
});
