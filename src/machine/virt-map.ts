/**
 * The `virt` board's memory map and interrupt numbers (QEMU 10.2.2 hw/arm/virt.c base_memmap,
 * extended_memmap and a15irqmap), as data. Only what qtestd maps or reports is listed.
 */

export const VIRT_MAP = {
  FLASH0: { base: 0x0000_0000n, size: 0x0400_0000n },
  FLASH1: { base: 0x0400_0000n, size: 0x0400_0000n },
  GIC_DIST: { base: 0x0800_0000n, size: 0x1_0000n },
  GIC_CPU: { base: 0x0801_0000n, size: 0x1_0000n },
  GIC_V2M: { base: 0x0802_0000n, size: 0x1000n },
  GIC_ITS: { base: 0x0808_0000n, size: 0x2_0000n },
  GIC_REDIST: { base: 0x080a_0000n, size: 0x00f6_0000n },
  UART: { base: 0x0900_0000n, size: 0x1000n },
  RTC: { base: 0x0901_0000n, size: 0x1000n },
  FW_CFG: { base: 0x0902_0000n, size: 0x18n },
  GPIO: { base: 0x0903_0000n, size: 0x1000n },
  SMMU: { base: 0x0905_0000n, size: 0x2_0000n },
  VIRTIO_MMIO: { base: 0x0a00_0000n, size: 0x200n, count: 32 },
  PLATFORM_BUS: { base: 0x0c00_0000n, size: 0x0200_0000n },
  PCIE_MMIO: { base: 0x1000_0000n, size: 0x2eff_0000n },
  PCIE_PIO: { base: 0x3eff_0000n, size: 0x1_0000n },
  PCIE_ECAM: { base: 0x3f00_0000n, size: 0x0100_0000n },
  RAM: { base: 0x4000_0000n },
  CXL_HOST: { base: 0x40_0400_0000n, size: 0x10_0000n },
  HIGH_PCIE_ECAM: { base: 0x40_1000_0000n, size: 0x1000_0000n },
  HIGH_PCIE_MMIO: { base: 0x80_0000_0000n, size: 0x80_0000_0000n },
} as const;

/** Largest RAM virt accepts: 255 GiB. */
export const VIRT_MAX_RAM_BYTES = 255n << 30n;

/** SPI numbers (GIC input index = SPI; INTID = SPI + 32). */
export const VIRT_SPI = {
  UART: 1,
  RTC: 2,
  PCIE_INTA: 3, // INTA..INTD = 3..6
  GPIO: 7,
  SECURE_UART: 8,
  ACPI_GED: 9,
  VIRTIO_MMIO: 16, // 16..47
  GIC_V2M: 48,
  SMMU: 74, // eventq 74, priq 75, cmdq-sync 76, gerror 77
  PLATFORM_BUS: 112,
} as const;

/** Number of SPIs on virt's GIC (NUM_IRQS). */
export const VIRT_NUM_SPIS = 256;
