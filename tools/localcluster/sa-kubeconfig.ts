// npm run -s cluster:sa -- NAMESPACE SERVICEACCOUNT [--kubeconfig ADMIN] [--out FILE] [--expiration SECONDS]
// Mints a kubeconfig for a ServiceAccount on a local control plane (by default
// the one `npm run cluster:up` started), to run an operator with its own RBAC.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { devDir } from "./dev.ts";
import { mintServiceAccountKubeconfig } from "./serviceaccount.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    kubeconfig: { type: "string", default: join(devDir, "kubeconfig") },
    out: { type: "string" },
    expiration: { type: "string", default: "3600" },
  },
});
const [namespace, serviceAccount] = positionals;
if (!namespace || !serviceAccount) {
  console.error(
    "usage: npm run -s cluster:sa -- NAMESPACE SERVICEACCOUNT [--kubeconfig ADMIN] [--out FILE] [--expiration SECONDS]",
  );
  process.exit(2);
}
const admin = new KubeConfig();
admin.loadFromFile(values.kubeconfig);
const out = values.out ?? join(devDir, `sa-${namespace}-${serviceAccount}.kubeconfig`);
await mintServiceAccountKubeconfig(admin, namespace, serviceAccount, out, {
  expirationSeconds: Number(values.expiration),
});
console.log(`export KUBECONFIG=${out}`);
