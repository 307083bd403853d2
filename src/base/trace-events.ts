/**
 * The QEMU 10.2.2 trace events qtestd can emit, as data: name, argument C types, and the format
 * string after C string pasting (the `PRIx64` macros of QEMU's trace-events files spelled `%lx`,
 * which our formatter reads as a 64-bit conversion). Names, argument order and format text are the
 * facts of QEMU's `hw/arm/trace-events`, `hw/pci/trace-events` and `hw/misc/trace-events`
 * (iommu-testdev); protocol/trace.md lists which code path emits each one and which we do not.
 *
 * Argument types: i8/u8/i16/u16/i32/u32/i64/u64 (integers, truncated to the width), bool (0/1),
 * str. The order here fixes the event ids (TRACE_IDS), so append new rows at the end of a group.
 */

export type TraceArgType = 'i32' | 'u8' | 'u16' | 'u32' | 'u64' | 'bool' | 'str' | 'usize';

export interface TraceEventDef {
  readonly name: string;
  readonly args: readonly TraceArgType[];
  readonly format: string;
}

/** [name, argument types (space separated), format]. */
const ROWS = [
  // ---- hw/arm/trace-events: smmu-common.c
  ['smmu_add_mr', 'str', '%s'],
  [
    'smmu_ptw_level',
    'i32 i32 u64 usize u64 u32 u64',
    'stage=%d level=%d iova=0x%lx subpage_sz=0x%zx baseaddr=0x%lx offset=%d => pte=0x%lx',
  ],
  ['smmu_ptw_invalid_pte', 'i32 i32 u64 u64 u32 u64', 'stage=%d level=%d base@=0x%lx pte@=0x%lx offset=%d pte=0x%lx'],
  [
    'smmu_ptw_page_pte',
    'i32 i32 u64 u64 u64 u64 u64',
    'stage=%d level=%d iova=0x%lx base@=0x%lx pte@=0x%lx pte=0x%lx page address = 0x%lx',
  ],
  [
    'smmu_ptw_block_pte',
    'i32 i32 u64 u64 u64 u64 u64 i32',
    'stage=%d level=%d base@=0x%lx pte@=0x%lx pte=0x%lx iova=0x%lx block address = 0x%lx block size = %d MiB',
  ],
  ['smmu_get_pte', 'u64 i32 u64 u64', 'baseaddr=0x%lx index=0x%x, pteaddr=0x%lx, pte=0x%lx'],
  ['smmu_iotlb_inv_all', '', 'IOTLB invalidate all'],
  ['smmu_iotlb_inv_asid_vmid', 'i32 i32', 'IOTLB invalidate asid=%d vmid=%d'],
  ['smmu_iotlb_inv_vmid', 'i32', 'IOTLB invalidate vmid=%d'],
  ['smmu_iotlb_inv_vmid_s1', 'i32', 'IOTLB invalidate vmid=%d'],
  ['smmu_iotlb_inv_iova', 'i32 u64', 'IOTLB invalidate asid=%d addr=0x%lx'],
  ['smmu_configs_inv_sid_range', 'u32 u32', 'Config cache INV SID range from 0x%x to 0x%x'],
  ['smmu_config_cache_inv', 'u32', 'Config cache INV for sid=0x%x'],
  ['smmu_inv_notifiers_mr', 'str', 'iommu mr=%s'],
  [
    'smmu_iotlb_lookup_hit',
    'i32 i32 u64 u32 u32 u32',
    'IOTLB cache HIT asid=%d vmid=%d addr=0x%lx hit=%d miss=%d hit rate=%d',
  ],
  [
    'smmu_iotlb_lookup_miss',
    'i32 i32 u64 u32 u32 u32',
    'IOTLB cache MISS asid=%d vmid=%d addr=0x%lx hit=%d miss=%d hit rate=%d',
  ],
  ['smmu_iotlb_insert', 'i32 i32 u64 u8 u8', 'IOTLB ++ asid=%d vmid=%d addr=0x%lx tg=%d level=%d'],
  // ---- hw/arm/trace-events: smmuv3.c
  ['smmuv3_read_mmio', 'u64 u64 u32 u32', 'addr: 0x%lx val:0x%lx size: 0x%x(%d)'],
  ['smmuv3_trigger_irq', 'i32', 'irq=%d'],
  ['smmuv3_write_gerror', 'u32 u32', 'toggled=0x%x, new GERROR=0x%x'],
  ['smmuv3_write_gerrorn', 'u32 u32', 'acked=0x%x, new GERRORN=0x%x'],
  ['smmuv3_unhandled_cmd', 'u32', 'Unhandled command type=%d'],
  ['smmuv3_cmdq_consume', 'u32 u32 u8 u8', 'prod=%d cons=%d prod.wrap=%d cons.wrap=%d'],
  ['smmuv3_cmdq_opcode', 'str', '<--- %s'],
  ['smmuv3_cmdq_consume_out', 'u32 u32 u8 u8', 'prod:%d, cons:%d, prod_wrap:%d, cons_wrap:%d '],
  ['smmuv3_cmdq_consume_error', 'str u8', 'Error on %s command execution: %d'],
  ['smmuv3_write_mmio', 'u64 u64 u32 u32', 'addr: 0x%lx val:0x%lx size: 0x%x(%d)'],
  ['smmuv3_record_event', 'str u32', '%s sid=0x%x'],
  ['smmuv3_find_ste', 'u16 u32 u16', 'sid=0x%x features:0x%x, sid_split:0x%x'],
  [
    'smmuv3_find_ste_2lvl',
    'u64 u64 i32 u64 i32 i32',
    'strtab_base:0x%lx l1ptr:0x%lx l1_off:0x%x, l2ptr:0x%lx l2_off:0x%x max_l2_ste:%d',
  ],
  ['smmuv3_get_ste', 'u64', 'STE addr: 0x%lx'],
  ['smmuv3_translate_disable', 'str u16 u64 bool', '%s sid=0x%x bypass (smmu disabled) iova:0x%lx is_write=%d'],
  ['smmuv3_translate_bypass', 'str u16 u64 bool', '%s sid=0x%x STE bypass iova:0x%lx is_write=%d'],
  ['smmuv3_translate_abort', 'str u16 u64 bool', '%s sid=0x%x abort on iova:0x%lx is_write=%d'],
  ['smmuv3_translate_success', 'str u16 u64 u64 i32 i32', '%s sid=0x%x iova=0x%lx translated=0x%lx perm=0x%x stage=%d'],
  ['smmuv3_get_cd', 'u64', 'CD addr: 0x%lx'],
  ['smmuv3_decode_cd', 'u32', 'oas=%d'],
  ['smmuv3_decode_cd_tt', 'i32 u32 u64 u32 bool', 'TT[%d]:tsz:%d ttb:0x%lx granule_sz:%d had:%d'],
  ['smmuv3_cmdq_cfgi_ste', 'i32', 'streamid= 0x%x'],
  ['smmuv3_cmdq_cfgi_ste_range', 'i32 i32', 'start=0x%x - end=0x%x'],
  ['smmuv3_cmdq_cfgi_cd', 'u32', 'sid=0x%x'],
  ['smmuv3_config_cache_hit', 'u32 u32 u32 u32', 'Config cache HIT for sid=0x%x (hits=%d, misses=%d, hit rate=%d)'],
  ['smmuv3_config_cache_miss', 'u32 u32 u32 u32', 'Config cache MISS for sid=0x%x (hits=%d, misses=%d, hit rate=%d)'],
  [
    'smmuv3_range_inval',
    'i32 i32 u64 u8 u64 u8 bool i32',
    'vmid=%d asid=%d addr=0x%lx tg=%d num_pages=0x%lx ttl=%d leaf=%d stage=%d',
  ],
  ['smmuv3_cmdq_tlbi_nh', 'i32', 'vmid=%d'],
  ['smmuv3_cmdq_tlbi_nsnh', '', ''],
  ['smmuv3_cmdq_tlbi_nh_asid', 'i32', 'asid=%d'],
  ['smmuv3_cmdq_tlbi_s12_vmid', 'i32', 'vmid=%d'],
  ['smmuv3_notify_flag_add', 'str', 'ADD SMMUNotifier node for iommu mr=%s'],
  ['smmuv3_notify_flag_del', 'str', 'DEL SMMUNotifier node for iommu mr=%s'],
  [
    'smmuv3_inv_notifiers_iova',
    'str i32 i32 u64 u8 u64 i32',
    'iommu mr=%s asid=%d vmid=%d iova=0x%lx tg=%d num_pages=0x%lx stage=%d',
  ],
  ['smmu_reset_exit', '', ''],
  // ---- hw/pci/trace-events: pci_host.c
  ['pci_cfg_read', 'str u32 u32 u32 u32 u32', '%s %02x:%02x.%x @0x%x -> 0x%x'],
  ['pci_cfg_write', 'str u32 u32 u32 u32 u32', '%s %02x:%02x.%x @0x%x <- 0x%x'],
  // ---- hw/misc/trace-events: iommu-testdev.c
  ['iommu_testdev_mmio_read', 'u64 u64 u32', 'addr=0x%lx value=0x%lx size=%u'],
  ['iommu_testdev_mmio_write', 'u64 u64 u32', 'addr=0x%lx value=0x%lx size=%u'],
  ['iommu_testdev_dma_start', '', 'DMA operation started'],
  ['iommu_testdev_dma_write', 'u64 u32', 'gva=0x%lx len=%u'],
  ['iommu_testdev_dma_read', 'u64 u32', 'gva=0x%lx len=%u'],
  ['iommu_testdev_dma_verify', 'u32 u32', 'expected=0x%x actual=0x%x'],
  ['iommu_testdev_dma_result', 'u32', 'DMA completed result=0x%x'],
  ['iommu_testdev_dma_armed', 'bool', 'armed=%d'],
] as const;

type Row = (typeof ROWS)[number];
export type TraceEventName = Row[0];

export const TRACE_EVENTS: readonly TraceEventDef[] = ROWS.map(([name, args, format]) => ({
  name,
  args: args === '' ? [] : (args.split(' ') as TraceArgType[]),
  format,
}));

/** Event name → id (its index in TRACE_EVENTS): what trace points pass to Tracer.on / emit. */
export const TRACE_IDS = Object.fromEntries(ROWS.map((r, i) => [r[0], i])) as {
  readonly [K in TraceEventName]: number;
};
