// vitest globalSetup: build the local control plane once, before any test file
// starts, so a fresh machine's first `npm test` does not spend a test hook's
// timeout compiling kube-apiserver. Up to date, this costs a few milliseconds.
import { ensureVersitygw } from "../s3/versitygw.ts";
import { ensureBuilt } from "./build.ts";

export async function setup(): Promise<void> {
  await ensureBuilt();
  // The documents tests' S3 gateway, likewise built once before the files that start it.
  ensureVersitygw((line) => process.stderr.write(`[versitygw] ${line}\n`));
}
