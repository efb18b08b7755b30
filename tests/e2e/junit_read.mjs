// tests/e2e/junit_read.mjs FILE: reads a JUnit XML file with junit2json (tests/npm), a real
// consumer of the format, and prints one line: the totals it reads and the totals it counts,
// "tests T failures F errors E | counted tests T failures F errors E", the counted ones being
// the testcases and the testcases with a failure or an error element.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../npm/package.json', import.meta.url));
const { parse } = await import(require.resolve('junit2json'));

const doc = await parse(readFileSync(process.argv[2], 'utf8'));
let tests = 0, failures = 0, errors = 0;
for (const suite of doc.testsuite ?? []) {
  for (const tc of suite.testcase ?? []) {
    tests++;
    if ((tc.failure ?? []).length) failures++;
    if ((tc.error ?? []).length) errors++;
  }
}
console.log(`tests ${doc.tests} failures ${doc.failures} errors ${doc.errors} | ` +
  `counted tests ${tests} failures ${failures} errors ${errors}`);
