/*
 * iommu-smmuv3 -- DMA of iommu-testdev translated by the virt board's SMMUv3, in three
 * configurations (stage 1 only, stage 2 only, nested), built the way the upstream
 * iommu-smmuv3-test does it (docs/smmu.md#the-upstream-test-sequence): linear stream table, STE for
 * SID = devfn, a context descriptor for stage 1, 4 KiB-granule page tables, no commands.
 * IOVA 0x8080604567 must land on PA 0x4ecba567, which then reads 78 56 34 12.
 */
#include "qemu/osdep.h"
#include "hw/pci/pci_regs.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "iommu-testdev.h"

#define DMA_ATTRS_NS     0xa          /* secure 0, space 1 (non-secure), space valid */

#define OUT_PA           (NS_OFFSET + OUT_PAGE + (IOVA & 0xfff))
#define S2T0SZ           0x14
#define DMA_LEN_BYTES    4

#ifndef ARGS /* secure-*.c reuse these flows with other argv */
#define ARGS "-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -smp 1 -m 512 -cpu max " \
             "-net none -device iommu-testdev"
#endif

static uint64_t table(uint64_t next)
{
    return NON_LEAF | ((NS_OFFSET + next) & ADDR_MASK);
}

static uint64_t leaf(uint64_t page, uint64_t attrs)
{
    return attrs | ((NS_OFFSET + page) & ADDR_MASK);
}

static void write_ste(QTestState *qts, int sid, StreamConfig cfg)
{
    uint32_t w[16] = { 0 };
    uint64_t ste = NS_OFFSET + STR_TAB_BASE + 64ULL * sid;
    int i;

    words_set(w, 0, 1, 1);                                /* V */
    words_set(w, 1, 3, cfg);                              /* Config */
    words_set(w, 6, 50, (NS_OFFSET + CD_GPA) >> 6);       /* S1ContextPtr[55:6] */
    words_set(w, 160, 6, S2T0SZ);                         /* S2T0SZ */
    words_set(w, 166, 2, 2);                              /* S2SL0: start at level 0 */
    words_set(w, 174, 2, 0);                              /* S2TG: 4 KiB */
    words_set(w, 176, 3, 5);                              /* S2PS: 48 bits */
    words_set(w, 179, 1, 1);                              /* S2AA64 */
    words_set(w, 180, 1, 0);                              /* S2ENDI */
    words_set(w, 181, 1, 0);                              /* S2AFFD */
    words_set(w, 196, 48, (NS_OFFSET + VTTB) >> 4);       /* S2TTB[51:4] */
    for (i = 0; i < 16; i++) {
        qtest_writel(qts, ste + 4 * i, w[i]);
    }
}

static void write_cd(QTestState *qts)
{
    uint32_t w[16] = { 0 };
    uint64_t cd = NS_OFFSET + CD_GPA;
    int i;

    words_set(w, 0, 6, 0x10);                             /* T0SZ */
    words_set(w, 6, 2, 0);                                /* TG0: 4 KiB */
    words_set(w, 14, 1, 0);                               /* EPD0 */
    words_set(w, 15, 1, 0);                               /* ENDI */
    words_set(w, 30, 1, 1);                               /* EPD1 */
    words_set(w, 31, 1, 1);                               /* V */
    words_set(w, 32, 3, 4);                               /* IPS: 44 bits */
    words_set(w, 35, 1, 0);                               /* AFFD */
    words_set(w, 38, 2, 0);                               /* TBI */
    words_set(w, 41, 1, 1);                               /* AA64 */
    words_set(w, 42, 1, 0);                               /* HD */
    words_set(w, 43, 1, 0);                               /* HA */
    words_set(w, 44, 1, 0);                               /* S */
    words_set(w, 45, 1, 1);                               /* R */
    words_set(w, 46, 1, 1);                               /* A */
    words_set(w, 48, 16, 0x1e20);                         /* ASID */
    words_set(w, 64, 1, 1);                               /* NSCFG0 */
    words_set(w, 68, 48, (NS_OFFSET + VTTB) >> 4);        /* TTB0[51:4] */
    words_set(w, 128, 1, 1);                              /* NSCFG1 */
    for (i = 0; i < 16; i++) {
        qtest_writel(qts, cd + 4 * i, w[i]);
    }
    for (i = 0; i < 16; i++) {
        g_assert_cmphex(qtest_readl(qts, cd + 4 * i), ==, w[i]);
    }
}

