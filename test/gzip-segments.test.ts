import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import t from 'tap';
import { deflateSegment, gzipJoin } from '../src/gzip-segments.js';

const piece = async (text: string) => {
  const body = Buffer.from(text, 'utf8');
  return { body, segment: await deflateSegment(body) };
};

t.test('segments compressed separately join into one gzip member of the whole body', async (t) => {
  const a = await piece('pg_a{relname="x"} 1\n'.repeat(5000));
  const b = await piece(`pg_b{v="${randomBytes(3000).toString('base64')}"} 2\nünï 🐘\n`);
  const empty = await piece('');
  const tail = Buffer.from('pgvigil_up 1\n# EOF\n');
  const out = await gzipJoin([a, empty, b], tail);
  const whole = Buffer.concat([a.body, b.body, tail]);
  // gunzip checks the CRC and length in the trailer.
  t.same(zlib.gunzipSync(out), whole);
  // One member: the deflate stream between header and trailer alone holds everything (curl and
  // browsers read only the first member of a multi-member file).
  t.same(zlib.inflateRawSync(out.subarray(10, out.length - 8)), whole);
  t.ok(out.length < whole.length / 5, 'compressed');
});

t.test('no pieces: just the tail', async (t) => {
  const tail = Buffer.from('x 1\n');
  t.same(zlib.gunzipSync(await gzipJoin([], tail)), tail);
});
