/*
 * smmu-testdev -- the RFC qtest /smmu-testdev/mmio (docs/smmu.md#the-upstream-test-sequence): the device
 * builds its own stream table, context descriptor and page tables (stage 1, stage 2, nested),
 * the test programs the virt board's SMMUv3 and lets the device DMA through it, then asks the
 * device to clear its tables and push CFGI_STE / CFGI_CD / TLBI_NSNH_ALL into the command queue.
 */
#include "qemu/osdep.h"
#include "hw/pci/pci_regs.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "smmu-common.h"

/* smmu-testdev BAR0 */
#define STD_ID            0x00
#define STD_ATTR_NS       0x04
#define STD_SMMU_BASE_LO  0x20
#define STD_SMMU_BASE_HI  0x24
#define STD_IOVA_LO       0x28
#define STD_IOVA_HI       0x2c
#define STD_DMA_LEN       0x30
#define STD_DMA_DIR       0x34
#define STD_DMA_RESULT    0x38
#define STD_DMA_DOORBELL  0x3c
#define STD_DMA_MODE      0x40
#define STD_DMA_ATTRS     0x44
#define STD_TRANS_MODE    0x48
#define STD_S1_SPACE      0x4c
#define STD_S2_SPACE      0x50
#define STD_TRANS_DBELL   0x54
#define STD_TRANS_STATUS  0x58
#define STD_TRANS_CLEAR   0x5c
#define STD_BUSY          0xfffffffeu
#define SPACE_NS          1

#define IOVA              0x0000008080604567ULL
#define DMA_BYTES         0x20

#define ARGS "-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -display none -smp 1 -m 512 " \
             "-cpu max -net none -device smmu-testdev,device=0x0,function=0x1"

static void smmu_program(QTestState *qts)
{
    qtest_writel(qts, SMMU_BASE + SMMU_GBPA, 0x80000000);
    qtest_writel(qts, SMMU_BASE + SMMU_CR0, 0);
    qtest_writel(qts, SMMU_BASE + SMMU_CR1, 0x0d75);
    qtest_writeq(qts, SMMU_BASE + SMMU_CMDQ_BASE, 0x400000004e16b00aULL);
    qtest_writel(qts, SMMU_BASE + SMMU_CMDQ_CONS, 0);
    qtest_writel(qts, SMMU_BASE + SMMU_CMDQ_PROD, 0);
    qtest_writeq(qts, SMMU_BASE + SMMU_EVENTQ_BASE, 0x400000004e17000aULL);
    qtest_writel(qts, SMMU_BASE + SMMU_EVENTQ_PROD, 0);
    qtest_writel(qts, SMMU_BASE + SMMU_EVENTQ_CONS, 0);
    qtest_writel(qts, SMMU_BASE + SMMU_STRTAB_BASE_CFG, 0x5);
    qtest_writeq(qts, SMMU_BASE + SMMU_STRTAB_BASE, 0x400000004e179000ULL);   /* bit 62 (RA) ignored */
    qtest_writel(qts, SMMU_BASE + 0x3c, 1);                                   /* no register there */
    qtest_writel(qts, SMMU_BASE + SMMU_CR0, 0xd);
}

static void test_mmio(void)
{
    QTestState *qts = qtest_init(ARGS);
    TestdevHandle h;
    uint8_t buf[DMA_BYTES];
    int mode;

    testdev_find_and_map(&h, qts);
    g_assert_cmphex(qpci_io_readl(h.dev, h.bar0, STD_ATTR_NS), ==, 0x2);

    qpci_io_writel(h.dev, h.bar0, STD_SMMU_BASE_LO, (uint32_t)SMMU_BASE);
    qpci_io_writel(h.dev, h.bar0, STD_SMMU_BASE_HI, (uint32_t)(SMMU_BASE >> 32));
    qpci_io_writel(h.dev, h.bar0, STD_IOVA_LO, (uint32_t)IOVA);
    qpci_io_writel(h.dev, h.bar0, STD_IOVA_HI, (uint32_t)(IOVA >> 32));
    qpci_io_writel(h.dev, h.bar0, STD_DMA_LEN, DMA_BYTES);
    qpci_io_writel(h.dev, h.bar0, STD_DMA_DIR, 0);
    /* the IOVA as a physical address is outside RAM: this has no effect, and is not checked */
    qtest_memset(qts, IOVA, 0, DMA_BYTES);
    qtest_memread(qts, IOVA, buf, sizeof(buf));
    qpci_io_writel(h.dev, h.bar0, STD_ID, 1);
    qpci_io_writel(h.dev, h.bar0, STD_DMA_MODE, 1);

    for (mode = 0; mode <= 2; mode++) {
        uint32_t status, result = STD_BUSY;
        int i;

        qpci_io_writel(h.dev, h.bar0, STD_TRANS_MODE, mode);
        qpci_io_writel(h.dev, h.bar0, STD_S1_SPACE, SPACE_NS);
        qpci_io_writel(h.dev, h.bar0, STD_S2_SPACE, SPACE_NS);
        qpci_io_writel(h.dev, h.bar0, STD_TRANS_DBELL, 0x2);
        qpci_io_writel(h.dev, h.bar0, STD_TRANS_DBELL, 0x1);
        status = qpci_io_readl(h.dev, h.bar0, STD_TRANS_STATUS);
        g_test_message("mode %d: TRANS_STATUS 0x%08x", mode, status);

        smmu_program(qts);

        qpci_io_writel(h.dev, h.bar0, STD_DMA_ATTRS, 0x2);
        qpci_io_writel(h.dev, h.bar0, STD_DMA_DOORBELL, 1);
        (void)qpci_io_readl(h.dev, h.bar0, STD_ID);          /* runs the pending DMA */
        for (i = 0; i < 1000; i++) {
            result = qpci_io_readl(h.dev, h.bar0, STD_DMA_RESULT);
            if (result != STD_BUSY) {
                break;
            }
            g_usleep(1000);
        }
        g_test_message("mode %d: DMA_RESULT 0x%08x", mode, result);
        g_assert_cmphex(result, ==, 0);

        /* re-programming CR0/STRTAB flushes nothing: the device clears and invalidates */
        qpci_io_writel(h.dev, h.bar0, STD_TRANS_CLEAR, 1);
    }

    testdev_release(&h);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/smmu-testdev/mmio", test_mmio);
    return g_test_run();
}
