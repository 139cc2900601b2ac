// Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing: a leader that fails
// to renew for renewDeadline gives up; a candidate takes over only after it has seen the same
// record, unchanged, for a full leaseDuration (measured on its own clock, so clock skew between
// replicas does not matter); everyone retries every retryPeriod. Two replicas therefore never both
// act, and a dead leader is replaced within about leaseDuration + retryPeriod.
import type { Logger } from "pino";
import { sleep } from "./backoff.ts";
import { builtin, isConflict, isNotFound, type KubeClient } from "./kube.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (d: Date) => d.toISOString().replace(/Z$/, "000Z");

export class LeaderElector {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly client: KubeClient;
  private readonly options: LeaderElectionOptions;
  private readonly log: Logger;
  private observed: { record: string; at: number } | undefined;
  private lease: Lease | undefined;
  private leading = false;

  constructor(client: KubeClient, options: LeaderElectionOptions, log: Logger) {
    this.client = client;
    this.options = options;
    this.log = log.child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new Error("leader election: renewDeadline must be shorter than leaseDuration");
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, calls `lead` with a signal that aborts when leadership is lost or
   * `signal` aborts, and returns when leading ended. On a clean stop the lease is released so a
   * standby replica takes over at once instead of after the lease expires.
   */
  async run(
    signal: AbortSignal,
    lead: (leadership: AbortSignal) => Promise<void>,
  ): Promise<"stopped" | "lost"> {
    while (!signal.aborted && !(await this.tryAcquireOrRenew())) {
      await sleep(this.retryPeriodMs, signal);
    }
    if (signal.aborted) return "stopped";
    this.leading = true;
    this.log.info("became leader");
    const leadership = new AbortController();
    const stopLeading = () => leadership.abort();
    signal.addEventListener("abort", stopLeading, { once: true });
    const work = lead(leadership.signal).catch((error: unknown) => {
      this.log.error({ err: error }, "controllers failed while leading");
      leadership.abort();
    });
    let outcome: "stopped" | "lost" = "stopped";
    let lastRenew = Date.now();
    while (!leadership.signal.aborted) {
      await sleep(this.retryPeriodMs, leadership.signal);
      if (leadership.signal.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (
        Date.now() - lastRenew > this.renewDeadlineMs ||
        (this.lease && this.holder() !== this.options.identity)
      ) {
        this.log.error("failed to renew the leader lease in time; stepping down");
        outcome = "lost";
        leadership.abort();
      }
    }
    signal.removeEventListener("abort", stopLeading);
    await work;
    this.leading = false;
    if (outcome === "stopped") await this.release();
    return outcome;
  }

  private holder(): string | undefined {
    return this.lease?.spec.holderIdentity ?? undefined;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const { namespace, name, identity } = this.options;
    const desired = (previous?: Lease): Lease => {
      const mine = previous?.spec.holderIdentity === identity;
      return {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace, resourceVersion: previous?.metadata.resourceVersion },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
          acquireTime: mine ? previous.spec.acquireTime : microTime(now),
          renewTime: microTime(now),
          leaseTransitions: (previous?.spec.leaseTransitions ?? 0) + (previous && !mine ? 1 : 0),
        },
      };
    };
    try {
      let current: Lease;
      try {
        current = await this.client.request<Lease>("GET", this.client.path(builtin.leases, namespace, name), {
          timeoutMs: this.retryPeriodMs * 2,
          priority: "leader-election",
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.lease = await this.client.request<Lease>("POST", this.client.path(builtin.leases, namespace), {
          body: desired(),
          timeoutMs: this.retryPeriodMs * 2,
          priority: "leader-election",
        });
        this.observe(this.lease);
        return true;
      }
      this.lease = current;
      this.observe(current);
      const holder = current.spec.holderIdentity;
      if (holder && holder !== identity) {
        const durationMs = (current.spec.leaseDurationSeconds ?? 15) * 1000;
        if (Date.now() < this.observed!.at + durationMs) return false; // held and not expired
        this.log.info({ previousHolder: holder }, "lease expired; taking over");
      }
      this.lease = await this.client.request<Lease>(
        "PUT",
        this.client.path(builtin.leases, namespace, name),
        {
          body: desired(current),
          timeoutMs: this.retryPeriodMs * 2,
          priority: "leader-election",
        },
      );
      this.observe(this.lease);
      return true;
    } catch (error) {
      // 409: another replica wrote first; anything else: the API server is unreachable. Either way
      // we are not (or no longer sure to be) the leader this round.
      if (!isConflict(error)) this.log.warn({ err: (error as Error).message }, "lease update failed");
      return false;
    }
  }

  private observe(lease: Lease): void {
    const record = JSON.stringify([lease.spec.holderIdentity, lease.spec.renewTime]);
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
  }

  private async release(): Promise<void> {
    if (!this.lease || this.holder() !== this.options.identity) return;
    try {
      await this.client.request(
        "PUT",
        this.client.path(builtin.leases, this.options.namespace, this.options.name),
        {
          body: {
            ...this.lease,
            spec: {
              ...this.lease.spec,
              holderIdentity: null,
              leaseDurationSeconds: 1,
              renewTime: microTime(new Date()),
            },
          },
          timeoutMs: 5000,
          priority: "leader-election",
        },
      );
      this.log.info("released the leader lease");
    } catch (error) {
      this.log.warn(
        { err: (error as Error).message },
        "could not release the leader lease; it expires by itself",
      );
    }
  }
}
