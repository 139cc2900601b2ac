// When each platform secret was last rotated, read from Secrets Manager into the
// secret_last_rotated_timestamp_seconds gauge that the SecretRotationDueSoon/Overdue alerts read.
// DescribeSecret returns metadata only (never the value), so the pod's role needs no read access to
// the secrets it watches. A secret that never rotated counts from its last change (its first value
// was set by hand), else from its creation: the deadline runs from then, as the policy means.
// A failed read keeps the last known date and is retried at the next refresh; it never stops the API.
import {
  DescribeSecretCommand,
  SecretsManagerClient,
  type DescribeSecretCommandOutput,
} from "@aws-sdk/client-secrets-manager";
import type { Gauge } from "prom-client";

export interface WatchedSecret {
  /** The `secret` label of the gauge, e.g. "database-service-role". */
  label: string;
  /** Name or ARN of the secret in Secrets Manager. */
  secretId: string;
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** `label=secret,label=secret` (SECRETS_ROTATION_WATCH, already validated by the config schema). */
export function parseWatchedSecrets(value: string | undefined): WatchedSecret[] {
  return (value ? value.split(",") : []).map((pair) => {
    const [label, secretId] = pair.split("=") as [string, string];
    return { label, secretId };
  });
}

/** The date the rotation deadline runs from. */
export function lastRotation(secret: DescribeSecretCommandOutput): Date | undefined {
  return secret.LastRotatedDate ?? secret.LastChangedDate ?? secret.CreatedDate;
}

export function secretsManagerClient(options: { region: string; endpoint?: string }): SecretsManagerClient {
  return new SecretsManagerClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 3,
  });
}

export interface SecretRotationWatch {
  /** Reads every watched secret once; resolves with the labels that could not be read. */
  refresh(): Promise<string[]>;
  stop(): void;
}

/**
 * Sets the gauge from `overrides` (SECRETS_LAST_ROTATED) at once, reads the other secrets now and
 * every `intervalMs`. Overrides win: a secret named there is not read from Secrets Manager.
 */
export function watchSecretRotation(options: {
  /** Needed only when `secrets` is not empty. */
  client: SecretsManagerClient | undefined;
  secrets: WatchedSecret[];
  overrides: Map<string, Date>;
  gauge: Gauge<"secret">;
  intervalMs: number;
  log: Log;
}): SecretRotationWatch {
  const { client, gauge, log } = options;
  for (const [secret, at] of options.overrides) gauge.set({ secret }, at.getTime() / 1000);
  const watched = options.secrets.filter((s) => !options.overrides.has(s.label));
  if (watched.length > 0 && !client)
    throw new Error("Watching secret rotation dates needs a Secrets Manager client (set AWS_REGION)");

  const refresh = async (): Promise<string[]> => {
    const results = await Promise.allSettled(
      watched.map(async (s) => {
        const described = await client!.send(new DescribeSecretCommand({ SecretId: s.secretId }));
        const at = lastRotation(described);
        if (!at) throw new Error("the answer carries no rotation, change or creation date");
        gauge.set({ secret: s.label }, at.getTime() / 1000);
      }),
    );
    const failed: string[] = [];
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      const s = watched[i]!;
      const error = result.reason as Error;
      failed.push(s.label);
      log.warn(
        { secret: s.label, secretId: s.secretId, error: `${error.name}: ${error.message}` },
        `cannot read when secret ${s.secretId} was last rotated (DescribeSecret failed); its rotation alerts ` +
          `use the last known date until this works. Check that the pod's IAM role allows ` +
          `secretsmanager:DescribeSecret on it (infra/secrets/secrets.ts, rotation watch policy)`,
      );
    });
    return failed;
  };

  let timer: NodeJS.Timeout | undefined;
  if (watched.length > 0) {
    void refresh();
    timer = setInterval(() => void refresh(), options.intervalMs);
    timer.unref();
  }
  return {
    refresh,
    stop: () => clearInterval(timer),
  };
}
