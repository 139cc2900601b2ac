// A minimal POSIX ustar writer into a gzip stream: the export bundle is a .tar.gz any tool opens
// (tar, 7-Zip, Python's tarfile), and nothing here needs a dependency for it. Entries are written
// whole (their size goes in the header first), so callers hand over one file's bytes at a time.
import { createGzip, type Gzip } from "node:zlib";

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** The 512-byte header of one regular file; `name` must be ASCII and at most 100 bytes. */
export function tarHeader(name: string, size: number, mtime: Date): Buffer {
  if (Buffer.byteLength(name) > 100 || !/^[\x20-\x7e]+$/.test(name))
    throw new Error(`tar entry name ${JSON.stringify(name)} must be printable ASCII of at most 100 bytes`);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, "ascii");
  header.write(octal(0o644, 8), 100, "ascii");
  header.write(octal(0, 8), 108, "ascii");
  header.write(octal(0, 8), 116, "ascii");
  header.write(octal(size, 12), 124, "ascii");
  header.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, "ascii");
  header.write("        ", 148, "ascii");
  header.write("0", 156, "ascii");
  header.write("ustar\0", 257, "ascii");
  header.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(octal(sum, 7) + " ", 148, "ascii");
  return header;
}

/** Writes entries into a gzip'd tar held in memory; `finish` returns the archive. */
export class TarGzWriter {
  readonly #gzip: Gzip = createGzip({ level: 6 });
  readonly #chunks: Buffer[] = [];
  readonly #ended: Promise<void>;
  readonly #mtime: Date;

  constructor(mtime: Date) {
    this.#mtime = mtime;
    this.#gzip.on("data", (chunk: Buffer) => this.#chunks.push(chunk));
    this.#ended = new Promise((resolve, reject) => this.#gzip.on("end", resolve).on("error", reject));
  }

  async add(name: string, bytes: Buffer): Promise<void> {
    const padding = (BLOCK - (bytes.length % BLOCK)) % BLOCK;
    this.#write(tarHeader(name, bytes.length, this.#mtime));
    this.#write(bytes);
    if (padding) this.#write(Buffer.alloc(padding));
    // Gzip buffers what it is given; waiting for it to drain bounds memory to the output, not both.
    if (this.#gzip.writableNeedDrain) await new Promise((resolve) => this.#gzip.once("drain", resolve));
  }

  #write(bytes: Buffer): void {
    this.#gzip.write(bytes);
  }

  async finish(): Promise<Buffer> {
    this.#gzip.end(Buffer.alloc(BLOCK * 2));
    await this.#ended;
    return Buffer.concat(this.#chunks);
  }

  destroy(): void {
    this.#gzip.destroy();
  }
}
