// Validates a policy setting against the JSON Schema the pack declares to the Pulumi engine
// (`configSchema` of each rule), all the way down: list items, per-stack maps, enums, bounds and
// regular expressions. Every problem is returned with the path to the value, never thrown, so a
// config of the wrong shape is refused in one message before any rule reads it.
// Hand-written for the JSON Schema keywords the pack's schemas use rather than a full validator
// (no direct dependency to add); SUPPORTED_KEYWORDS lists them and a test fails when a rule's schema
// uses any other, so a keyword is never silently ignored.
import type { PolicyConfigJSONSchema, PolicyConfigJSONSchemaDefinition } from "@pulumi/policy/schema.js";

export const SUPPORTED_KEYWORDS: ReadonlySet<string> = new Set([
  "type",
  "enum",
  "const",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "items",
  "minItems",
  "maxItems",
  "uniqueItems",
  "properties",
  "additionalProperties",
  "required",
  "minProperties",
  "maxProperties",
  "default",
  "description",
]);

/** The JSON type of a value, as JSON Schema names it (an integral number is an integer). */
export function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Every way `value` breaks `schema`, each as `"<path>" <problem>.` */
export function schemaProblems(
  path: string,
  value: unknown,
  schema: PolicyConfigJSONSchemaDefinition,
): string[] {
  if (schema === true) return [];
  if (schema === false) return [`"${path}" is not allowed.`];
  const problems: string[] = [];
  const actual = jsonType(value);
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.length > 0 && !types.some((t) => t === actual || (t === "number" && actual === "integer"))) {
    const example = schema.default === undefined ? "" : ` (for example ${show(schema.default)})`;
    return [`"${path}" must be of type ${types.join(" or ")}, got ${actual}${example}.`];
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    problems.push(
      `"${path}" must be one of ${schema.enum.map((e) => String(e)).join(", ")}; got ${show(value)}.`,
    );
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value))
    problems.push(`"${path}" must be ${show(schema.const)}; got ${show(value)}.`);
  if (typeof value === "number") problems.push(...numberProblems(path, value, schema));
  if (typeof value === "string") problems.push(...stringProblems(path, value, schema));
  if (Array.isArray(value)) problems.push(...arrayProblems(path, value, schema));
  else if (actual === "object")
    problems.push(...objectProblems(path, value as Record<string, unknown>, schema));
  return problems;
}

function numberProblems(path: string, value: number, schema: PolicyConfigJSONSchema): string[] {
  const problems: string[] = [];
  if (schema.minimum !== undefined && value < schema.minimum)
    problems.push(`"${path}" must be at least ${schema.minimum}.`);
  if (schema.maximum !== undefined && value > schema.maximum)
    problems.push(`"${path}" must be at most ${schema.maximum}.`);
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum)
    problems.push(`"${path}" must be more than ${schema.exclusiveMinimum}.`);
  if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum)
    problems.push(`"${path}" must be less than ${schema.exclusiveMaximum}.`);
  return problems;
}

function stringProblems(path: string, value: string, schema: PolicyConfigJSONSchema): string[] {
  const problems: string[] = [];
  if (schema.minLength !== undefined && value.length < schema.minLength)
    problems.push(`"${path}" must be at least ${schema.minLength} characters long.`);
  if (schema.maxLength !== undefined && value.length > schema.maxLength)
    problems.push(`"${path}" must be at most ${schema.maxLength} characters long.`);
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value))
    problems.push(`"${path}" must match ${schema.pattern}; got ${show(value)}.`);
  if (schema.format === "regex") {
    try {
      new RegExp(value, "i");
    } catch (error) {
      problems.push(`"${path}" must be a regular expression: ${(error as Error).message}.`);
    }
  }
  return problems;
}

function arrayProblems(path: string, value: unknown[], schema: PolicyConfigJSONSchema): string[] {
  const problems: string[] = [];
  if (schema.minItems !== undefined && value.length < schema.minItems)
    problems.push(`"${path}" must list at least ${schema.minItems} item(s).`);
  if (schema.maxItems !== undefined && value.length > schema.maxItems)
    problems.push(`"${path}" must list at most ${schema.maxItems} item(s).`);
  if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length)
    problems.push(`"${path}" must not list an item twice.`);
  const items = schema.items;
  if (items !== undefined) {
    value.forEach((item, i) => {
      const itemSchema = Array.isArray(items) ? (items[i] ?? true) : items;
      problems.push(...schemaProblems(`${path}[${i}]`, item, itemSchema));
    });
  }
  return problems;
}

function objectProblems(
  path: string,
  value: Record<string, unknown>,
  schema: PolicyConfigJSONSchema,
): string[] {
  const problems: string[] = [];
  const keys = Object.keys(value);
  if (schema.minProperties !== undefined && keys.length < schema.minProperties)
    problems.push(`"${path}" must have at least ${schema.minProperties} entries.`);
  if (schema.maxProperties !== undefined && keys.length > schema.maxProperties)
    problems.push(`"${path}" must have at most ${schema.maxProperties} entries.`);
  for (const key of schema.required ?? [])
    if (!(key in value)) problems.push(`"${path}.${key}" is required.`);
  const properties = schema.properties ?? {};
  for (const key of keys) {
    const own = properties[key];
    if (own !== undefined) problems.push(...schemaProblems(`${path}.${key}`, value[key], own));
    else if (schema.additionalProperties !== undefined)
      problems.push(...schemaProblems(`${path}.${key}`, value[key], schema.additionalProperties));
  }
  return problems;
}

/** Keywords a schema uses that this validator does not check (the test keeps this empty). */
export function unsupportedKeywords(schema: PolicyConfigJSONSchemaDefinition, path = ""): string[] {
  if (typeof schema === "boolean") return [];
  const found: string[] = [];
  for (const [keyword, inner] of Object.entries(schema)) {
    if (!SUPPORTED_KEYWORDS.has(keyword)) found.push(`${path}${keyword}`);
    if (keyword === "properties")
      for (const [name, s] of Object.entries(inner as Record<string, PolicyConfigJSONSchemaDefinition>))
        found.push(...unsupportedKeywords(s, `${path}${name}.`));
    if (keyword === "items" || keyword === "additionalProperties") {
      for (const s of Array.isArray(inner) ? inner : [inner])
        found.push(...unsupportedKeywords(s as PolicyConfigJSONSchemaDefinition, `${path}${keyword}.`));
    }
  }
  return found;
}
