// Secrets Manager -> Kubernetes Secrets: the External Secrets Operator, one cluster-wide store that
// authenticates as a single IRSA-bound ServiceAccount, and one ExternalSecret per Secret a workload
// reads. Workloads never get AWS credentials for secrets; they read plain Kubernetes Secrets that
// ESO refreshes hourly, so a rotated password reaches them without a deploy.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { serviceAccountRole } from "../cluster/irsa.ts";
import { movedFrom } from "../moved.ts";
import type { PlatformSecret } from "../secrets/secrets.ts";
import { SECRET_NAMES } from "../secrets/secrets.ts";
import type { Namespaces } from "./namespaces.ts";

export const SECRET_STORE = "aws-secrets-manager";
export const ESO_NAMESPACE = "external-secrets";
/** The key under which a database Secret holds its connection URL. */
export const DATABASE_URL_KEY = "DATABASE_URL";

/**
 * A Secret holding connection URLs of one PostgreSQL login: `DATABASE_URL` for this region's
 * instance, or one key per host given (the failover controller reaches both regions' databases).
 */
export interface DatabaseUrlSecret {
  name: string;
  namespace: string;
  login: PlatformSecret;
  hosts?: Record<string, pulumi.Input<string>>;
}

/** A Secret whose keys (env var names) each hold one Secrets Manager value. */
export interface KeysSecret {
  name: string;
  namespace: string;
  keys: Record<string, PlatformSecret>;
}

export interface ExternalSecretsArgs {
  region: string;
  chartVersion: string;
  oidcProviderArn: pulumi.Input<string>;
  oidcIssuer: pulumi.Input<string>;
  /** IAM policy reading exactly the platform secrets. */
  secretsReadPolicyArn: pulumi.Input<string>;
  namespaces: Namespaces;
  /** Namespace of the store's ServiceAccount. */
  readerNamespace: string;
  database: { host: pulumi.Input<string>; port: number; name: string };
  databaseUrls: DatabaseUrlSecret[];
  keys: KeysSecret[];
}

/** Resource names these ExternalSecrets had inside the former Workloads component. */
const FORMER_NAMES: Record<string, string> = {
  "freight/quote-api-database": "workloads-database-url",
  "freight/runner-database": "workloads-runner-database-url",
  "freight-system/operators-database": "workloads-operators-database-url",
  "freight/third-party-api-keys": "workloads-api-keys",
};

export class ExternalSecrets extends pulumi.ComponentResource {
  /** The ExternalSecret behind each synced Secret, by `<namespace>/<name>`, for dependsOn. */
  private readonly synced = new Map<string, pulumi.Resource>();

  constructor(name: string, args: ExternalSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:ExternalSecrets", name, {}, opts);

    const eso = new k8s.helm.v3.Release(
      `${name}-operator`,
      {
        chart: "external-secrets",
        version: args.chartVersion,
        repositoryOpts: { repo: "https://charts.external-secrets.io" },
        namespace: ESO_NAMESPACE,
        createNamespace: true,
        values: { installCRDs: true },
      },
      { parent: this, aliases: movedFrom("workloads", "workloads-external-secrets") },
    );

    const readerNs = args.namespaces.get(args.readerNamespace);
    const role = serviceAccountRole(
      `${name}-reader`,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        namespace: args.readerNamespace,
        serviceAccount: "secrets-reader",
        policyArns: [args.secretsReadPolicyArn],
        formerly: { component: "workloads", name: "workloads-secrets-reader" },
      },
      { parent: this },
    );
    const reader = new k8s.core.v1.ServiceAccount(
      `${name}-reader`,
      {
        metadata: {
          name: "secrets-reader",
          namespace: readerNs.metadata.name,
          annotations: { "eks.amazonaws.com/role-arn": role.arn },
        },
      },
      { parent: this, dependsOn: [readerNs], aliases: movedFrom("workloads", "workloads-secrets-reader") },
    );
    // Cluster-scoped so every namespace can sync from it; it authenticates as the one IRSA-bound
    // service account above, whatever namespace asks.
    const store = new k8s.apiextensions.CustomResource(
      `${name}-store`,
      {
        apiVersion: "external-secrets.io/v1",
        kind: "ClusterSecretStore",
        metadata: { name: SECRET_STORE },
        spec: {
          provider: {
            aws: {
              service: "SecretsManager",
              region: args.region,
              auth: {
                jwt: { serviceAccountRef: { name: reader.metadata.name, namespace: args.readerNamespace } },
              },
            },
          },
        },
      },
      { parent: this, dependsOn: [readerNs, eso], aliases: movedFrom("workloads", "workloads-secret-store") },
    );

    const externalSecret = (namespace: string, secretName: string, spec: Record<string, unknown>) => {
      const key = `${namespace}/${secretName}`;
      if (this.synced.has(key)) throw new Error(`Secret ${key} is synced twice; give each Secret one entry.`);
      const former = FORMER_NAMES[key];
      const resource = new k8s.apiextensions.CustomResource(
        `${name}-${namespace}-${secretName}`,
        {
          apiVersion: "external-secrets.io/v1",
          kind: "ExternalSecret",
          metadata: { name: secretName, namespace },
          spec: {
            refreshInterval: "1h",
            secretStoreRef: { kind: "ClusterSecretStore", name: SECRET_STORE },
            ...spec,
          },
        },
        {
          parent: this,
          dependsOn: [args.namespaces.get(namespace), eso, store],
          ...(former ? { aliases: movedFrom("workloads", former) } : {}),
        },
      );
      this.synced.set(key, resource);
    };

    const url = (host: pulumi.Input<string>) =>
      pulumi.interpolate`postgres://{{ .username | urlquery }}:{{ .password | urlquery }}@${host}:${args.database.port}/${args.database.name}?sslmode=verify-full`;
    for (const secret of args.databaseUrls) {
      // The host is this region's instance, not the one recorded in the (replicated) secret.
      const hosts = secret.hosts ?? { [DATABASE_URL_KEY]: args.database.host };
      externalSecret(secret.namespace, secret.name, {
        target: {
          name: secret.name,
          template: {
            data: Object.fromEntries(Object.entries(hosts).map(([key, host]) => [key, url(host)])),
          },
        },
        dataFrom: [{ extract: { key: SECRET_NAMES[secret.login] } }],
      });
    }
    for (const secret of args.keys) {
      externalSecret(secret.namespace, secret.name, {
        target: { name: secret.name },
        data: Object.entries(secret.keys).map(([secretKey, value]) => ({
          secretKey,
          remoteRef: { key: SECRET_NAMES[value] },
        })),
      });
    }
    this.registerOutputs({ synced: [...this.synced.keys()] });
  }

  /** The ExternalSecrets that fill these Secrets; a workload reading them depends on these. */
  for(namespace: string, ...names: string[]): pulumi.Resource[] {
    return names.map((secretName) => {
      const found = this.synced.get(`${namespace}/${secretName}`);
      if (!found)
        throw new Error(`No ExternalSecret syncs ${namespace}/${secretName}; add it to the stack's secrets.`);
      return found;
    });
  }
}
