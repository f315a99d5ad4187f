import zlib from 'node:zlib';

// CRC-32 (the gzip polynomial), and combining the CRCs of two byte runs into the CRC of their
// concatenation, so cached pieces of a gzip body never have to be read again (gzip-segments.ts).

const POLY = 0xedb88320;

export function crc32(data: Uint8Array, crc = 0): number {
  // No bytes, no change: the running value as it was, whatever zlib makes of an empty buffer.
  if (data.length === 0) return crc >>> 0;
  return zlib.crc32(data, crc) >>> 0;
}

/** v × mat over GF(2): mat is 32 columns of 32 bits. */
function times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function square(mat: Uint32Array): Uint32Array {
  const out = new Uint32Array(32);
  for (let n = 0; n < 32; n++) out[n] = times(mat, mat[n]!);
  return out;
}

/**
 * The CRC-32 of A followed by B, from crc(A), crc(B) and B's length: zlib's crc32_combine, which
 * applies len2 zero bytes to crc1 by squaring the one-zero-bit operator (log2(len2) steps).
 */
export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  // Operator for one zero bit, then two, then four: squaring doubles the zeros applied.
  let odd: Uint32Array = new Uint32Array(32);
  odd[0] = POLY;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row >>> 0;
  let even: Uint32Array = square(odd); // 2 zero bits
  odd = square(even); // 4 zero bits
  let crc = crc1 >>> 0;
  let len = len2;
  for (;;) {
    even = square(odd); // first pass: 1 zero byte
    if (len % 2 === 1) crc = times(even, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
    odd = square(even);
    if (len % 2 === 1) crc = times(odd, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
  }
  return (crc ^ crc2) >>> 0;
}
