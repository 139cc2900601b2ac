// Queue depth KEDA scales the runners on: jobs that are runnable now (delayed retries excluded).
export const QUEUE_DEPTH_SQL =
  "SELECT count(*) FROM jobs WHERE state IN ('queued','retrying') AND run_after <= now()";
