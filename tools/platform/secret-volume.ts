// A Secret volume on this machine, laid out and updated the way the kubelet's atomic writer does it,
// so the local platform and the rotation tests exercise what a pod sees: each key is a symlink
// `<dir>/<KEY> -> ..data/<KEY>`, `..data` is a symlink to a timestamped directory holding the files,
// and an update writes a new timestamped directory and renames a fresh `..data` over the old one (one
// atomic step: a reader sees the old set or the new set, never half of each). The files themselves
// are never rewritten in place, which is why processes re-read by stat rather than by inotify.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const DATA = "..data";
let generation = 0;

/** Writes (or replaces) the volume's keys in `dir`; returns each key's file path. */
export function writeSecretVolume(dir: string, keys: Record<string, string>): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const previous = readdirSync(dir).filter((name) => name.startsWith("..") && name !== DATA);
  // Unique even within one millisecond: two updates in a row must not share a directory.
  const version = `..${new Date().toISOString().replace(/[:.]/g, "_")}.${process.pid}.${++generation}`;
  mkdirSync(join(dir, version), { mode: 0o750 });
  for (const [key, value] of Object.entries(keys))
    writeFileSync(join(dir, version, key), value, { mode: 0o440 });
  const staging = join(dir, `${DATA}_tmp`);
  rmSync(staging, { force: true });
  symlinkSync(version, staging);
  renameSync(staging, join(dir, DATA));
  const visible = new Set(Object.keys(keys));
  for (const name of readdirSync(dir)) {
    if (name.startsWith("..")) continue;
    if (!visible.has(name)) rmSync(join(dir, name), { force: true });
  }
  const paths: Record<string, string> = {};
  for (const key of visible) {
    const path = join(dir, key);
    // An existing key's link already points through ..data: the swap above updated it.
    if (!existsSync(path)) symlinkSync(join(DATA, key), path);
    paths[key] = path;
  }
  for (const old of previous) rmSync(join(dir, old), { recursive: true, force: true });
  return paths;
}
