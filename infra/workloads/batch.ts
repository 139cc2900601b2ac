// The platform's run-to-completion work, in the app's namespace and the app image, each pod under
// the restricted spec, as the namespace's default ServiceAccount with no API token mounted (none
// of them talks to Kubernetes), each with only the database login it needs:
//   - the schema migration of a release, a Job the new app version waits for (it runs as the
//     schema owner; the Deployments depend on it, so no new pod takes traffic on an old schema);
//   - the row-security probe after the rollout, a Job whose failure fails `pulumi up`;
//   - the scheduled work: nightly usage warnings, the hourly first-quote nudges and the lead signals
//     every 10 minutes (freight_operator; the lead signals also post to the CRM webhook), the hourly
//     NPS invitations and the daily carrier compliance reminders (freight_operator; the emails go
//     through the runner's agent tasks),
//     billing reconciliation daily for the current month and monthly for the one that closed
//     (freight_billing, Stripe), trial expiry (freight_billing, Stripe, and Tenant writes as its own
//     ServiceAccount bound to billing's Role: the one job with an API token), and the weekly
//     executive report (freight_ops, read-only, on the analytics replica), and the weekly SOC 2
//     evidence snapshot (freight_operator to store it, freight_app for the isolation probe; its own
//     ServiceAccount reads RBAC bindings cluster-wide and, through IRSA, the secrets' rotation dates),
//     and the weekly pricing backtest (freight_operator; its own ServiceAccount reads PricingModels).
// They run in the active region only: the others write, and the standby's database is a replica.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import type { WorkloadImage } from "./images.ts";
import { versionLabel } from "./images.ts";
import type { ContainerArgs, EnvVar, Resources, SecretFile } from "./pod-spec.ts";
import { restrictedPodSpec } from "./pod-spec.ts";
import type { RegionSettings } from "./region-env.ts";
import { regionEnv } from "./region-env.ts";

/**
 * The platform's run-to-completion workloads by name (Job and CronJob names, and their pods'
 * `app.kubernetes.io/name`): the network flow table (network-flows.ts) selects their pods by it.
 */
export const BATCH_WORKLOADS = {
  migrate: "migrate",
  isolationProbe: "rls-probe",
  usageWarnings: "usage-warnings",
  execReport: "exec-report",
  billingReconcileDaily: "billing-reconcile-daily",
  billingReconcileMonthly: "billing-reconcile-monthly",
  onboardingNudges: "onboarding-nudges",
  leadSignals: "lead-signals",
  npsInvitations: "nps-invitations",
  carrierCompliance: "carrier-compliance",
  trialExpiry: "trial-expiry",
  evidence: "evidence",
  dsrDrill: "dsr-drill",
  pricingBacktest: "pricing-backtest",
} as const;

/** The labels of a batch workload's objects and pods. */
export function batchLabels(name: string): Record<string, string> {
  return { "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "freight" };
}

const JOB_RESOURCES: Resources = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { cpu: "500m", memory: "256Mi" },
};

