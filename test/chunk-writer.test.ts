import t from 'tap';
import { ChunkWriter } from '../src/exposition/chunk-writer.js';

// The writer must give exactly the UTF-8 bytes of what was written, whatever falls on a chunk
// boundary: multi-byte characters, surrogate pairs, strings longer than a chunk.

t.test('the chunks are the UTF-8 bytes of the strings, in order', async (t) => {
  const pieces = [
    'pg_x{relname="',
    'ünï',
    '🐘',
    '"} 1\n',
    'a'.repeat(100),
    'é'.repeat(40),
    'x'.repeat(500),
    '',
    '🐘'.repeat(30),
  ];
  for (const chunkBytes of [16, 64, 97, 1024]) {
    const w = new ChunkWriter(chunkBytes);
    let expected = '';
    for (let round = 0; round < 20; round++) {
      for (const p of pieces) {
        w.write(p);
        expected += p;
      }
    }
    const bytes = Buffer.from(expected, 'utf8');
    t.equal(w.length, bytes.length, `length with ${chunkBytes}-byte chunks`);
    const chunks = w.finish();
    t.same(Buffer.concat(chunks), bytes, `bytes with ${chunkBytes}-byte chunks`);
    t.ok(
      chunks.every((c) => c.length <= Math.max(chunkBytes, 500 * 3)),
      'no chunk larger than the chunk size, except a string that is larger on its own',
    );
  }
});

t.test('nothing written: no chunks', async (t) => {
  const w = new ChunkWriter();
  w.write('');
  t.same(w.finish(), []);
  t.equal(w.length, 0);
});

t.test('a short last chunk does not keep a whole chunk alive', async (t) => {
  const w = new ChunkWriter(64 * 1024);
  w.write('abc');
  const [only] = w.finish();
  t.equal(only!.toString(), 'abc');
  t.equal(only!.buffer.byteLength, 3, 'copied out of the 64 KiB chunk, into memory of its own size');
});
