// How the operators' manager process runs: its command (with the V8 heap cap) and its container's
// resources. One module without Pulumi imports so the stacks (operators.ts), the local platform and
// the operators' tests and bench (tools/platform/operators.ts) all run the manager the same way.
//
// Node sizes its heap from the machine's memory, not the container's limit: on a large node it
// collects lazily and the kernel OOM-kills the pod before V8 feels pressure. Both generations are
// capped. The old generation holds what the manager keeps (about 80 MB live at 10,000 tenants, after
// a full collection); the young generation is where every watch event and API response is parsed,
// and V8 sized it at 128 MB on its own (a third of the resident set at 10,000 tenants, for objects
// that live milliseconds): 16 MB semi-spaces cost a few CPU-seconds more scavenging over a cold start
// and cut the peak by about 120 MB. The rest of the limit is code and native memory (sockets, pg
// buffers). Measured in docs/benchmarks.md ("Operators").

/** V8's old-generation cap for the manager, in MiB. */
export const OPERATORS_HEAP_MB = 256;

/** V8's young-generation semi-space cap, in MiB. */
export const OPERATORS_SEMI_SPACE_MB = 16;

/** The flags node runs the manager with, before the script. */
export const OPERATORS_NODE_FLAGS = [
  `--max-old-space-size=${OPERATORS_HEAP_MB}`,
  `--max-semi-space-size=${OPERATORS_SEMI_SPACE_MB}`,
];

/** The manager's script, relative to the repository (the image's working directory). */
export const OPERATORS_SCRIPT = "operators/main.ts";

/** The container's command, as the stacks deploy it and the local platform runs it. */
export const OPERATORS_COMMAND = ["node", ...OPERATORS_NODE_FLAGS, OPERATORS_SCRIPT];

/** Requests equal to limits for memory: the manager's peak at 10,000 tenants plus headroom. */
export const OPERATORS_RESOURCES = {
  requests: { cpu: "100m", memory: "512Mi" },
  limits: { cpu: "500m", memory: "512Mi" },
};
