// A small vocabulary for writing structural OpenAPI v3 schemas (the subset CRDs accept) with CEL
// rules, so each resource's schema reads like its type declaration beside it.

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

export interface SchemaProps {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  format?: string;
  properties?: Record<string, SchemaProps>;
  required?: string[];
  items?: SchemaProps;
  enum?: (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  nullable?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-validations"?: ValidationRule[];
}

type Extra = Omit<SchemaProps, "type">;

export const str = (description: string, extra: Extra = {}): SchemaProps => ({
  type: "string",
  description,
  ...extra,
});

export const int = (description: string, extra: Extra = {}): SchemaProps => ({
  type: "integer",
  format: "int64",
  description,
  ...extra,
});

export const bool = (description: string, extra: Extra = {}): SchemaProps => ({
  type: "boolean",
  description,
  ...extra,
});

export function obj(
  description: string,
  properties: Record<string, SchemaProps>,
  extra: Extra = {},
): SchemaProps {
  return { type: "object", description, properties, ...extra };
}

/** A list keyed by one field: server-side apply merges its items by that key, not by index. */
export function listMap(
  description: string,
  key: string,
  items: SchemaProps,
  extra: Extra = {},
): SchemaProps {
  return {
    type: "array",
    description,
    items,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": [key],
    ...extra,
  };
}

/** DNS-1123 label, the shape of a Kubernetes object name (and of a tenant slug). */
export const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/** metav1.Condition, with the apiserver's own limits, as a list keyed by type. */
export function conditionsSchema(): SchemaProps {
  return listMap(
    "Observations of the object's state, one per type (metav1.Condition).",
    "type",
    obj(
      "One aspect of the object's state.",
      {
        type: str("CamelCase condition type, e.g. Ready.", { maxLength: 316 }),
        status: str("True, False or Unknown.", { enum: ["True", "False", "Unknown"] }),
        observedGeneration: int("metadata.generation the condition was computed from.", { minimum: 0 }),
        lastTransitionTime: str("When status last changed.", { format: "date-time" }),
        reason: str("CamelCase, machine-readable reason for the last transition.", {
          maxLength: 1024,
          minLength: 1,
          pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        }),
        message: str("Human-readable detail.", { maxLength: 32768 }),
      },
      { required: ["type", "status", "lastTransitionTime", "reason", "message"] },
    ),
    { maxItems: 16 },
  );
}
