import { promisify } from 'node:util';
import zlib from 'node:zlib';

// A gzip body assembled from pieces compressed at different times: each collector's snapshot is
// compressed once per swap, a scrape compresses only what changed (pgvigil's own metrics) and
// joins them. The result is ONE gzip member: concatenated members would be valid gzip, but curl
// and some browsers stop after the first member and would silently show a truncated page.
// A raw deflate segment ended with Z_SYNC_FLUSH stops on a byte boundary without the final-block
// bit, so segments can follow each other; the last one is finished normally.

const deflateRaw = promisify(zlib.deflateRaw);
const crc32 = (zlib as { crc32?: (data: Buffer, value?: number) => number }).crc32;

/** Gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown. */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/** A piece of the body, compressed on its own so it can be reused by later scrapes. */
export function deflateSegment(body: Buffer): Promise<Buffer> {
  return deflateRaw(body, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** One gzip member of `pieces` (plain bytes with their segments) followed by `tail`, compressed now. */
export async function gzipJoin(pieces: readonly { body: Buffer; segment: Buffer }[], tail: Buffer): Promise<Buffer> {
  if (crc32 === undefined) {
    // Node before 20.15 has no zlib.crc32: compress the whole body, correct if slower.
    return promisify(zlib.gzip)(Buffer.concat([...pieces.map((p) => p.body), tail]));
  }
  let crc = 0;
  let length = 0;
  for (const body of [...pieces.map((p) => p.body), tail]) {
    // zlib.crc32 of a buffer without backing memory returns 0, not the running value (zlib's
    // "NULL buffer means initial value" convention leaking through Node 20).
    if (body.length === 0) continue;
    crc = crc32(body, crc);
    length += body.length;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return Buffer.concat([HEADER, ...pieces.map((p) => p.segment), await deflateRaw(tail), trailer]);
}
