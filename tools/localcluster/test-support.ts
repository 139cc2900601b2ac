// A cold build of kube-apiserver (first run on a machine) takes 5-15 minutes
// on two cores; hooks that may trigger it need far more than vitest's default.
export const buildTimeoutMs = 45 * 60 * 1000;
