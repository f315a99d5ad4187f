// Collects UTF-8 bytes in fixed-size chunks, written straight from small strings. The exposition
// of a large snapshot (5 MB at 2000 tables) then never exists as one JS string: building it with
// `+=` and flattening it for Buffer.from allocated several times its size per poll, and that
// garbage, not the snapshot itself, set the exporter's RSS (measured with bench/).

const CHUNK_BYTES = 64 * 1024;

/** UTF-8 needs at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units). */
const MAX_BYTES_PER_UNIT = 3;

export class ChunkWriter {
  private readonly chunks: Buffer[] = [];
  private buf: Buffer | undefined;
  private pos = 0;
  /** Bytes written so far. */
  length = 0;

  constructor(private readonly chunkBytes = CHUNK_BYTES) {}

  write(s: string): void {
    const worst = s.length * MAX_BYTES_PER_UNIT;
    if (this.buf === undefined || this.pos + worst > this.buf.length) {
      this.seal();
      if (worst > this.chunkBytes) {
        const own = Buffer.from(s, 'utf8');
        this.chunks.push(own);
        this.length += own.length;
        return;
      }
      this.buf = Buffer.allocUnsafe(this.chunkBytes);
    }
    const n = this.buf.write(s, this.pos);
    this.pos += n;
    this.length += n;
  }

  /** The bytes written, in order; the writer must not be used afterwards. */
  finish(): Buffer[] {
    // A short last chunk is copied, so it does not hold a whole chunk's memory for its life. The
    // copy is unpooled: a pooled one would sit in Buffer's shared slab, whose size varies by Node
    // release and which stays alive as long as any buffer cut from it.
    if (this.buf !== undefined && this.pos < this.buf.length / 2) {
      if (this.pos > 0) {
        const copy = Buffer.allocUnsafeSlow(this.pos);
        this.buf.copy(copy, 0, 0, this.pos);
        this.chunks.push(copy);
      }
      this.buf = undefined;
    }
    this.seal();
    return this.chunks;
  }

  private seal(): void {
    if (this.buf !== undefined && this.pos > 0) this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = undefined;
    this.pos = 0;
  }
}
