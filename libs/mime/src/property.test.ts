import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MimeStreamParser, buildPart, parseAddressList, parseContentType, decodeEncodedWords, encodeEncodedWords, parseMessage, walkParts, type BuildPart } from './index.js';

const leafArb: fc.Arbitrary<BuildPart> = fc.oneof(
  fc.record({ contentType: fc.constant('application/octet-stream'), content: fc.uint8Array({ maxLength: 300 }), filename: fc.string({ maxLength: 20 }), disposition: fc.constant('attachment' as const) }),
  fc.record({ contentType: fc.constant('text/plain'), content: fc.array(fc.string({ maxLength: 40, unit: 'grapheme' }), { maxLength: 5 }).map((ls) => ls.map((l) => l.replace(/[\r\n]/g, '')).join('\r\n')) }),
);
const treeArb: fc.Arbitrary<BuildPart> = fc.letrec<{ part: BuildPart }>((tie) => ({
  part: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.record({ contentType: fc.constantFrom('multipart/mixed', 'multipart/alternative', 'multipart/related'), children: fc.array(tie('part'), { minLength: 1, maxLength: 3 }) }),
  ),
})).part;

function expected(part: BuildPart): string[] {
  if (part.children) return [part.contentType, ...part.children.flatMap(expected)];
  return [part.contentType];
}

test('build then parse returns the same structure and bytes', () => {
  fc.assert(
    fc.property(treeArb, (tree) => {
      const parsed = parseMessage(buildPart(tree));
      const parts = walkParts(parsed.root);
      assert.deepEqual(parts.map((p) => p.contentType.mimeType), expected(tree));
      const leaves: BuildPart[] = [];
      const collect = (p: BuildPart): void => void (p.children ? p.children.forEach(collect) : leaves.push(p));
      collect(tree);
      const parsedLeaves = parts.filter((p) => p.kind === 'leaf');
      leaves.forEach((leaf, i) => {
        const want = typeof leaf.content === 'string' ? Buffer.from(leaf.content, 'utf8') : Buffer.from(leaf.content!);
        assert.deepEqual(Buffer.from(parsedLeaves[i]!.content), want);
        if (leaf.filename !== undefined) assert.equal(parsedLeaves[i]!.filename, leaf.filename);
      });
      assert.deepEqual(parsed.defects, []);
    }),
    { numRuns: 300 },
  );
});

test('encoded words round-trip any text', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (s) => {
      const clean = s.replace(/[\r\n]/g, ' ');
      assert.equal(decodeEncodedWords(encodeEncodedWords(clean)), clean);
    }),
    { numRuns: 500 },
  );
});

const mimeish = fc.array(
  fc.oneof(
    fc.constantFrom('\r\n', '\n', '--b', '--b--', 'Content-Type: multipart/mixed; boundary=b', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', 'Content-Transfer-Encoding: quoted-printable', '=?utf-8?B?', '?=', '=', ': ', ' ', '\t', '"', '(', '<', ';', '*0*=', "''"),
    fc.string({ maxLength: 10 }),
  ),
  { maxLength: 80 },
);

test('parsing never throws on random or mutated input', () => {
  fc.assert(
    fc.property(fc.oneof(mimeish.map((a) => a.join('')), fc.string({ maxLength: 300 })), fc.uint8Array({ maxLength: 50 }), (text, noise) => {
      const bytes = Buffer.concat([Buffer.from(text, 'utf8'), noise]);
      const m = parseMessage(bytes);
      assert.ok(m.root);
      parseAddressList(text);
      parseContentType(text);
      decodeEncodedWords(text);
    }),
    { numRuns: 2000 },
  );
});

test('chunked writes parse like a single write', () => {
  const events = (raw: Uint8Array, size: number): string[] => {
    const data = new Map<string, Buffer[]>();
    const order: string[] = [];
    const parser = new MimeStreamParser({
      onPartStart: (p) => void order.push(p.path),
      onPartData: (p, c) => void data.set(p.path, [...(data.get(p.path) ?? []), Buffer.from(c)]),
    });
    for (let i = 0; i < raw.length; i += size) parser.write(raw.subarray(i, i + size));
    parser.end();
    return order.map((path) => `${path}:${Buffer.concat(data.get(path) ?? []).toString('hex')}`);
  };
  fc.assert(
    fc.property(treeArb, fc.integer({ min: 1, max: 50 }), (tree, size) => {
      const raw = buildPart(tree);
      assert.deepEqual(events(raw, size), events(raw, raw.length));
    }),
    { numRuns: 100 },
  );
});
