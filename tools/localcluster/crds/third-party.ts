// The vendored third-party CRDs (External Secrets, KEDA, Prometheus operator) for local control
// planes: in production their Helm charts install them; here the deploy contract test and the local
// platform install these generated copies so the API server validates our custom resources of those
// kinds. README.md beside this file says which upstream version each copy stands for.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { parseAllDocuments } from "yaml";

export const THIRD_PARTY_CRDS_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface CrdManifest {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string };
  spec: { group: string; names: { kind: string; plural: string }; versions: { name: string }[] };
  [key: string]: unknown;
}

/** The Helm chart that installs each vendored API group in a real cluster (chart name -> group). */
export const CHART_API_GROUPS: Record<string, string> = {
  "external-secrets": "external-secrets.io",
  keda: "keda.sh",
  "kube-prometheus-stack": "monitoring.coreos.com",
};

/** Every CRD in the `<group>.yaml` files of this folder. */
export function thirdPartyCrds(dir: string = THIRD_PARTY_CRDS_DIR): CrdManifest[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith(".yaml"))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(path.join(dir, file), "utf8"))
        .map((doc) => doc.toJS() as CrdManifest | null)
        .filter((doc): doc is CrdManifest => doc !== null),
    );
}
