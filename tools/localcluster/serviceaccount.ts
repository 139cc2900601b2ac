// Kubeconfigs for ServiceAccounts, minted through the TokenRequest API with an
// admin kubeconfig, so code runs with exactly the RBAC bound to the account.
import { writeFileSync } from "node:fs";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";

export interface ServiceAccountCredentials {
  /** A kubeconfig file that authenticates as the ServiceAccount with a bound token. */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  token: string;
}

async function createIfMissing(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
}

/**
 * Creates the namespace and ServiceAccount if missing, requests a token for it
 * (default lifetime one hour) and writes a kubeconfig using it to `path`.
 */
export async function mintServiceAccountKubeconfig(
  admin: KubeConfig,
  namespace: string,
  serviceAccount: string,
  path: string,
  options: { expirationSeconds?: number } = {},
): Promise<ServiceAccountCredentials> {
  const core = admin.makeApiClient(CoreV1Api);
  await createIfMissing(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
  await createIfMissing(() =>
    core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } }),
  );
  const request = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: options.expirationSeconds ?? 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("the admin kubeconfig has no current cluster");
  const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [cluster],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: cluster.name, user, namespace }],
    currentContext: user,
  });
  writeFileSync(path, kubeConfig.exportConfig(), { mode: 0o600 });
  return { kubeconfigPath: path, kubeConfig, token };
}
