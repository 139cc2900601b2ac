// The one restricted pod and container shape every workload of the platform runs in: Deployments,
// Jobs and CronJobs alike. The namespace enforces Pod Security "restricted", so a container that
// forgets any of these fields is refused by the API server; building them here means a new
// workload cannot forget one. Probes are for long-running servers only (a Job has no /readyz).
//
// Secrets reach a process as files, never as env values (where /proc, crash dumps and child
// processes see them): each Secret a container reads is a read-only volume under
// /var/run/secrets/freight/<secret>/, and the container's env names each key's file in a `*_FILE`
// variable that the process's config loader reads (app/env.ts). The kubelet refreshes the volume
// when External Secrets updates the Secret, so a rotated value reaches the running process.
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

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
  /** Secrets the process reads, each from a file named by `<variable>_FILE`. */
  secretFiles?: SecretFile[];
}

/** A secret a process reads from a file: key `key` (default: `variable`) of the Secret `secret`. */
export interface SecretFile {
  /** The process's variable; the container gets `<variable>_FILE` with the file's path. */
  variable: string;
  secret: string;
  key?: string;
}

/** Where the platform's Secret volumes are mounted, one directory per Secret. */
export const SECRET_MOUNT_ROOT = "/var/run/secrets/freight";

/** A secret read from key `key` of Secret `secret` (for an env var of the same name by default). */
export function secretFile(variable: string, secret: string, key: string = variable): SecretFile {
  return { variable, secret, key };
}

export function secretFilePath(file: SecretFile): string {
  return `${SECRET_MOUNT_ROOT}/${file.secret}/${file.key ?? file.variable}`;
}

const secretVolumeName = (secret: string) => `secret-${secret}`;

/** The `*_FILE` variables naming each secret's file. */
export function secretFileEnv(files: SecretFile[]): EnvVar[] {
  return files.map((f) => ({ name: `${f.variable}_FILE`, value: secretFilePath(f) }));
}

/** The audience of the projected token: the API server's own (EKS's default API audience). */
export const KUBERNETES_API_AUDIENCE = "https://kubernetes.default.svc";
/** Where client libraries look for the in-cluster token, CA and namespace. */
export const SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
const TOKEN_VOLUME = "kube-api-token";
/** An hour, rotated by the kubelet at 80 % of its life; client-node re-reads the file per request. */
export const TOKEN_EXPIRATION_SECONDS = 3600;

/**
 * The ServiceAccount token of a pod that calls the Kubernetes API, declared rather than left to
 * automount: projected, bound to the pod, expiring after an hour, for the API server's audience
 * only (useless against anything else that accepts the cluster's tokens), with the CA and namespace
 * where the in-cluster loaders expect them.
 */
export function serviceAccountTokenVolume(): k8s.types.input.core.v1.Volume {
  return {
    name: TOKEN_VOLUME,
    projected: {
      defaultMode: 0o444,
      sources: [
        {
          serviceAccountToken: {
            audience: KUBERNETES_API_AUDIENCE,
            expirationSeconds: TOKEN_EXPIRATION_SECONDS,
            path: "token",
          },
        },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        { downwardAPI: { items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }] } },
      ],
    },
  };
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

export function restrictedContainer(
  args: ContainerArgs,
  options: { mountsToken?: boolean } = {},
): k8s.types.input.core.v1.Container {
  const files = args.secretFiles ?? [];
  const fileEnv = secretFileEnv(files);
  const env = Array.isArray(args.env)
    ? [...(args.env as EnvVar[]), ...fileEnv]
    : pulumi.output(args.env).apply((plain) => [...(plain as EnvVar[]), ...fileEnv]);
  const mounts: k8s.types.input.core.v1.VolumeMount[] = [
    ...(args.writableTmp ? [{ name: "tmp", mountPath: "/tmp" }] : []),
    ...[...new Set(files.map((f) => f.secret))].map((secret) => ({
      name: secretVolumeName(secret),
      mountPath: `${SECRET_MOUNT_ROOT}/${secret}`,
      readOnly: true,
    })),
    ...(options.mountsToken
      ? [{ name: TOKEN_VOLUME, mountPath: SERVICE_ACCOUNT_MOUNT, readOnly: true }]
      : []),
  ];
  return {
    name: args.name,
    image: args.image,
    ...(args.command ? { command: args.command } : {}),
    ...(args.serves ? { ports: [{ name: args.serves.portName, containerPort: args.serves.port }] } : {}),
    env,
    ...(args.envFrom ? { envFrom: args.envFrom } : {}),
    resources: args.resources,
    ...(args.serves ? httpProbes(args.serves.port) : {}),
    securityContext: RESTRICTED_CONTAINER_SECURITY,
    ...(mounts.length ? { volumeMounts: mounts } : {}),
  };
}

/** Which node group a pod runs on; the runner pool is tainted, so its pods must tolerate it. */
export type NodePool = "app" | "runners";

export interface PodArgs {
  serviceAccountName: pulumi.Input<string>;
  /**
   * Whether the process calls the Kubernetes API. Required, so each workload decides: only then is
   * a ServiceAccount token mounted (serviceAccountTokenVolume: projected, bound to the pod, expiring
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
  const secrets = [...new Set(args.containers.flatMap((c) => (c.secretFiles ?? []).map((f) => f.secret)))];
  const volumes: k8s.types.input.core.v1.Volume[] = [
    ...(tmp ? [{ name: "tmp", emptyDir: {} }] : []),
    // Group-readable through the pod's fsGroup, by nobody else; updated in place on rotation.
    ...secrets.map((secret) => ({
      name: secretVolumeName(secret),
      secret: { secretName: secret, defaultMode: 0o440 },
    })),
    ...(args.callsKubernetesApi ? [serviceAccountTokenVolume()] : []),
  ];
  return {
    serviceAccountName: args.serviceAccountName,
    // Never the implicit token: a pod that calls the API declares its own (above).
    automountServiceAccountToken: false,
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
    containers: args.containers.map((c) => restrictedContainer(c, { mountsToken: args.callsKubernetesApi })),
    ...(volumes.length ? { volumes } : {}),
  };
}
