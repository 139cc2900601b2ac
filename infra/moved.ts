// Where the cluster's workload resources lived before one `Workloads` component (and the KEDA and
// autoscaler parts of `Runners`) were split into one component per concern. Each moved resource
// carries an alias to its former URN, so the next `pulumi up` moves it in the state instead of
// deleting and recreating it (a recreated Helm release or CRD would take its objects with it).
// stacks/stacks.test.ts checks that every former URN (stacks/testdata/former-urns.json) is still
// addressed.
import * as pulumi from "@pulumi/pulumi";

const FORMER_COMPONENTS = {
  workloads: "freight:workloads:Workloads",
  runners: "freight:runners:Runners",
} as const;

export type FormerComponent = keyof typeof FORMER_COMPONENTS;

/** The former component's URN; it was registered at the stack root under its key as name. */
export function formerParentUrn(component: FormerComponent): pulumi.Output<string> {
  return pulumi.createUrn(component, FORMER_COMPONENTS[component]);
}

/** The alias of a resource that was `formerName` under `component`. */
export function movedFrom(component: FormerComponent, formerName: string): pulumi.Alias[] {
  return [{ name: formerName, parent: formerParentUrn(component) }];
}
