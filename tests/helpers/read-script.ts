/**
 * A pipelined qtest script of bulk and register reads with the exact reply each must get: for 3
 * rounds, for each size, `read` and `b64read` of that many bytes at a shifting offset into `data`
 * (loaded at `base` beforehand), then a `readl`. The transport tests run it over real sockets.
 */
export function readScript(data: Buffer, base: number, sizes: number[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let round = 0; round < 3; round++) {
    for (const [k, size] of sizes.entries()) {
      const off = (k * 4099 + round * 37) % (data.length - size);
      const a = `0x${(base + off).toString(16)} 0x${size.toString(16)}`;
      const bytes = data.subarray(off, off + size);
      out.push([`read ${a}`, `OK 0x${bytes.toString('hex')}`]);
      out.push([`b64read ${a}`, `OK ${bytes.toString('base64')}`]);
      const l = data.readUInt32LE(8 * k);
      out.push([`readl 0x${(base + 8 * k).toString(16)}`, `OK 0x${l.toString(16).padStart(16, '0')}`]);
    }
  }
  return out;
}
