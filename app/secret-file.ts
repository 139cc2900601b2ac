// A secret a process reads from a file (a key of a Kubernetes Secret mounted as a volume, named by a
// `*_FILE` variable), re-read when the file changes so a rotated secret reaches a running process.
//
// The kubelet updates a Secret volume by writing a new timestamped directory and swapping the
// `..data` symlink to it; each key's file is a symlink through `..data`. No write ever touches the
// file we opened, so watching it (inotify) sees nothing. Instead every read stats the path (which
// follows the symlinks to the current target) and reads the file again when its identity (device,
// inode), size or mtime differ from the last read: a stat costs microseconds, and the value is never
// staler than the kubelet's own sync.
import { readFileSync, statSync, type Stats } from "node:fs";

/** A secret's current value: the same string until its file changes. */
export interface SecretValue {
  /** The value now (re-read from its file when the file changed since the last read). */
  read(): string;
  /** The file it comes from; undefined for a value given directly (local development). */
  readonly file?: string;
}

/** A value set directly in the environment: it never rotates without a restart. */
export function fixedSecret(value: string): SecretValue {
  return { read: () => value };
}

/** The file's content as a secret: one trailing newline (from `echo` or an editor) is not part of it. */
export function secretContent(raw: string): string {
  return raw.replace(/\r?\n$/, "");
}

function identity(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

/**
 * The secret in `path`, starting from `initial` (the value the config loader validated). A read
 * that finds the file missing, unreadable or empty keeps the last good value: mid-swap or during a
 * failed sync the old secret is still the best one to try, and the loader already refused to start
 * without one.
 */
export function secretFromFile(path: string, initial?: string): SecretValue {
  let value = initial ?? secretContent(readFileSync(path, "utf8"));
  let seen = "";
  try {
    seen = identity(statSync(path));
  } catch {
    // Checked again on the next read.
  }
  return {
    file: path,
    read() {
      try {
        const now = identity(statSync(path));
        if (now === seen) return value;
        const fresh = secretContent(readFileSync(path, "utf8"));
        seen = now;
        if (fresh.trim() !== "") value = fresh;
      } catch {
        // Keep the last good value (see above).
      }
      return value;
    },
  };
}
