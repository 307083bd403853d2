/*
 * Shared bits of the iommu-testdev flows (iommu-smmuv3.c, secure-smmuv3.c): the device's BAR0
 * registers, the addresses and descriptor attributes of the upstream test's layout
 * (docs/smmu.md#the-upstream-test-sequence), the SMMU bank programming in the upstream order,
 * and one DMA through the device.
 */
#ifndef TESTS_C_IOMMU_TESTDEV_H
#define TESTS_C_IOMMU_TESTDEV_H

#include "smmu-common.h"

/* iommu-testdev BAR0 */
#define DMA_TRIGGERING   0x00
#define DMA_GVA_LO       0x04
#define DMA_GVA_HI       0x08
#define DMA_LEN          0x0c
#define DMA_RESULT       0x10
#define DMA_DBELL        0x14
#define DMA_ATTRS        0x18
#define DMA_GPA_LO       0x1c
#define DMA_GPA_HI       0x20
#define DMA_BUSY         0xfffffffeu

/* the flows' layout: IOVA 0x8080604567 lands on OUT_PAGE + 0x567, which reads 78 56 34 12 */
#define CMDQ_BASE_GPA    0x0e16b000ULL
#define EVENTQ_BASE_GPA  0x0e170000ULL
#define IOVA             0x0000008080604567ULL
#define VTTB             0x0e4d0000ULL
#define STR_TAB_BASE     0x0e179000ULL
#define CD_GPA           (STR_TAB_BASE - 0x40)
#define OUT_PAGE         0x0ecba000ULL
#define NON_LEAF         0x8000000000000003ULL  /* table descriptor + NSTable */
#define LEAF_S1RO_S2RW   0x04000000000007e3ULL  /* S1 read-only; as S2 leaf: read/write */
#define LEAF_S1RW_S2RO   0x0400000000000763ULL  /* S1 read/write; as S2 leaf: read-only */
#define ADDR_MASK        0x0000fffffffff000ULL

/* STE.Config of the three flows */
typedef enum { MODE_S1 = 5, MODE_S2 = 6, MODE_NESTED = 7 } StreamConfig;

/*
 * Program one SMMU bank (0: Non-secure, 0x8000: Secure) in the upstream test's order: queues of
 * 2^10 entries, a linear stream table of 32 SIDs, then SMMUEN|EVENTQEN|CMDQEN. `q` is the offset
 * of the queues' and stream table's view (NS_OFFSET for Non-secure RAM, 0 for Secure RAM).
 */
static inline void smmu_program_bank(QTestState *qts, uint64_t bank, uint64_t q)
{
    const uint64_t b = SMMU_BASE + bank;

    qtest_writel(qts, b + SMMU_GBPA, 0x80000000);
    qtest_writel(qts, b + SMMU_CR0, 0);
    qtest_writel(qts, b + SMMU_CR1, 0x0d75);
    qtest_writeq(qts, b + SMMU_CMDQ_BASE, q + CMDQ_BASE_GPA + 0xa);         /* log2size 10 */
    qtest_writel(qts, b + SMMU_CMDQ_CONS, 0);
    qtest_writel(qts, b + SMMU_CMDQ_PROD, 0);
    qtest_writeq(qts, b + SMMU_EVENTQ_BASE, q + EVENTQ_BASE_GPA + 0xa);
    qtest_writel(qts, b + SMMU_EVENTQ_PROD, 0);
    qtest_writel(qts, b + SMMU_EVENTQ_CONS, 0);
    qtest_writel(qts, b + SMMU_STRTAB_BASE_CFG, 0x5);                      /* linear, 32 SIDs */
    qtest_writeq(qts, b + SMMU_STRTAB_BASE, q + STR_TAB_BASE);
    qtest_writel(qts, b + SMMU_CR0, 0xd);                                   /* SMMUEN|EVENTQEN|CMDQEN */
}

/* One DMA of `len` bytes from IOVA to `gpa` with DMA_ATTRS `attrs`; returns DMA_RESULT. */
static inline uint32_t iommu_testdev_dma(TestdevHandle *h, uint64_t gpa, uint32_t len, uint32_t attrs)
{
    uint32_t result = DMA_BUSY;
    int i;

    qpci_io_writel(h->dev, h->bar0, DMA_GVA_LO, (uint32_t)IOVA);
    qpci_io_writel(h->dev, h->bar0, DMA_GVA_HI, (uint32_t)(IOVA >> 32));
    qpci_io_writel(h->dev, h->bar0, DMA_GPA_LO, (uint32_t)gpa);
    qpci_io_writel(h->dev, h->bar0, DMA_GPA_HI, (uint32_t)(gpa >> 32));
    qpci_io_writel(h->dev, h->bar0, DMA_LEN, len);
    qpci_io_writel(h->dev, h->bar0, DMA_ATTRS, attrs);
    qpci_io_writel(h->dev, h->bar0, DMA_DBELL, 1);
    g_assert_cmphex(qpci_io_readl(h->dev, h->bar0, DMA_TRIGGERING), ==, 0);
    for (i = 0; i < 1000; i++) {
        result = qpci_io_readl(h->dev, h->bar0, DMA_RESULT);
        if (result != DMA_BUSY) {
            break;
        }
        g_usleep(1000);
    }
    g_test_message("DMA_RESULT 0x%08x after %d polls", result, i);
    return result;
}

#endif
