// The platform operators of one region: the CRDs, the ServiceAccount and least-privilege RBAC
// exactly as operators/api generates them (`npm run operators:generate`), and the manager
// Deployment (two replicas, leader election). The stacks never write RBAC of their own for the
// operators: what a controller may do is declared beside the controller and reviewed there.
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { apiVersion } from "../../operators/api/group.ts";
import type { RegionRole } from "../../stacks/config.ts";
import { serviceAccountRole } from "../cluster/irsa.ts";
import { movedFrom } from "../moved.ts";
import { DATABASE_URL_KEY } from "./external-secrets.ts";
import type { FailoverSettings } from "./failover.ts";
import { failoverEnv, failoverPolicy, failoverSecretFiles } from "./failover.ts";
import type { PinnedImage } from "./images.ts";
import { imageRef, OPERATORS_REPOSITORY, versionLabel } from "./images.ts";
import type { Namespaces } from "./namespaces.ts";
import { OPERATORS_COMMAND, OPERATORS_RESOURCES } from "./operator-process.ts";
import { PRICING_MODEL_IGNORED_FIELDS, pricingModelObject } from "./pricing-model.ts";
import type { Manifest, OperatorManifests } from "./operator-manifests.ts";
import { GENERATE_COMMAND, operatorAccount, OperatorManifestsError } from "./operator-manifests.ts";
import type { EnvVar } from "./pod-spec.ts";
import { restrictedPodSpec, secretFile } from "./pod-spec.ts";
import type { RegionSettings } from "./region-env.ts";
import { regionEnv } from "./region-env.ts";

export const OPERATORS_PORT = 8081;
/** Secret (synced by ExternalSecrets, in the operators' namespace) with the freight_operator login. */
export const OPERATORS_DATABASE_SECRET = "operators-database";
export const OPERATOR_LABELS = {
  "app.kubernetes.io/name": "freight-operators",
  "app.kubernetes.io/part-of": "freight",
};

/** The one RegionFailover of the environment, as the runbook names it. */
export const REGION_FAILOVER_NAME = "prod";

/**
 * The RegionFailover as the stacks create it: the region to start active, and automatic mode as
 * the stack config says (off unless opted in); the rest defaults.
 */
export function regionFailoverObject(namespace: string, activeRegion: RegionRole, automatic = false) {
  return {
    apiVersion,
    kind: "RegionFailover",
    metadata: { name: REGION_FAILOVER_NAME, namespace },
    spec: { activeRegion, automatic: { enabled: automatic } },
  };
}

const NAMESPACED_RBAC = new Set(["Role", "RoleBinding", "ServiceAccount"]);

export interface OperatorsArgs {
  manifests: OperatorManifests;
  namespaces: Namespaces;
  imageRegistry: string;
  image: PinnedImage;
  region: RegionSettings;
  /** The ExternalSecrets filling the Secrets the operators read. */
  secrets: pulumi.Resource[];
  /**
   * Hold the spot PricingModel here: in the region whose database takes writes, since the pricing
   * controller publishes the split to it (the other region's replica receives it by replication).
   */
  pricingModel?: boolean;
  /**
   * The secrets the manager uses (SECRETS_ROTATION_WATCH), whose rotation dates it reads itself
   * through its ServiceAccount's IAM role (IRSA).
   */
  secretRotationWatch: {
    secrets: string;
    describePolicyArn: pulumi.Input<string>;
    oidcProviderArn: pulumi.Input<string>;
    oidcIssuer: pulumi.Input<string>;
  };
  /** Run the failover controller here: its drivers' settings, and the region to start active. */
  failover?: {
    settings: pulumi.Output<FailoverSettings>;
    activeRegion: RegionRole;
    oidcProviderArn: pulumi.Input<string>;
    oidcIssuer: pulumi.Input<string>;
  };
}

export class Operators extends pulumi.ComponentResource {
  /** Where the operators run, as their generated RBAC declares. */
  readonly namespace: string;
  readonly serviceAccountName: string;
  readonly crds: k8s.apiextensions.v1.CustomResourceDefinition[];
  /** The generated RBAC objects by `<Kind>/<namespace>/<name>`, for what binds to or waits on them. */
  readonly rbac: Map<string, pulumi.CustomResource>;

