// vitest globalSetup: build the Go tools once, before any test file starts, so a fresh machine's
// first `npm test` does not spend a test hook's timeout compiling: the local control plane
// (kube-apiserver), then the network-policy verdicts tool, which reuses most of its Go build cache.
// The documents tests' S3 gateway (versitygw) comes last. Up to date, each costs a few milliseconds.
// moto (the AWS emulator, a Python package) is checked first: without it the error names the install.
import { ensureMoto } from "../aws/moto.ts";
import { ensureNetpolBuilt } from "../netpol/build.ts";
import { ensureVersitygw } from "../s3/versitygw.ts";
import { ensureBuilt } from "./build.ts";

export async function setup(): Promise<void> {
  ensureMoto();
  await ensureBuilt();
  await ensureNetpolBuilt();
  ensureVersitygw((line) => process.stderr.write(`[versitygw] ${line}\n`));
}
