// A tenant's OIDC client secret lives in Secrets Manager; the database holds only its name. The API
// reads it (GetSecretValue) when a login starts, allowed by IAM only under TENANT_SSO_SECRET_PREFIX,
// so a tenant can never name a platform secret (the stacks grant exactly this prefix).
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

/** Secret names a tenant's client secret may have; the quote API's IAM policy allows only these. */
export const TENANT_SSO_SECRET_PREFIX = "freight/tenant-sso/";

export interface ClientSecrets {
  /** The secret's value; throws when it cannot be read. */
  read(ref: string): Promise<string>;
}

/** Reads through Secrets Manager, keeping each value for `cacheMs` (a login burst costs one call). */
export function secretsManagerClientSecrets(client: SecretsManagerClient, cacheMs = 60_000): ClientSecrets {
  const cache = new Map<string, { value: string; until: number }>();
  return {
    async read(ref) {
      const hit = cache.get(ref);
      if (hit && hit.until > Date.now()) return hit.value;
      const out = await client.send(new GetSecretValueCommand({ SecretId: ref }));
      if (!out.SecretString) throw new Error(`secret ${ref} has no string value`);
      cache.set(ref, { value: out.SecretString, until: Date.now() + cacheMs });
      return out.SecretString;
    },
  };
}