static void write_tables(QTestState *qts, StreamConfig cfg)
{
    const uint64_t t = NS_OFFSET + VTTB;

    qtest_writeq(qts, t + 0x0000, table(VTTB + 0x1000));            /* S2 L0[0] */
    qtest_writeq(qts, t + 0x0008, table(VTTB + 0x1000));            /* S1/S2 L0[1] */
    qtest_writeq(qts, t + 0x1008, table(VTTB + 0x2000));            /* S2 L1[1] */
    qtest_writeq(qts, t + 0x1010, table(VTTB + 0x2000));            /* S1/S2 L1[2] */
    qtest_writeq(qts, t + 0x2018, table(VTTB + 0x3000));            /* S1/S2 L2[3] */
    qtest_writeq(qts, t + 0x2390, table(VTTB + 0x3000));            /* S2 L2[0x72]: table pages */
    qtest_writeq(qts, t + 0x23b0, table(VTTB + 0x3000));            /* S2 L2[0x76]: output page */
    qtest_writeq(qts, t + 0x3020,
                 leaf(OUT_PAGE, cfg == MODE_S2 ? LEAF_S1RO_S2RW : LEAF_S1RW_S2RO)); /* L3[4] */
    qtest_writeq(qts, t + 0x35d0, leaf(OUT_PAGE, LEAF_S1RO_S2RW));  /* S2 L3[0xba] identity RW */
    qtest_writeq(qts, t + 0x3680, leaf(VTTB + 0x0000, LEAF_S1RW_S2RO)); /* S2 L3[0xd0..0xd3] */
    qtest_writeq(qts, t + 0x3688, leaf(VTTB + 0x1000, LEAF_S1RW_S2RO));
    qtest_writeq(qts, t + 0x3690, leaf(VTTB + 0x2000, LEAF_S1RW_S2RO));
    qtest_writeq(qts, t + 0x3698, leaf(VTTB + 0x3000, LEAF_S1RW_S2RO));
    if (cfg == MODE_NESTED) {
        qtest_writeq(qts, t + 0x2380, table(VTTB + 0x3000));        /* S2 L2[0x70]: CD page */
        qtest_writeq(qts, t + 0x3bc0, leaf(CD_GPA & ~0xfffULL, LEAF_S1RW_S2RO)); /* L3[0x178] */
    }
}

static void run_translation(StreamConfig cfg)
{
    QTestState *qts = qtest_init(ARGS);
    TestdevHandle h;
    uint32_t result;
    uint8_t got[DMA_LEN_BYTES];
    static const uint8_t want[DMA_LEN_BYTES] = { 0x78, 0x56, 0x34, 0x12 };

    testdev_find_and_map(&h, qts);
    qtest_memset(qts, OUT_PA, 0, DMA_LEN_BYTES);
    write_ste(qts, h.devfn, cfg);                 /* SID = devfn on bus 0 */
    if (cfg != MODE_S2) {
        write_cd(qts);
    }
    write_tables(qts, cfg);
    smmu_program_bank(qts, 0, NS_OFFSET);
    result = iommu_testdev_dma(&h, OUT_PA, DMA_LEN_BYTES, DMA_ATTRS_NS);
    g_assert_cmphex(result, ==, 0);
    qtest_memread(qts, OUT_PA, got, sizeof(got));
    g_assert_cmpmem(got, sizeof(got), want, sizeof(want));

    testdev_release(&h);
    qtest_quit(qts);
}

static void test_ns_s1_only(void)
{
    run_translation(MODE_S1);
}

static void test_ns_s2_only(void)
{
    run_translation(MODE_S2);
}

static void test_ns_nested(void)
{
    run_translation(MODE_NESTED);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_machine("virt")) {
        g_test_message("machine virt not available: skipping");
        return g_test_run();
    }
    qtest_add_func("/iommu-testdev/translation/ns-s1-only", test_ns_s1_only);
    qtest_add_func("/iommu-testdev/translation/ns-s2-only", test_ns_s2_only);
    qtest_add_func("/iommu-testdev/translation/ns-nested", test_ns_nested);
    return g_test_run();
}
