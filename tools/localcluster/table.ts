// What kubectl get asks for: the server-side table the API server builds from a CRD's
// additionalPrinterColumns, so tests can hold the columns on-call reads to what they should say.
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { LocalCluster } from "./fixture.ts";

export interface ServerTable {
  columnDefinitions: { name: string }[];
  rows: { cells: unknown[] }[];
}

/** GET `path` (an API path) as a meta.k8s.io Table. */
export function serverTable(cluster: LocalCluster, path: string): Promise<ServerTable> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions = {
      method: "GET",
      headers: { Accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
    };
    void cluster.kubeConfig.applyToHTTPSOptions(options).then(() => {
      const req = httpsRequest(new URL(`${cluster.server}${path}`), options, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(JSON.parse(body) as ServerTable));
      });
      req.on("error", reject);
      req.end();
    }, reject);
  });
}
