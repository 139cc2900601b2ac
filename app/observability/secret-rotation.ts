// When each platform secret was last rotated, read from Secrets Manager into the
// secret_last_rotated_timestamp_seconds gauge that the SecretRotationDueSoon/Overdue alerts read.
// DescribeSecret returns metadata only (never the value), so the pod's role needs no read access to
// the secrets it watches. A secret that never rotated counts from its last change (its first value
// was set by hand), else from its creation: the deadline runs from then, as the policy means.
// A failed read keeps the last known date and is retried at the next refresh; it never stops the API.
// The window each date runs against comes from the store too: the `secret-class` tag the stacks set on
// every platform secret (infra/secrets/secrets.ts), else the label (the alerts' pattern, dashboards/slo.ts).
// Within warnDaysBefore of a deadline (or past it) the process stays up but reads "degraded"
// (RotationLedger.readiness: /readyz and the readiness_degraded gauge, which pages). The quote API,
// the runner and the operators each watch the secrets they use this one way (startRotationWatch).
import {
  DescribeSecretCommand,
  SecretsManagerClient,
  type DescribeSecretCommandOutput,
} from "@aws-sdk/client-secrets-manager";
import { Gauge, type Registry } from "prom-client";
import { OPERATIONS } from "../../dashboards/slo.ts";
import { parseRotationTimestamps, type RotationConfig } from "../config.ts";

/** The two gauges the rotation alerts read, on a process's registry (same names in every process). */
export function rotationGauges(registry: Registry): {
  secretLastRotated: Gauge<"secret">;
  readinessDegraded: Gauge<"check">;
} {
  return {
    secretLastRotated: new Gauge({
      name: "secret_last_rotated_timestamp_seconds",
      help: "When each secret the process uses was last rotated (Unix seconds), from the secret's rotation metadata.",
      labelNames: ["secret"],
      registers: [registry],
    }),
    readinessDegraded: new Gauge({
      name: "readiness_degraded",
      help: "1 while a readiness check is degraded (the process still serves; /readyz says why), by check.",
      labelNames: ["check"],
      registers: [registry],
    }),
  };
}

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

/** The classes the stacks tag secrets with (`secret-class`), each with its rotation window. */
export const SECRET_CLASS_TAG = "secret-class";
export const ROTATION_WINDOW_DAYS = {
  "service-role": OPERATIONS.secretRotation.serviceRoleDays,
  "third-party-api-key": OPERATIONS.secretRotation.otherDays,
} as const;
export type SecretClass = keyof typeof ROTATION_WINDOW_DAYS;

// The alerts' PromQL pattern is RE2 with an inline (?i); JavaScript takes the flag apart.
const SERVICE_ROLE_LABEL = new RegExp(
  `^(?:${OPERATIONS.secretRotation.serviceRolePattern.replace(/^\(\?i\)/, "")})$`,
  "i",
);

/**
 * Days between rotations: the store's class tag wins; an untagged secret is classed by its label as
 * the alerts class it, and anything unrecognised gets the strictest window (never under-watched).
 */
export function rotationWindowDays(label: string, secretClass?: string): number {
  if (secretClass && secretClass in ROTATION_WINDOW_DAYS)
    return ROTATION_WINDOW_DAYS[secretClass as SecretClass];
  return SERVICE_ROLE_LABEL.test(label)
    ? ROTATION_WINDOW_DAYS["service-role"]
    : ROTATION_WINDOW_DAYS["third-party-api-key"];
}

export interface SecretAge {
  label: string;
  lastRotated: Date;
  windowDays: number;
  deadline: Date;
  /** Negative once the deadline has passed. */
  daysLeft: number;
  state: "ok" | "due soon" | "overdue";
}

const DAY_MS = 86_400_000;

/** Each secret's age against its window, as of `now`. */
export function secretAges(
  dates: ReadonlyMap<string, { lastRotated: Date; windowDays: number }>,
  now: Date,
  warnDaysBefore: number = OPERATIONS.secretRotation.warnDaysBefore,
): SecretAge[] {
  return [...dates].map(([label, { lastRotated, windowDays }]) => {
    const deadline = new Date(lastRotated.getTime() + windowDays * DAY_MS);
    const daysLeft = (deadline.getTime() - now.getTime()) / DAY_MS;
    const state = daysLeft < 0 ? "overdue" : daysLeft < warnDaysBefore ? "due soon" : "ok";
    return { label, lastRotated, windowDays, deadline, daysLeft, state };
  });
}

export interface RotationReadiness {
  degraded: boolean;
  /** What /readyz says under checks.secrets. */
  detail: string;
}

/**
 * The rotation dates a process knows (from the store or its overrides), with their windows: the
 * gauge the rotation alerts read, and the readiness verdict /readyz and readiness_degraded report.
 */
