// What a custom resource definition is made of, and how it becomes a CustomResourceDefinition
// object. Each resource module (plan.ts, tenant.ts, ratelimitpolicy.ts) exports one ResourceDefinition.
import { API_GROUP, API_VERSION } from "./group.ts";
import type { SchemaProps } from "./schema.ts";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface ResourceDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: "Cluster" | "Namespaced";
  description: string;
  spec: SchemaProps;
  status?: SchemaProps;
  printerColumns: PrinterColumn[];
}

/** Reference used by the client and informers: where the resource is served. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export function refOf(def: ResourceDefinition): ResourceRef {
  return {
    group: API_GROUP,
    version: API_VERSION,
    plural: def.plural,
    kind: def.kind,
    namespaced: def.scope === "Namespaced",
  };
}

export function toCustomResourceDefinition(def: ResourceDefinition): Record<string, unknown> {
  const properties: Record<string, SchemaProps> = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec: def.spec,
  };
  if (def.status) properties.status = def.status;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${def.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ["freight"],
      },
      scope: def.scope,
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: def.description,
              required: ["spec"],
              properties,
            },
          },
          ...(def.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: [
            ...def.printerColumns,
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
        },
      ],
    },
  };
}
