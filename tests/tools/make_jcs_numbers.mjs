// Writes tests/fixtures/jcs_numbers_ecmascript.json: IEEE-754 bit patterns and what
// ECMAScript's Number-to-String (which RFC 8785 adopts) makes of them, to test our JCS.
// Usage: node tests/tools/make_jcs_numbers.mjs > tests/fixtures/jcs_numbers_ecmascript.json
let state = 0x9e3779b97f4a7c15n;
function next64() {
  // xorshift64*: reproducible without any dependency.
  state ^= state >> 12n; state ^= (state << 25n) & 0xffffffffffffffffn; state ^= state >> 27n;
  return (state * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
}
const view = new DataView(new ArrayBuffer(8));
const cases = [];
function add(bits) {
  view.setBigUint64(0, bits);
  const value = view.getFloat64(0);
  if (!Number.isFinite(value)) return;
  cases.push([bits.toString(16).padStart(16, "0"), JSON.stringify(value)]);
}
for (let i = 0; i < 3000; i++) add(next64());
// Doubles with small exponents exercise the fixed-point forms.
for (let i = 0; i < 1000; i++) {
  const exponent = 1023n + (next64() % 140n) - 70n;
  add((next64() & 0x800fffffffffffffn) | (exponent << 52n));
}
// Large integers: where the plain-digits form ends and 1e+21 begins.
for (let i = 0; i < 200; i++) {
  view.setFloat64(0, Number(next64() % 10n ** BigInt(15 + (i % 8))));
  add(view.getBigUint64(0));
}
process.stdout.write(JSON.stringify({ generator: `node ${process.version} JSON.stringify`, cases }) + "\n");
