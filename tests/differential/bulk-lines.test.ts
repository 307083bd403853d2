/**
 * Long bulk lines against the oracle: `write` and `b64write` payloads of 96 KiB … 1.5 MiB (they
 * arrive in many socket chunks and are decoded from the chunks, src/protocol/qtest/line.ts
 * setParts) give QEMU 10.2.2's replies and leave QEMU's bytes in guest memory, for well-formed
 * data, odd-length and invalid hex, data without the `0x`, base64 with junk, inner `=`, a length
 * that is not a multiple of 4, SIZE larger and smaller than the data, over RAM and unassigned
 * space, and with a trailing word; base64url characters, bytes past 0x7f, text after the padding.
 * Every reply must be byte-identical.
 */
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { diffSession } from '../helpers/differential/compare.js';

t.setTimeout(10 * 60_000); // a safety net only

const ARGS = ['-machine', 'virt,acpi=off,gic-version=3', '-cpu', 'max', '-m', '512', '-net', 'none'];
const RAM = 0x40100000;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Deterministic bytes (seeded xorshift). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Read [addr, addr+size) back in both encodings, and a few words around the edges. */
function readBack(addr: number, size: number): string[] {
  return [
    `b64read ${hex(addr)} ${hex(size)}`,
    `read ${hex(addr)} ${hex(size)}`,
    `readq ${hex(addr + size - 8)}`,
    `readq ${hex(addr + size)}`,
  ];
}

const K = 1024;
const data = bytes(192 * K, 7);
const hexData = data.toString('hex');
const b64Data = data.toString('base64');

