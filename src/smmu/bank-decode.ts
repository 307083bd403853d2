/**
 * Which register bank of the SMMUv3 an MMIO access reaches: the security states a bank (and a
 * stream) belongs to, and the decode of an offset in the 0x20000-byte region to a bank and a
 * bank-relative offset (docs/secure-smmu.md "Register banks"). Used by the front end (smmu-v3.ts);
 * the banks themselves (bank.ts) only see bank-relative offsets.
 */
import type { MemTxAttrs } from '../memory/types.js';

/** The security state a bank (and a stream) belongs to: 0 Non-secure, 1 Secure (RFC SEC_SID). */
export type SecSid = 0 | 1;
export const SEC_SID_NS: SecSid = 0;
export const SEC_SID_S: SecSid = 1;

/** Offsets at or above this (in a 64 KiB page) are the Secure bank. */
const SECURE_BANK = 0x8000;
/** IIDR, AIDR and STATUSR exist once, shared by both banks. */
const SHARED: ReadonlySet<number> = new Set([0x018, 0x01c, 0x040]);

/**
 * Which bank an MMIO access reaches and at which bank-relative offset (docs/secure-smmu.md
 * "Register banks"). Without the Secure interface: the one bank, offset as is (QEMU 10.2.2).
 * With it: page 1 aliases page 0, 0x8000+ is the Secure bank, each bank repeats every 0x1000,
 * IIDR/AIDR/STATUSR are shared; null when the Secure-bank gate refuses the access (an access
 * without attributes has space 0, Secure, and passes).
 */
export function decodeBankOffset(
  offset: bigint,
  attrs: MemTxAttrs,
  secureImpl: boolean,
): { sec: SecSid; rel: bigint } | null {
  const off = Number(offset & 0xffffn);
  if (!secureImpl) return { sec: SEC_SID_NS, rel: BigInt(off) };
  const rel = off & 0xfff;
  if (off < SECURE_BANK) return { sec: SEC_SID_NS, rel: BigInt(rel) };
  if ((attrs.space ?? 0) !== 0 && attrs.secure !== true) return null;
  return { sec: SHARED.has(rel) ? SEC_SID_NS : SEC_SID_S, rel: BigInt(rel) };
}
