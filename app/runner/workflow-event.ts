// workflow_event: an event the product hands to workflow automation (the plan's n8n), e.g.
// carrier_invited, whose workflow sends the invite email and tracks the carrier's onboarding. The
// event name is the webhook's path. Without WORKFLOW_AUTOMATION_URL the event is a structured log
// line (as ops events are without a webhook). While the service is unavailable or rejects our
// credential the task is deferred, uncounted, so an outage or a bad key of any length loses nothing;
// it is delivered once the key is rotated or the service answers again.
import { z } from "zod";
import { WorkflowCallError, type WorkflowAutomation } from "../workflow/automation.ts";
import { DeferTaskError, PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

const workflowEvent = z.looseObject({ event: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/) });

/** The smallest wait before a deferred event is tried again. */
const MIN_DEFER_MS = 1_000;

export function workflowEventHandler(options: { workflow?: WorkflowAutomation }): AgentTaskHandler {
  return async (task, { signal, log }) => {
    const parsed = workflowEvent.safeParse(task.payload);
    if (!parsed.success)
      throw new PermanentTaskError(
        `workflow_event payload needs an event name (lower_snake_case); got ${JSON.stringify(task.payload).slice(0, 200)}`,
      );
    const event = { ...parsed.data, taskId: task.id, tenantId: task.tenantId };
    if (!options.workflow) {
      log.info(event, `workflow event ${event.event} (WORKFLOW_AUTOMATION_URL is not set: logged only)`);
      return { delivery: "log" };
    }
    try {
      await options.workflow.post(event.event, event, { idempotencyKey: task.id, signal });
      return { delivery: "workflow" };
    } catch (error) {
      if (!(error instanceof WorkflowCallError)) throw error;
      if (error.kind === "refused") throw new PermanentTaskError(error.message);
      if (error.kind === "unavailable" || error.kind === "credential_rejected")
        throw new DeferTaskError(
          error.message,
          Math.max(MIN_DEFER_MS, options.workflow.options.breakerHalfOpenMs),
        );
      throw error;
    }
  };
}
