import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import t from 'tap';
import { crc32, crc32Combine } from '../src/exposition/crc32.js';
import { deflateSegment, finalSegment, gzipJoin } from '../src/exposition/gzip-segments.js';

// A body arrives as chunks (chunk-writer.ts): cut each piece into a few, at odd places.
const piece = async (text: string) => {
  const body = Buffer.from(text, 'utf8');
  const cuts = [0, Math.floor(body.length / 3), Math.floor(body.length / 3) + 1, body.length];
  const chunks = cuts.slice(1).map((end, i) => body.subarray(cuts[i], end));
  return { body, segment: await deflateSegment(chunks) };
};

t.test('segments compressed separately join into one gzip member of the whole body', async (t) => {
  const a = await piece('pg_a{relname="x"} 1\n'.repeat(5000));
  const b = await piece(`pg_b{v="${randomBytes(3000).toString('base64')}"} 2\nünï 🐘\n`);
  const empty = await piece('');
  const tail = Buffer.from('pgvigil_up 1\n# EOF\n');
  const out = Buffer.concat(gzipJoin([a.segment, empty.segment, b.segment], finalSegment(tail)));
  const whole = Buffer.concat([a.body, b.body, tail]);
  // gunzip checks the CRC and length in the trailer, which gzipJoin built without these bytes.
  t.same(zlib.gunzipSync(out), whole);
  // One member: the deflate stream between header and trailer alone holds everything (curl and
  // browsers read only the first member of a multi-member file).
  t.same(zlib.inflateRawSync(out.subarray(10, out.length - 8)), whole);
  t.ok(out.length < whole.length / 5, 'compressed');
});

t.test('a segment of no chunks is empty and joins like any other', async (t) => {
  const none = await deflateSegment([]);
  t.equal(none.length, 0);
  const tail = Buffer.from('x 1\n');
  t.same(zlib.gunzipSync(Buffer.concat(gzipJoin([none], finalSegment(tail)))), tail);
});

t.test('no pieces: just the tail', async (t) => {
  const tail = Buffer.from('x 1\n');
  t.same(zlib.gunzipSync(Buffer.concat(gzipJoin([], finalSegment(tail)))), tail);
});

t.test('CRC-32 of a concatenation from the CRCs of its parts', async (t) => {
  const whole = randomBytes(70_000);
  // The reference is the CRC zlib itself writes into a gzip trailer (little-endian, 8 bytes from
  // the end), not the function under test.
  const gzipped = zlib.gzipSync(whole);
  const expected = gzipped.readUInt32LE(gzipped.length - 8);
  t.equal(crc32(whole), expected, 'the CRC of a gzip trailer');
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'the standard check value');
  t.equal(crc32(whole.subarray(100), crc32(whole.subarray(0, 100))), expected, 'continues a running value');
  for (const cut of [0, 1, 7, 8, 255, 4096, 65_537, 70_000]) {
    const a = whole.subarray(0, cut);
    const b = whole.subarray(cut);
    t.equal(crc32Combine(crc32(a), crc32(b), b.length), expected, `split at ${cut}`);
  }
  t.equal(crc32(Buffer.alloc(0), 1234), 1234, 'no bytes, no change');
});