const CASES: Record<string, string[]> = {
  'hex write, 192 KiB': [`write ${hex(RAM)} ${hex(192 * K)} 0x${hexData}`, ...readBack(RAM, 192 * K)],
  'hex write, 1.5 MiB': [
    `write ${hex(RAM)} ${hex(1536 * K)} 0x${bytes(1536 * K, 9).toString('hex')}`,
    ...readBack(RAM, 1536 * K),
  ],
  'hex write, odd number of digits': [
    `write ${hex(RAM)} ${hex(96 * K)} 0x${hexData.slice(0, 2 * 96 * K - 1)}`,
    ...readBack(RAM, 96 * K),
  ],
  'hex write, invalid digits inside': [
    `write ${hex(RAM)} ${hex(96 * K)} 0x${hexData.slice(0, 50_000)}zZ${hexData.slice(50_002, 100_000)}G-${hexData.slice(100_002, 2 * 96 * K)}`,
    ...readBack(RAM, 96 * K),
  ],
  'hex write, no 0x prefix': [
    `write ${hex(RAM)} ${hex(96 * K)} ${hexData.slice(0, 2 * 96 * K)}`,
    ...readBack(RAM, 96 * K),
  ],
  'hex write, SIZE larger than the data': [
    `memset ${hex(RAM)} ${hex(256 * K)} 0xa5`,
    `write ${hex(RAM)} ${hex(200 * K)} 0x${hexData.slice(0, 2 * 100 * K)}`,
    ...readBack(RAM, 200 * K),
  ],
  'hex write, SIZE smaller than the data': [
    `memset ${hex(RAM)} ${hex(256 * K)} 0xa5`,
    `write ${hex(RAM)} ${hex(100 * K + 3)} 0x${hexData}`,
    ...readBack(RAM, 100 * K + 8),
  ],
  'hex write over unassigned space': [
    `write 0xc000000 ${hex(128 * K)} 0x${hexData.slice(0, 2 * 128 * K)}`,
    ...readBack(0xc000000, 128 * K),
  ],
  // (a trailing `secure` / `NAME=VALUE` word is a listed deviation: tests/protocol/qtest/long-lines.test.ts)
  'hex write, a trailing word': [
    `write ${hex(RAM)} ${hex(96 * K)} 0x${hexData.slice(0, 2 * 96 * K)} extra`,
    `write ${hex(RAM)} ${hex(96 * K)} 0x${hexData.slice(0, 2 * 96 * K)} `,
    ...readBack(RAM, 96 * K),
  ],
  'b64write, 192 KiB': [`b64write ${hex(RAM)} ${hex(192 * K)} ${b64Data}`, ...readBack(RAM, 192 * K)],
  'b64write, 1.5 MiB': [
    `b64write ${hex(RAM)} ${hex(1536 * K)} ${bytes(1536 * K, 11).toString('base64')}`,
    ...readBack(RAM, 1536 * K),
  ],
  'b64write, junk characters inside': [
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b64Data.slice(0, 70_001)}*\r!${b64Data.slice(70_001, 200_000)}`,
    ...readBack(RAM, 150 * K),
  ],
  'b64write, inner padding': [
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b64Data.slice(0, 100_000)}==${b64Data.slice(100_002, 200_000)}`,
    ...readBack(RAM, 150 * K),
  ],
  'b64write, length not a multiple of 4': [
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b64Data.slice(0, 200_001)}`,
    ...readBack(RAM, 150 * K),
  ],
  // SIZE up to the text's length: past the decoded bytes QEMU's buffer holds the rest of the text.
  'b64write, SIZE larger than the decoded data': [
    `b64write ${hex(RAM)} ${hex(240 * K)} ${b64Data.slice(0, 240 * K + 4)}`,
    ...readBack(RAM, 240 * K),
  ],
  'b64write, SIZE smaller than the decoded data': [
    `memset ${hex(RAM)} ${hex(256 * K)} 0x5a`,
    `b64write ${hex(RAM)} ${hex(100 * K + 1)} ${b64Data}`,
    ...readBack(RAM, 100 * K + 8),
  ],
  // decoded as they arrive (src/protocol/qtest/long-line.ts, staged.ts): characters Node's own
  // decoder would take (base64url), bytes past 0x7f, text after the padding, SIZE far past the data
  'b64write, base64url and high bytes inside': [
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b64Data.slice(0, 40_001)}-${b64Data.slice(40_001, 90_000)}_\xe9\xff${b64Data.slice(90_000, 200_000)}`,
    ...readBack(RAM, 150 * K),
  ],
  'b64write, text after the padding': [
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b64Data.slice(0, 100_002)}==${b64Data.slice(100_004, 200_000)}=`,
    ...readBack(RAM, 150 * K),
  ],
  'hex write, uppercase, SIZE far past the data': [
    `memset ${hex(RAM)} ${hex(1024 * K)} 0x5a`,
    `write ${hex(RAM)} ${hex(1024 * K)} 0X${hexData.slice(0, 2 * 64 * K).toUpperCase()}`,
    ...readBack(RAM, 1024 * K),
  ],
  // (up to the text's end: past its NUL QEMU's buffer is heap bytes, a listed deviation)
  'b64write, SIZE far past the decoded data': [
    `memset ${hex(RAM)} ${hex(512 * K)} 0x5a`,
    `b64write ${hex(RAM)} ${hex(60_000)} ${b64Data.slice(0, 60_000)}`,
    ...readBack(RAM, 60_000),
  ],
  'b64write over unassigned space': [`b64write 0xc000000 ${hex(128 * K)} ${b64Data}`, ...readBack(0xc000000, 128 * K)],
};

for (const [name, requests] of Object.entries(CASES)) {
  await withOracle(t, name, async (tc) => {
    const d = await diffSession(ARGS, [...requests, 'endianness']);
    tc.ok(d.qtestd.done && d.oracle.done, 'both answered every request');
    tc.equal(d.mismatchCount, 0, 'every reply byte-identical');
    for (const m of d.mismatches) {
      tc.comment(
        `#${m.index} ${m.request.slice(0, 60)}…: qtestd ${JSON.stringify(m.qtestd.join('|').slice(0, 120))} ` +
          `oracle ${JSON.stringify(m.oracle.join('|').slice(0, 120))}`,
      );
    }
  });
}
