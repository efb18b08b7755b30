// tests/e2e/linehash.js FILE LINE...: prints "LINE HASH" for each line, HASH being the
// primaryLocationLineHash GitHub's upload action computes for that line of FILE when a SARIF
// result lacks one (github/codeql-action, src/fingerprints.ts: a rolling hash, base 37 modulo
// 2^64, over the 100 characters from the line's start, spaces and tabs left out, CR and CRLF
// read as LF, then ":N" for the N-th line of the file with that hash). Written here from that
// description with BigInt, so that sarif.sh checks meshpol's C (engine/linehash.c) against an
// independent reading of it.
'use strict';
const fs = require('fs');

const WIDTH = 100, MASK = (1n << 64n) - 1n, BASE = 37n;
const units = fs.readFileSync(process.argv[2], 'utf8');
const wanted = new Map(process.argv.slice(3).map((l) => [Number(l), '']));

let drop = 1n; // BASE^WIDTH: the weight of the unit leaving the window
for (let i = 0; i < WIDTH; i++) drop = (drop * BASE) & MASK;

const ring = new Array(WIDTH).fill(0), starts = new Array(WIDTH).fill(0);
let pos = 0, sum = 0n, line = 0, atLineStart = true, afterCR = false;
const seen = new Map();

function flush() { // the window now holds the WIDTH units from the start of line starts[pos]
  const hex = sum.toString(16), n = (seen.get(hex) || 0) + 1;
  seen.set(hex, n);
  if (wanted.has(starts[pos])) wanted.set(starts[pos], `${hex}:${n}`);
  starts[pos] = 0;
}
function shift(u) {
  sum = (sum * BASE + BigInt(u) - drop * BigInt(ring[pos])) & MASK;
  ring[pos] = u;
  pos = (pos + 1) % WIDTH;
}
function feed(u) {
  if (u === 0x20 || u === 0x09 || (afterCR && u === 0x0a)) { afterCR = false; return; }
  afterCR = u === 0x0d;
  if (afterCR) u = 0x0a;
  if (starts[pos]) flush();
  if (atLineStart) { atLineStart = false; starts[pos] = ++line; }
  atLineStart = u === 0x0a;
  shift(u);
}
for (let i = 0; i < units.length; i++) feed(units.charCodeAt(i));
feed(0xffff);
for (let i = 0; i < WIDTH; i++) { if (starts[pos]) flush(); shift(0); }
for (const [l, h] of wanted) console.log(`${l} ${h}`);