  constructor(name: string, args: OperatorsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:Operators", name, {}, opts);
    const identity = operatorAccount(args.manifests);
    this.namespace = identity.namespace;
    this.serviceAccountName = identity.name;

    // CRDs first: the operators and anything that creates custom resources depend on them.
    this.crds = args.manifests.crds.map(
      (crd) =>
        new k8s.apiextensions.v1.CustomResourceDefinition(
          `${name}-crd-${crd.metadata.name}`,
          crd as unknown as k8s.apiextensions.v1.CustomResourceDefinitionArgs,
          { parent: this, aliases: movedFrom("workloads", `workloads-crd-${crd.metadata.name}`) },
        ),
    );
    // The tenant finalizer at admission (operators/api/admission.ts): a new Tenant carries it from
    // its first write, sparing the tenant controller one API write per tenant. The controller still
    // adds it when missing, so offboarding does not depend on it.
    for (const manifest of args.manifests.admission) {
      const opts = { parent: this, dependsOn: this.crds };
      const resourceName = `${name}-admission-${manifest.kind}-${manifest.metadata.name}`;
      if (manifest.kind === "MutatingAdmissionPolicy") {
        new k8s.admissionregistration.v1.MutatingAdmissionPolicy(
          resourceName,
          manifest as unknown as k8s.admissionregistration.v1.MutatingAdmissionPolicyArgs,
          opts,
        );
      } else {
        new k8s.admissionregistration.v1.MutatingAdmissionPolicyBinding(
          resourceName,
          manifest as unknown as k8s.admissionregistration.v1.MutatingAdmissionPolicyBindingArgs,
          opts,
        );
      }
    }
    // The failover drivers call RDS and Route 53 as the operators' own ServiceAccount (IRSA); the
    // rotation watch reads its secrets' metadata as that account too.
    const watch = args.secretRotationWatch;
    let roleArn: pulumi.Output<string>;
    if (!args.failover) {
      roleArn = serviceAccountRole(
        `${name}-rotation-watch`,
        {
          oidcProviderArn: watch.oidcProviderArn,
          oidcIssuer: watch.oidcIssuer,
          namespace: identity.namespace,
          serviceAccount: identity.name,
          policyArns: [watch.describePolicyArn],
        },
        { parent: this },
      ).arn;
    } else {
      const policy = new aws.iam.Policy(
        `${name}-failover`,
        {
          description: "Failover controller: promote the two databases, move the API's Route 53 weights",
          policy: args.failover.settings.apply((s) => JSON.stringify(failoverPolicy(s))),
        },
        { parent: this },
      );
      roleArn = serviceAccountRole(
        `${name}-failover`,
        {
          oidcProviderArn: args.failover.oidcProviderArn,
          oidcIssuer: args.failover.oidcIssuer,
          namespace: identity.namespace,
          serviceAccount: identity.name,
          policyArns: [policy.arn, watch.describePolicyArn],
        },
        { parent: this },
      ).arn;
    }
    this.rbac = this.rbacResources(name, args.manifests.rbac, args.namespaces, identity.namespace, roleArn);
    const env: pulumi.Input<EnvVar[]> = pulumi.output(args.failover?.settings).apply((settings) => [
      ...regionEnv(args.region),
      { name: "PROBE_PORT", value: String(OPERATORS_PORT) },
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      // PricingModels live beside the operators; their analysis reads settled actuals once a minute.
      { name: "PRICING_NAMESPACE", value: identity.namespace },
      { name: "PRICING_ANALYSIS_SECONDS", value: "60" },
      // Tenants deleted without the finalizer while no operator ran are offboarded within 5 minutes.
      { name: "TENANT_SWEEP_SECONDS", value: "300" },
      // Rotation dates of the secrets it uses, from this region's Secrets Manager, as the API reads them.
      { name: "SECRETS_ROTATION_WATCH", value: watch.secrets },
      { name: "AWS_REGION", value: args.region.region },
      ...(settings ? failoverEnv(settings) : []),
      // TENANT_WORKERS (256) keeps its default in every region: it only bounds how many reconciles
      // join a group commit; the API request window adapts by itself.
      // FAILOVER_PRIMARY_DB_DATA_DIR and FAILOVER_SECONDARY_DB_DATA_DIR are for the local PostgreSQL
      // driver's fence only (tools/platform);
      // on RDS the fence is the security group swap and reboot.
    ]);
    // Mounted files (pod-spec.ts): the manager's login, and with failover both regions' databases.
    const secretFiles = [
      secretFile("DATABASE_URL", OPERATORS_DATABASE_SECRET, DATABASE_URL_KEY),
      ...(args.failover ? failoverSecretFiles() : []),
    ];

    new k8s.apps.v1.Deployment(
      name,
      {
        metadata: { name: "freight-operators", namespace: identity.namespace, labels: OPERATOR_LABELS },
        spec: {
          // Two replicas with leader election: a standby takes over within the lease time.
          replicas: 2,
          selector: { matchLabels: OPERATOR_LABELS },
          template: {
            metadata: {
              labels: { ...OPERATOR_LABELS, ...versionLabel(args.image) },
              annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(OPERATORS_PORT) },
            },
            spec: restrictedPodSpec({
              serviceAccountName: identity.name,
              // Controllers watch and write custom resources: the API is their whole job.
              callsKubernetesApi: true,
              pool: "app",
              containers: [
                {
                  name: "operators",
                  image: imageRef(args.imageRegistry, OPERATORS_REPOSITORY, args.image),
                  // The heap cap sits below the memory limit (operator-process.ts).
                  command: OPERATORS_COMMAND,
                  serves: { portName: "probes", port: OPERATORS_PORT },
                  env,
                  secretFiles,
                  resources: OPERATORS_RESOURCES,
                },
              ],
            }),
          },
        },
      },
      {
        parent: this,
        dependsOn: [...this.crds, ...this.rbac.values(), ...args.secrets],
        aliases: movedFrom("workloads", "workloads-operators"),
      },
    );

