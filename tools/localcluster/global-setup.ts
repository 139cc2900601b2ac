// vitest globalSetup: build the local control plane once, before any test file
// starts, so a fresh machine's first `npm test` does not spend a test hook's
// timeout compiling kube-apiserver. Up to date, this costs a few milliseconds.
import { ensureBuilt } from "./build.ts";

export async function setup(): Promise<void> {
  await ensureBuilt();
}
