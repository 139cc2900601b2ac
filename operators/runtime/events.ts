// Kubernetes Events (events.k8s.io/v1) for what a human should see in `kubectl describe`. An event
// with a dedupe key gets a deterministic name, so a controller restarted halfway through a
// reconcile does not report the same crossing twice (the second create is a 409, ignored).
import { createHash, randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { KubeObject } from "../api/types.ts";
import { builtin, isConflict, type KubeClient } from "./kube.ts";

export interface EventInput {
  type: "Normal" | "Warning";
  /** CamelCase, e.g. UsageThresholdCrossed. */
  reason: string;
  /** What the controller did or saw, e.g. Offboard. */
  action: string;
  note: string;
  /** Same key, same event: recorded once. */
  dedupeKey?: string;
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly controller: string;
  private readonly instance: string;
  private readonly log: Logger;

  constructor(client: KubeClient, controller: string, instance: string, log: Logger) {
    this.client = client;
    this.controller = controller;
    this.instance = instance;
    this.log = log;
  }

  /** Records the event; failures are logged, never thrown (an event is not worth a failed reconcile). */
  async record(object: KubeObject, event: EventInput): Promise<void> {
    const namespace = object.metadata.namespace ?? "default";
    const suffix = event.dedupeKey
      ? createHash("sha256").update(`${object.metadata.uid}|${event.dedupeKey}`).digest("hex").slice(0, 16)
      : `${Date.now().toString(16)}${randomBytes(4).toString("hex")}`;
    const body = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: `${object.metadata.name}.${suffix}`, namespace },
      eventTime: new Date().toISOString().replace(/Z$/, "000Z"),
      reportingController: this.controller,
      reportingInstance: this.instance.slice(0, 128),
      action: event.action,
      reason: event.reason,
      note: event.note.slice(0, 1024),
      type: event.type,
      regarding: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata.name,
        namespace: object.metadata.namespace,
        uid: object.metadata.uid,
      },
    };
    try {
      await this.client.create(builtin.events, body, namespace);
    } catch (error) {
      if (isConflict(error)) return;
      this.log.warn({ err: (error as Error).message, reason: event.reason }, "could not record event");
    }
  }
}
