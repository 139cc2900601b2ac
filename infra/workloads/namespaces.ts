// The namespaces the platform's workloads live in: the app's (quote API, runners, their Jobs),
// under Pod Security "restricted", and those the generated operator RBAC declares (the operators'
// own, the tenants'). They come first so every other workload component can depend on them.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { movedFrom } from "../moved.ts";
import type { Manifest } from "./operator-manifests.ts";

/** The app's namespace: the quote API, the runners and their scheduled work. */
export const APP_NAMESPACE = "freight";

export interface NamespacesArgs {
  /** Namespace objects from the generated rbac.yaml (operators/api/rbac.ts). */
  generated: Manifest[];
}

export class Namespaces extends pulumi.ComponentResource {
  /** Every namespace this component creates, by name; depend on the one you deploy into. */
  readonly byName: Record<string, k8s.core.v1.Namespace>;
  readonly app: k8s.core.v1.Namespace;

  constructor(name: string, args: NamespacesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:Namespaces", name, {}, opts);
    this.app = new k8s.core.v1.Namespace(
      `${name}-${APP_NAMESPACE}`,
      {
        metadata: {
          name: APP_NAMESPACE,
          labels: {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
          },
        },
      },
      { parent: this, aliases: movedFrom("workloads", "workloads-namespace") },
    );
    this.byName = { [APP_NAMESPACE]: this.app };
    for (const manifest of args.generated) {
      this.byName[manifest.metadata.name] = new k8s.core.v1.Namespace(
        `${name}-${manifest.metadata.name}`,
        manifest as k8s.core.v1.NamespaceArgs,
        {
          parent: this,
          aliases: movedFrom("workloads", `workloads-namespace-${manifest.metadata.name}`),
        },
      );
    }
    this.registerOutputs({ names: Object.keys(this.byName) });
  }

  /** The namespace object named `namespace`, which must be one this component created. */
  get(namespace: string): k8s.core.v1.Namespace {
    const found = this.byName[namespace];
    if (!found) {
      throw new Error(
        `No namespace "${namespace}" is deployed (known: ${Object.keys(this.byName).join(", ")}); ` +
          `declare it in operators/api/rbac.ts and run \`npm run operators:generate\`.`,
      );
    }
    return found;
  }
}
