// The one restricted pod and container shape every workload of the platform runs in: Deployments,
// Jobs and CronJobs alike. The namespace enforces Pod Security "restricted", so a container that
// forgets any of these fields is refused by the API server; building them here means a new
// workload cannot forget one. Probes are for long-running servers only (a Job has no /readyz).
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

import { RUNNER_POOL_LABEL } from "../cluster/cluster.ts";

/** The unprivileged user and group the app and operator images are built to run as. */
export const APP_USER = 10001;

/** Restricted container security: non-root, no privilege escalation, no capabilities, read-only root. */
export const RESTRICTED_CONTAINER_SECURITY = {
  runAsNonRoot: true,
  runAsUser: APP_USER,
  runAsGroup: APP_USER,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

export type EnvVar = k8s.types.input.core.v1.EnvVar;

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export interface ContainerArgs {
  name: string;
  image: string;
  /** Omitted: the image's entrypoint (the quote API). */
  command?: string[];
  env: pulumi.Input<EnvVar[]>;
  envFrom?: k8s.types.input.core.v1.EnvFromSource[];
  resources: Resources;
  /** A long-running server: the named port it listens on, serving /healthz and /readyz there. */
  serves?: { portName: string; port: number };
  /** Mount an emptyDir at /tmp (the root filesystem is read-only). */
  writableTmp?: boolean;
}

/** An env var read from one key of a Kubernetes Secret. */
export function secretEnv(name: string, secret: string, key: string = name): EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

export function httpProbes(port: number) {
  return {
    livenessProbe: {
      httpGet: { path: "/healthz", port },
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: "/readyz", port },
      periodSeconds: 5,
      timeoutSeconds: 2,
      failureThreshold: 2,
    },
  };
}

export function restrictedContainer(args: ContainerArgs): k8s.types.input.core.v1.Container {
  return {
    name: args.name,
    image: args.image,
    ...(args.command ? { command: args.command } : {}),
    ...(args.serves ? { ports: [{ name: args.serves.portName, containerPort: args.serves.port }] } : {}),
    env: args.env,
    ...(args.envFrom ? { envFrom: args.envFrom } : {}),
    resources: args.resources,
    ...(args.serves ? httpProbes(args.serves.port) : {}),
    securityContext: RESTRICTED_CONTAINER_SECURITY,
    ...(args.writableTmp ? { volumeMounts: [{ name: "tmp", mountPath: "/tmp" }] } : {}),
  };
}

/** Which node group a pod runs on; the runner pool is tainted, so its pods must tolerate it. */
export type NodePool = "app" | "runners";

export interface PodArgs {
  serviceAccountName: pulumi.Input<string>;
  /**
   * Whether the process calls the Kubernetes API. Required, so each workload decides: only then is
   * the ServiceAccount token mounted (the kubelet's projected token, bound to the pod, expiring
   * and rotated, with the API server as its audience); otherwise a stolen pod holds no credential.
   */
  callsKubernetesApi: boolean;
  pool: NodePool;
  containers: ContainerArgs[];
  terminationGracePeriodSeconds?: number;
  /** Jobs: "Never" or "OnFailure"; Deployments leave it to the default (Always). */
  restartPolicy?: "Never" | "OnFailure";
  /** Anything else a workload needs (topology spread, ...). */
  extra?: Omit<k8s.types.input.core.v1.PodSpec, "containers">;
}

export function restrictedPodSpec(args: PodArgs): k8s.types.input.core.v1.PodSpec {
  const tmp = args.containers.some((c) => c.writableTmp);
  return {
    serviceAccountName: args.serviceAccountName,
    automountServiceAccountToken: args.callsKubernetesApi,
    securityContext: { runAsNonRoot: true, fsGroup: APP_USER, seccompProfile: { type: "RuntimeDefault" } },
    nodeSelector: { [RUNNER_POOL_LABEL]: args.pool },
    ...(args.pool === "runners"
      ? {
          tolerations: [
            { key: RUNNER_POOL_LABEL, operator: "Equal", value: "runners", effect: "NoSchedule" },
          ],
        }
      : {}),
    ...(args.restartPolicy ? { restartPolicy: args.restartPolicy } : {}),
    ...(args.terminationGracePeriodSeconds !== undefined
      ? { terminationGracePeriodSeconds: args.terminationGracePeriodSeconds }
      : {}),
    ...args.extra,
    containers: args.containers.map(restrictedContainer),
    ...(tmp ? { volumes: [{ name: "tmp", emptyDir: {} }] } : {}),
  };
}