/** An image tag as a DNS label suffix: `2026.11.26-3f9c2ab` -> `2026-11-26-3f9c2ab`. */
export function releaseSuffix(tag: string): string {
  return tag
    .replace(/^sha256:/, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
}

function jobPod(
  container: Omit<ContainerArgs, "resources"> & { resources?: Resources },
  serviceAccountName?: pulumi.Input<string>,
) {
  return restrictedPodSpec({
    serviceAccountName: serviceAccountName ?? "default",
    pool: "app",
    restartPolicy: "Never",
    // Jobs run as the namespace's default account with no token unless they name an account of their
    // own: only those call the Kubernetes API, with exactly what that account is bound to.
    callsKubernetesApi: serviceAccountName !== undefined,
    containers: [{ ...container, resources: container.resources ?? JOB_RESOURCES }],
  });
}

export interface ReleaseJobArgs {
  namespace: k8s.core.v1.Namespace;
  /** Its tag names the Job: one Job per release, so each release migrates (and is probed) once. */
  image: WorkloadImage;
  region: RegionSettings;
  env: EnvVar[];
  /** The database login it runs as, mounted as a file (pod-spec.ts). */
  secretFiles: SecretFile[];
  /** What must exist (or finish) first: Secrets, and for the probe the rolled-out Deployments. */
  dependsOn: pulumi.Resource[];
}

/**
 * A Job `pulumi up` waits for: created anew for each release (its name carries the tag), and
 * replaced if a previous run failed (`replaceUnready`), so a fixed release can be retried.
 */
function releaseJob(
  parent: pulumi.ComponentResource,
  name: string,
  jobName: string,
  command: string[],
  args: ReleaseJobArgs,
  backoffLimit: number,
): k8s.batch.v1.Job {
  return new k8s.batch.v1.Job(
    name,
    {
      metadata: {
        name: `${jobName}-${releaseSuffix(args.image.tag)}`,
        namespace: args.namespace.metadata.name,
        labels: batchLabels(jobName),
        annotations: { "pulumi.com/replaceUnready": "true" },
      },
      spec: {
        backoffLimit,
        activeDeadlineSeconds: 900,
        template: {
          metadata: {
            labels: { ...batchLabels(jobName), ...versionLabel(args.image) },
          },
          spec: jobPod({
            name: jobName,
            image: args.image.ref,
            command,
            env: [...regionEnv(args.region), ...args.env],
            secretFiles: args.secretFiles,
          }),
        },
      },
    },
    { parent, dependsOn: [args.namespace, ...args.dependsOn] },
  );
}

/** The release's schema migration; the Deployments of the new version depend on it. */
export class SchemaMigration extends pulumi.ComponentResource {
  readonly job: k8s.batch.v1.Job;
  constructor(name: string, args: ReleaseJobArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:SchemaMigration", name, {}, opts);
    // node-pg-migrate takes an advisory lock: a retried or concurrent run waits, never doubles.
    this.job = releaseJob(this, name, BATCH_WORKLOADS.migrate, ["node", "app/db/migrate.ts"], args, 2);
    this.registerOutputs({ jobName: this.job.metadata.name });
  }
}

/** The post-deploy row-security probe; a leak fails the Job and with it the deploy. */
export class IsolationProbe extends pulumi.ComponentResource {
  readonly job: k8s.batch.v1.Job;
  constructor(name: string, args: ReleaseJobArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:IsolationProbe", name, {}, opts);
    // A leak is deterministic: one retry covers a dropped connection, not a finding.
    const command = ["node", "app/ops/rls-probe.ts"];
    this.job = releaseJob(this, name, BATCH_WORKLOADS.isolationProbe, command, args, 1);
    this.registerOutputs({ jobName: this.job.metadata.name });
  }
}

/** The pod with a volume claim mounted in its container at `mountPath`. */
function withOutputVolume(
  pod: k8s.types.input.core.v1.PodSpec,
  mountPath: string,
  claimName: pulumi.Input<string>,
): k8s.types.input.core.v1.PodSpec {
  const containers = pod.containers as k8s.types.input.core.v1.Container[];
  return {
    ...pod,
    containers: containers.map((c) => ({
      ...c,
      volumeMounts: [
        ...((c.volumeMounts as k8s.types.input.core.v1.VolumeMount[] | undefined) ?? []),
        { name: "output", mountPath },
      ],
    })),
    volumes: [
      ...((pod.volumes as k8s.types.input.core.v1.Volume[] | undefined) ?? []),
      { name: "output", persistentVolumeClaim: { claimName } },
    ],
  };
}

export interface ScheduledTask {
  /** CronJob name. */
  name: string;
  /** Cron schedule in UTC. */
  schedule: string;
  command: string[];
  env: EnvVar[];
  /** The logins and keys it reads, mounted as files (pod-spec.ts). */
  secretFiles: SecretFile[];
  /** Longest a run may take before it is stopped and counted as failed. */
  deadlineSeconds: number;
  /** Files a run leaves behind (the report), on a volume claim that outlives the pod. */
  output?: { mountPath: string; size: string };
  /** The ServiceAccount of a job that calls the Kubernetes API (its token is mounted); else none. */
  serviceAccountName?: pulumi.Input<string>;
}

export interface ScheduledJobsArgs {
  namespace: k8s.core.v1.Namespace;
  image: WorkloadImage;
  region: RegionSettings;
  tasks: ScheduledTask[];
  /** The Secrets they read, and anything else to exist first. */
  dependsOn: pulumi.Resource[];
}

export class ScheduledJobs extends pulumi.ComponentResource {
  readonly cronJobNames: string[];
  constructor(name: string, args: ScheduledJobsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:workloads:ScheduledJobs", name, {}, opts);
    for (const task of args.tasks) {
      const labels = batchLabels(task.name);
      const pod = jobPod(
        {
          name: task.name,
          image: args.image.ref,
          command: task.command,
          env: [...regionEnv(args.region), ...task.env],
          secretFiles: task.secretFiles,
          writableTmp: true,
        },
        task.serviceAccountName,
      );
      let claim: k8s.core.v1.PersistentVolumeClaim | undefined;
      if (task.output) {
        claim = new k8s.core.v1.PersistentVolumeClaim(
          `${name}-${task.name}-output`,
          {
            metadata: {
              name: `${task.name}-output`,
              namespace: args.namespace.metadata.name,
              labels,
              // EBS claims bind when their first pod is scheduled (the next run); Pulumi must not wait for it.
              annotations: { "pulumi.com/skipAwait": "true" },
            },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: task.output.size } } },
          },
          { parent: this, dependsOn: [args.namespace] },
        );
      }
      const output = task.output && claim ? { mountPath: task.output.mountPath, claim } : undefined;
      new k8s.batch.v1.CronJob(
        `${name}-${task.name}`,
        {
          metadata: { name: task.name, namespace: args.namespace.metadata.name, labels },
          spec: {
            schedule: task.schedule,
            timeZone: "Etc/UTC",
            // A slow run is never overlapped by the next; a missed one is started late within an hour.
            concurrencyPolicy: "Forbid",
            startingDeadlineSeconds: 3600,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 5,
            jobTemplate: {
              metadata: { labels },
              spec: {
                backoffLimit: 2,
                activeDeadlineSeconds: task.deadlineSeconds,
                template: {
                  metadata: { labels: { ...labels, ...versionLabel(args.image) } },
                  spec: output ? withOutputVolume(pod, output.mountPath, output.claim.metadata.name) : pod,
                },
              },
            },
          },
        },
        { parent: this, dependsOn: [args.namespace, ...args.dependsOn] },
      );
    }
    this.cronJobNames = args.tasks.map((t) => t.name);
    this.registerOutputs({ cronJobNames: this.cronJobNames });
  }
}