export class RotationLedger {
  private readonly dates = new Map<string, { lastRotated: Date; windowDays: number }>();
  private readonly gauge: Gauge<"secret">;
  private readonly degradedGauge: Gauge<"check"> | undefined;

  constructor(gauge: Gauge<"secret">, degradedGauge?: Gauge<"check">) {
    this.gauge = gauge;
    this.degradedGauge = degradedGauge;
  }

  record(label: string, lastRotated: Date, secretClass?: string): void {
    this.dates.set(label, { lastRotated, windowDays: rotationWindowDays(label, secretClass) });
    this.gauge.set({ secret: label }, lastRotated.getTime() / 1000);
  }

  ages(now: Date = new Date()): SecretAge[] {
    return secretAges(this.dates, now);
  }

  readiness(now: Date = new Date()): RotationReadiness {
    const due = this.ages(now)
      .filter((a) => a.state !== "ok")
      .sort((a, b) => a.daysLeft - b.daysLeft);
    this.degradedGauge?.set({ check: "secret-rotation" }, due.length ? 1 : 0);
    if (this.dates.size === 0) return { degraded: false, detail: "no rotation dates known" };
    if (!due.length) return { degraded: false, detail: `${this.dates.size} within their rotation windows` };
    const what = due.map((a) =>
      a.state === "overdue"
        ? `${a.label} overdue since ${a.deadline.toISOString()} (${a.windowDays}-day window)`
        : `${a.label} due by ${a.deadline.toISOString()} (${a.windowDays}-day window)`,
    );
    return { degraded: true, detail: `rotate: ${what.join("; ")}` };
  }
}

/** Reads each secret's rotation date once into the ledger; resolves with the labels that could not be read. */
export async function recordRotationDates(options: {
  client: SecretsManagerClient;
  secrets: WatchedSecret[];
  ledger: RotationLedger;
  log: Log;
}): Promise<string[]> {
  const { client, secrets: watched, ledger, log } = options;
  const results = await Promise.allSettled(
    watched.map(async (s) => {
      const described = await client.send(new DescribeSecretCommand({ SecretId: s.secretId }));
      const at = lastRotation(described);
      if (!at) throw new Error("the answer carries no rotation, change or creation date");
      const secretClass = described.Tags?.find((t) => t.Key === SECRET_CLASS_TAG)?.Value;
      ledger.record(s.label, at, secretClass);
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
}

export interface SecretRotationWatch {
  /** Reads every watched secret once; resolves with the labels that could not be read. */
  refresh(): Promise<string[]>;
  stop(): void;
}

/**
 * Records `overrides` (SECRETS_LAST_ROTATED) at once, reads the other secrets now and
 * every `intervalMs`. Overrides win: a secret named there is not read from Secrets Manager.
 */
export function watchSecretRotation(options: {
  /** Needed only when `secrets` is not empty. */
  client: SecretsManagerClient | undefined;
  secrets: WatchedSecret[];
  overrides: Map<string, Date>;
  ledger: RotationLedger;
  intervalMs: number;
  log: Log;
}): SecretRotationWatch {
  const { client, ledger, log } = options;
  for (const [secret, at] of options.overrides) ledger.record(secret, at);
  const watched = options.secrets.filter((s) => !options.overrides.has(s.label));
  if (watched.length > 0 && !client)
    throw new Error("Watching secret rotation dates needs a Secrets Manager client (set AWS_REGION)");

  const refresh = () => recordRotationDates({ client: client!, secrets: watched, ledger, log });

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

/**
 * A process's rotation watch from its config (rotationConfigShape): the overrides recorded at once,
 * the watched secrets read now and every SECRETS_ROTATION_REFRESH_SECONDS. `client` lets a process
 * share its Secrets Manager client; else one is made for AWS_REGION when secrets are watched.
 */
export function startRotationWatch(options: {
  config: RotationConfig;
  ledger: RotationLedger;
  log: Log;
  client?: SecretsManagerClient;
}): SecretRotationWatch {
  const { config } = options;
  const secrets = parseWatchedSecrets(config.SECRETS_ROTATION_WATCH);
  const client =
    options.client ??
    (secrets.length && config.AWS_REGION
      ? secretsManagerClient({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL_SECRETS_MANAGER })
      : undefined);
  return watchSecretRotation({
    // The configs require AWS_REGION whenever secrets are watched.
    client,
    secrets,
    overrides: parseRotationTimestamps(config.SECRETS_LAST_ROTATED),
    ledger: options.ledger,
    intervalMs: config.SECRETS_ROTATION_REFRESH_SECONDS * 1000,
    log: options.log,
  });
}