    if (args.failover) {
      // On-call flips spec.activeRegion with `kubectl patch`; the config value only seeds it. With
      // server-side apply, an ignored field another manager owns is left out of Pulumi's apply
      // (pulumi-kubernetes#2566), so `pulumi up` neither reverts the flip nor conflicts with it.
      new k8s.apiextensions.CustomResource(
        `${name}-region-failover`,
        {
          ...regionFailoverObject(identity.namespace, args.failover.activeRegion),
          spec: {
            activeRegion: args.failover.activeRegion,
            automatic: { enabled: args.failover.settings.apply((s) => s.automatic) },
          },
        },
        { parent: this, dependsOn: this.crds, ignoreChanges: ["spec.activeRegion"] },
      );
    }
    if (args.pricingModel) {
      // Ops run experiments with kubectl: the aliases, steps, pause and abort are theirs after the
      // first deploy, and new versions they list are owned by their field manager, not Pulumi's.
      new k8s.apiextensions.CustomResource(`${name}-pricing-model`, pricingModelObject(identity.namespace), {
        parent: this,
        dependsOn: this.crds,
        ignoreChanges: PRICING_MODEL_IGNORED_FIELDS,
      });
    }
    this.registerOutputs({ namespace: this.namespace, serviceAccountName: this.serviceAccountName });
  }

  /** The generated RBAC objects, created as declared, each after the namespace it lives in. */
  private rbacResources(
    name: string,
    manifests: Manifest[],
    namespaces: Namespaces,
    defaultNamespace: string,
    serviceAccountRoleArn: pulumi.Output<string> | undefined,
  ): Map<string, pulumi.CustomResource> {
    const created = new Map<string, pulumi.CustomResource>();
    for (const manifest of manifests.filter((m) => m.kind !== "Namespace")) {
      const namespace = NAMESPACED_RBAC.has(manifest.kind)
        ? (manifest.metadata.namespace ?? defaultNamespace)
        : undefined;
      const irsa =
        manifest.kind === "ServiceAccount" && serviceAccountRoleArn
          ? { annotations: { "eks.amazonaws.com/role-arn": serviceAccountRoleArn } }
          : {};
      const metadata = namespace ? { ...manifest.metadata, namespace, ...irsa } : manifest.metadata;
      const spec = { ...manifest, metadata } as unknown;
      const id = `${manifest.kind.toLowerCase()}-${manifest.metadata.name}`;
      const opts: pulumi.CustomResourceOptions = {
        parent: this,
        dependsOn: namespace ? [namespaces.get(namespace)] : [],
        aliases: movedFrom("workloads", `workloads-${id}`),
      };
      const resourceName = `${name}-${id}`;
      let resource: pulumi.CustomResource;
      switch (manifest.kind) {
        case "ServiceAccount":
          resource = new k8s.core.v1.ServiceAccount(
            resourceName,
            spec as k8s.core.v1.ServiceAccountArgs,
            opts,
          );
          break;
        case "ClusterRole":
          resource = new k8s.rbac.v1.ClusterRole(resourceName, spec as k8s.rbac.v1.ClusterRoleArgs, opts);
          break;
        case "Role":
          resource = new k8s.rbac.v1.Role(resourceName, spec as k8s.rbac.v1.RoleArgs, opts);
          break;
        case "ClusterRoleBinding":
          resource = new k8s.rbac.v1.ClusterRoleBinding(
            resourceName,
            spec as k8s.rbac.v1.ClusterRoleBindingArgs,
            opts,
          );
          break;
        case "RoleBinding":
          resource = new k8s.rbac.v1.RoleBinding(resourceName, spec as k8s.rbac.v1.RoleBindingArgs, opts);
          break;
        default:
          throw new OperatorManifestsError(
            `rbac.yaml holds a ${manifest.kind} "${manifest.metadata.name}"; the stacks deploy only Namespace, ` +
              `ServiceAccount, (Cluster)Role and (Cluster)RoleBinding from it. Fix the generator and run \`${GENERATE_COMMAND}\`.`,
          );
      }
      created.set(`${manifest.kind}/${namespace ?? ""}/${manifest.metadata.name}`, resource);
    }
    return created;
  }

  /** A generated Role, for a binding made by the stack (e.g. billing's Role for the API). */
  role(namespace: string, roleName: string): pulumi.CustomResource {
    const found = this.rbac.get(`Role/${namespace}/${roleName}`);
    if (!found) {
      throw new OperatorManifestsError(
        `rbac.yaml declares no Role ${namespace}/${roleName}. Declare it in operators/api/rbac.ts and run \`${GENERATE_COMMAND}\`.`,
      );
    }
    return found;
  }
}
