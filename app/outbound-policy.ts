// One resilience policy for every third-party service the platform calls (the LLM provider, the
// workflow-automation service): a per-attempt timeout, a few quick retries for a blip, and a circuit
// breaker that stops the calls while the service is not answering usefully. The callers differ only in
// what counts as a failure and what is worth retrying, so those are the parameters.
//
// Order matters: retry wraps the breaker, which wraps the timeout. A timed-out attempt counts as one
// breaker failure, and a retry while the circuit is open fails fast with BrokenCircuitError.
import {
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  wrap,
} from "cockatiel";

export type CircuitName = "closed" | "open" | "half_open";

const CIRCUIT_NAMES: Record<CircuitState, CircuitName> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half_open",
  // Isolated is a manual hold; to the callers it is as good as open.
  [CircuitState.Isolated]: "open",
};

export interface OutboundPolicyOptions {
  /** An attempt still running after this is abandoned (even mid-stream) and counts as a failure. */
  timeoutMs: number;
  /** Consecutive failures that open the circuit. */
  breakerFailures: number;
  /** How long the circuit stays open before one trial call goes through. */
  breakerHalfOpenMs: number;
  /** Whether an error (other than a timeout, which always does) says the service is failing. */
  countsAsFailure: (error: unknown) => boolean;
  /** Whether an error (other than a timeout, which always is) is worth an immediate retry. */
  retryable: (error: unknown) => boolean;
  /** Retries after the first attempt, with exponential backoff from 100 ms up to backoffMaxMs. */
  retries: number;
  backoffMaxMs: number;
  onCircuit: (state: CircuitName) => void;
}

export function outboundPolicy(options: OutboundPolicyOptions) {
  const timedOut = (error: unknown) => error instanceof TaskCancelledError;
  const breaker = circuitBreaker(
    handleWhen((error) => timedOut(error) || options.countsAsFailure(error)),
    {
      halfOpenAfter: options.breakerHalfOpenMs,
      breaker: new ConsecutiveBreaker(options.breakerFailures),
    },
  );
  const retryBlip = retry(
    handleWhen((error) => timedOut(error) || options.retryable(error)),
    {
      maxAttempts: options.retries,
      backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: options.backoffMaxMs }),
    },
  );
  // Aggressive: the attempt is abandoned at the deadline even if the body is still streaming in.
  const policy = wrap(retryBlip, breaker, timeout(options.timeoutMs, TimeoutStrategy.Aggressive));
  breaker.onStateChange((state) => options.onCircuit(CIRCUIT_NAMES[state]));
  return policy;
}
