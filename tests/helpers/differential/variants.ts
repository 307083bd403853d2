/** Machine variants and session plans of the differential corpus. */
import type { GenOptions, Group } from './generator.js';

const MACHINE_TAIL = ['-cpu', 'max', '-smp', '1', '-m', '512', '-net', 'none'];
export const VIRT_SMMU_ARGS = ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', ...MACHINE_TAIL];
export const VIRT_ARGS = ['-machine', 'virt,acpi=off,gic-version=3', ...MACHINE_TAIL];

export interface SessionPlan {
  /** short name used in test names and seeds */
  name: string;
  groups: ReadonlyArray<readonly [number, Group]>;
  count: number;
}

export interface Variant {
  name: string;
  args: string[];
  gen: Pick<GenOptions, 'edu' | 'pciTestdev' | 'smmu'>;
  sessions: SessionPlan[];
}

const BASE_GROUPS: Group[] = ['ram', 'ecam', 'windows', 'unassigned', 'smmu', 'virtio', 'irq', 'clock', 'io', 'syntax'];

function baseSessions(perGroup: number, mixed: number): SessionPlan[] {
  return [
    ...BASE_GROUPS.map((g) => ({ name: g, groups: [[1, g]] as const, count: perGroup })),
    {
      name: 'mixed',
      groups: [
        [25, 'ram'],
        [15, 'ecam'],
        [10, 'windows'],
        [10, 'unassigned'],
        [10, 'smmu'],
        [6, 'virtio'],
        [8, 'irq'],
        [6, 'clock'],
        [5, 'io'],
        [5, 'syntax'],
      ],
      count: mixed,
    },
  ];
}

/** Scale factor for the corpus size: QTESTD_DIFF_SCALE (default 1). */
export const SCALE = Math.max(0.01, Number(process.env.QTESTD_DIFF_SCALE ?? '1') || 1);
const n = (x: number) => Math.max(10, Math.round(x * SCALE));

export const VARIANTS: Variant[] = [
  {
    name: 'virt',
    args: VIRT_ARGS,
    gen: { smmu: false },
    sessions: baseSessions(n(250), n(1500)),
  },
  {
    name: 'virt-smmuv3',
    args: VIRT_SMMU_ARGS,
    gen: { smmu: true },
    sessions: baseSessions(n(250), n(1500)),
  },
  {
    name: 'virt-smmuv3+edu',
    args: [...VIRT_SMMU_ARGS, '-device', 'edu,dma_mask=0xffffffffffffffff'],
    gen: { smmu: true, edu: { devfn: 8 } },
    sessions: [
      {
        name: 'edu',
        groups: [
          [60, 'edu'],
          [10, 'ram'],
          [8, 'ecam'],
          [8, 'irq'],
          [6, 'clock'],
          [4, 'windows'],
        ],
        count: n(1500),
      },
      {
        name: 'edu-b',
        groups: [
          [75, 'edu'],
          [10, 'ram'],
          [10, 'clock'],
          [5, 'ecam'],
        ],
        count: n(1500),
      },
    ],
  },
  {
    name: 'virt-smmuv3+pci-testdev',
    args: [...VIRT_SMMU_ARGS, '-device', 'pci-testdev'],
    gen: { smmu: true, pciTestdev: { devfn: 8 } },
    sessions: [
      {
        name: 'pci-testdev',
        groups: [
          [70, 'pci-testdev'],
          [15, 'ecam'],
          [10, 'windows'],
          [5, 'ram'],
        ],
        count: n(1500),
      },
    ],
  },
];

/** Base seed: QTESTD_DIFF_SEED (decimal or 0x...) or a fixed default, so runs are reproducible. */
export const BASE_SEED: number = (() => {
  const s = process.env.QTESTD_DIFF_SEED;
  if (s && /^(0x[0-9a-f]+|\d+)$/i.test(s)) return Number(s) >>> 0;
  return 0x5eed2026;
})();

/** The seed of one session: stable for a given base seed, variant and session name. */
export function sessionSeed(variant: string, session: string, base = BASE_SEED): number {
  let h = base >>> 0;
  for (const ch of `${variant}/${session}`) {
    h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  }
  return h;
}
