// What the weekly pricing backtest may see beyond its database login: the PricingModel objects (get
// and list, nothing else, in their namespace), through its own ServiceAccount, so no other job or
// Deployment inherits it. The Role and RoleBinding are plain manifests here, applied by the stacks and
// by the tests alike, so a test runs the backtest with exactly the RBAC the stacks grant.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { API_GROUP } from "../../operators/api/group.ts";

export const PRICING_BACKTEST_READER = "freight-pricing-backtest";

export function pricingBacktestRole(namespace: string) {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: PRICING_BACKTEST_READER, namespace },
    rules: [{ apiGroups: [API_GROUP], resources: ["pricingmodels"], verbs: ["get", "list"] }],
  };
}

export function pricingBacktestRoleBinding(
  namespace: string,
  serviceAccount: { namespace: string; name: string },
) {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: PRICING_BACKTEST_READER, namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: PRICING_BACKTEST_READER },
    subjects: [{ kind: "ServiceAccount", ...serviceAccount }],
  };
}

export interface PricingBacktestAccessArgs {
  namespace: k8s.core.v1.Namespace;
  namespaceName: string;
  serviceAccount: string;
  /** Where the PricingModels live (the Role is there). */
  pricingModelNamespace: string;
  /** What must exist before the Role: the namespace of the PricingModels. */
  dependsOn?: pulumi.Resource[];
}

export class PricingBacktestAccess extends pulumi.ComponentResource {
  /** What the CronJob waits for: the account and its binding. */
  readonly resources: pulumi.Resource[];

  constructor(name: string, args: PricingBacktestAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:PricingBacktestAccess", name, {}, opts);
    const account = new k8s.core.v1.ServiceAccount(
      name,
      { metadata: { name: args.serviceAccount, namespace: args.namespaceName } },
      { parent: this, dependsOn: [args.namespace] },
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-reader`,
      pricingBacktestRole(args.pricingModelNamespace) as unknown as k8s.rbac.v1.RoleArgs,
      { parent: this, dependsOn: args.dependsOn },
    );
    const binding = new k8s.rbac.v1.RoleBinding(
      `${name}-reader`,
      pricingBacktestRoleBinding(args.pricingModelNamespace, {
        namespace: args.namespaceName,
        name: args.serviceAccount,
      }) as unknown as k8s.rbac.v1.RoleBindingArgs,
      { parent: this, dependsOn: [account, role] },
    );
    this.resources = [account, binding];
    this.registerOutputs({});
  }
}
