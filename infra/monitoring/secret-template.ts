// Configuration files that hold secrets (webhook tokens, database passwords) are rendered in the
// cluster by External Secrets from Secrets Manager, never in Pulumi: this module writes such a file
// as an External Secrets template, with a Go template expression wherever a secret value goes.
import { stringify } from "yaml";

/**
 * A Go template expression that prints a secret's value as a double-quoted YAML scalar. `printf
 * "%q"` is a text/template built-in (no Sprig needed), and its quoting of a URL or password is valid YAML.
 */
export function templateValue(key: string): string {
  return `{{ .${key} | printf "%q" }}`;
}

/** The marker a secret value stands in as while the document is serialized. */
function marker(key: string): string {
  return `__secret_${key}__`;
}

/**
 * `build` gets a placeholder for each key and returns the document; the result is its YAML with
 * each placeholder replaced by the template expression of that key.
 */
export function yamlTemplate<K extends string>(
  keys: readonly K[],
  build: (value: Record<K, string>) => unknown,
): string {
  const placeholders = Object.fromEntries(keys.map((k) => [k, marker(k)])) as Record<K, string>;
  let text = stringify(build(placeholders));
  for (const key of keys) {
    if (!text.includes(marker(key))) throw new Error(`the template never uses the secret value ${key}`);
    text = text.replaceAll(marker(key), templateValue(key));
  }
  return text;
}
