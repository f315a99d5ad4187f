import zlib from 'node:zlib';
import { crc32, crc32Combine } from './crc32.js';

// A gzip body assembled from pieces compressed at different times: each collector's snapshot is
// compressed once per swap, a scrape compresses only what changed (pgvigil's own metrics) and
// joins them. The result is ONE gzip member: concatenated members would be valid gzip, but curl
// and some browsers stop after the first member and would silently show a truncated page.
// A raw deflate segment ended with Z_SYNC_FLUSH stops on a byte boundary without the final-block
// bit, so segments can follow each other (one need not refer back to the one before); the last
// one is finished normally. Each segment carries the CRC-32 and length of its bytes, so the
// trailer is computed without the uncompressed bytes: a gzip scrape never reads them, and they
// need not be kept in memory at all.

/** A piece of the body compressed on its own, with what the gzip trailer needs to know of it. */
export interface Segment {
  readonly deflated: Buffer;
  readonly crc: number;
  readonly length: number;
}

/** Gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown. */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/**
 * Compresses a body given as chunks (chunk-writer.ts), each on its own and synchronously, giving
 * the event loop back between chunks. Not zlib's thread pool: every pool thread that compresses
 * takes a malloc arena of its own, and those arenas kept 7 MB of RSS that the main thread's
 * allocator would have reused (measured with bench/). Chunks of 64 KB compress within 2 % of one
 * stream, at about 1 ms each.
 */
export async function deflateSegment(chunks: readonly Buffer[]): Promise<Segment> {
  const deflated: Buffer[] = [];
  let crc = 0;
  let length = 0;
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    deflated.push(zlib.deflateRawSync(chunk, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
    crc = crc32(chunk, crc);
    length += chunk.length;
  }
  return { deflated: Buffer.concat(deflated), crc, length };
}

/**
 * The last piece of a body, compressed and finished now (synchronously: it is small, pgvigil's own
 * metrics, and a thread-pool round trip would cost more and spread zlib's buffers over its threads).
 */
export function finalSegment(tail: Buffer): Segment {
  return { deflated: zlib.deflateRawSync(tail), crc: crc32(tail), length: tail.length };
}

/** CRC-32 and length of segments in a row: one combine per segment, so callers cache it. */
export function combined(segments: readonly Segment[]): { crc: number; length: number } {
  let crc = 0;
  let length = 0;
  for (const s of segments) {
    crc = crc32Combine(crc, s.crc, s.length);
    length += s.length;
  }
  return { crc, length };
}

/**
 * One gzip member of `segments` followed by `last` (from finalSegment), as the chunks to send:
 * the cached segments are written as they are, never copied into one buffer per scrape. `before`
 * is combined(segments), passed when the caller has it cached.
 */
export function gzipJoin(
  segments: readonly Segment[],
  last: Segment,
  before: { crc: number; length: number } = combined(segments),
): Buffer[] {
  const crc = crc32Combine(before.crc, last.crc, last.length);
  const length = before.length + last.length;
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return [HEADER, ...segments.map((s) => s.deflated), last.deflated, trailer];
}
