/*
 * secure-smmuv3 -- the Secure SMMU author's iommu-testdev flows (docs/secure-smmu.md): every
 * STE, CD, page-table and memset/memread access goes through the `*_space` qtest commands
 * (protocol/qtest.md "Memory attributes"), the SMMU registers through plain MMIO.
 *  - ns-s1-only, ns-s2-only, ns-nested: space 1 (Non-secure), device `sec-sid=non-secure`, no
 *    `secure=on`, no `secure-impl`: output at 0x4ecba567.
 *  - secure-s1-only: `secure=on`, `-global arm-smmuv3.secure-impl=true`, device `sec-sid=secure`;
 *    tables in Secure RAM (space 0), the Secure bank at 0x09058000 programmed with plain MMIO,
 *    DMA with ATTRS 0x9; output at 0x0ecba567 in the Secure view only.
 * Table writes follow the author's order: for each stage-1 level first the stage-2 walk of the
 * table's page, then the stage-1 entry, then the stage-2 walk of the output page. The Secure
 * case also checks that this order yields the literal 24 writes the author's test performs.
 * Runs against qtestd only (QEMU 10.2.2 has neither `*_space` nor a Secure SMMU).
 */
#include "qemu/osdep.h"
#include "hw/pci/pci_regs.h"
#include "libqtest.h"
#include "iommu-testdev.h"
#include "qtest-raw.h"

#define SPACE_S  0   /* ARMSecuritySpace Secure */
#define SPACE_NS 1   /* ARMSecuritySpace Non-secure */

#define S_BANK            0x8000ULL
#define S_IDR1            0x8004
#define PTE_NSTABLE       (1ULL << 63)
#define PTE_NS            (1ULL << 5)

#define NS_ARGS "-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -smp 1 -m 512 -cpu max " \
                "-net none -device iommu-testdev,sec-sid=non-secure"
#define S_ARGS  "-machine virt,acpi=off,gic-version=3,iommu=smmuv3,secure=on " \
                "-global arm-smmuv3.secure-impl=true -smp 1 -m 512 -cpu max " \
                "-net none -device iommu-testdev,sec-sid=secure"

typedef struct { uint64_t addr, val; } Write;

/* the writes of the author's secure-s1-only, in order (docs/secure-smmu.md) */
static const Write SECURE_S1_WRITES[] = {
    { 0x0e4d0000, 0x0e4d1003 }, { 0x0e4d1000, 0x0e4d2003 }, { 0x0e4d2390, 0x0e4d3003 },
    { 0x0e4d3680, 0x040000000e4d0743ULL },
    { 0x0e4d0008, 0x0e4d1003 },
    { 0x0e4d0000, 0x0e4d1003 }, { 0x0e4d1000, 0x0e4d2003 }, { 0x0e4d2390, 0x0e4d3003 },
    { 0x0e4d3688, 0x040000000e4d1743ULL },
    { 0x0e4d1010, 0x0e4d2003 },
    { 0x0e4d0000, 0x0e4d1003 }, { 0x0e4d1000, 0x0e4d2003 }, { 0x0e4d2390, 0x0e4d3003 },
    { 0x0e4d3690, 0x040000000e4d2743ULL },
    { 0x0e4d2018, 0x0e4d3003 },
    { 0x0e4d0000, 0x0e4d1003 }, { 0x0e4d1000, 0x0e4d2003 }, { 0x0e4d2390, 0x0e4d3003 },
    { 0x0e4d3698, 0x040000000e4d3743ULL },
    { 0x0e4d3020, 0x040000000ecba743ULL },
    { 0x0e4d0000, 0x0e4d1003 }, { 0x0e4d1000, 0x0e4d2003 }, { 0x0e4d23b0, 0x0e4d3003 },
    { 0x0e4d35d0, 0x040000000ecba7c3ULL },
};

static uint64_t space_offset(int space)
{
    return space == SPACE_NS ? NS_OFFSET : 0;
}

static uint64_t non_leaf(uint64_t next, int space)
{
    uint64_t a = space == SPACE_S ? NON_LEAF & ~PTE_NSTABLE : NON_LEAF;

    return a | ((space_offset(space) + next) & ADDR_MASK);
}

static uint64_t leaf(uint64_t page, uint64_t attrs, int space)
{
    uint64_t a = space == SPACE_S ? attrs & ~PTE_NS : attrs;

    return a | ((space_offset(space) + page) & ADDR_MASK);
}

/* the stage-2 walk (start level 0, 4 KiB) that maps IPA `ipa` to itself */
static size_t s2_walk(Write *w, size_t n, uint64_t ipa, uint64_t leaf_attrs, int space)
{
    const uint64_t o = space_offset(space), t = o + VTTB;
    uint64_t a = o + ipa;

    w[n++] = (Write){ t + 8 * ((a >> 39) & 0x1ff), non_leaf(VTTB + 0x1000, space) };
    w[n++] = (Write){ t + 0x1000 + 8 * ((a >> 30) & 0x1ff), non_leaf(VTTB + 0x2000, space) };
    w[n++] = (Write){ t + 0x2000 + 8 * ((a >> 21) & 0x1ff), non_leaf(VTTB + 0x3000, space) };
    w[n++] = (Write){ t + 0x3000 + 8 * ((a >> 12) & 0x1ff), leaf(ipa, leaf_attrs, space) };
    return n;
}

/* all table writes of one flow, in the author's order */
static size_t build_writes(Write *w, int space, StreamConfig cfg)
{
    const uint64_t o = space_offset(space), t = o + VTTB;
    size_t n = 0;
    int lvl;

    for (lvl = 0; lvl < 4; lvl++) {
        uint64_t page = VTTB + 0x1000ULL * lvl;
        uint64_t slot = t + 0x1000ULL * lvl + 8 * ((IOVA >> (39 - 9 * lvl)) & 0x1ff);

        n = s2_walk(w, n, page, LEAF_S1RW_S2RO, space);  /* the table page */
        if (lvl < 3) {
            w[n++] = (Write){ slot, non_leaf(page + 0x1000, space) };
        } else {
            w[n++] = (Write){ slot, leaf(OUT_PAGE, cfg == MODE_S2 ? LEAF_S1RO_S2RW : LEAF_S1RW_S2RO, space) };
        }
    }
    n = s2_walk(w, n, OUT_PAGE, LEAF_S1RO_S2RW, space);
    if (cfg == MODE_NESTED) {
        n = s2_walk(w, n, CD_GPA & ~0xfffULL, LEAF_S1RW_S2RO, space);      /* the CD's page */
    }
    return n;
}

static void write_ste(QTestState *qts, int sid, StreamConfig cfg, int space)
{
    uint32_t w[16] = { 0 };
    const uint64_t o = space_offset(space);
    int i;

    words_set(w, 0, 1, 1);                          /* V */
    words_set(w, 1, 3, cfg);                        /* Config */
    words_set(w, 6, 50, (o + CD_GPA) >> 6);         /* S1ContextPtr */
    words_set(w, 160, 6, 0x14);                     /* S2T0SZ */
    words_set(w, 166, 2, 2);                        /* S2SL0 */
    words_set(w, 176, 3, 5);                        /* S2PS */
    words_set(w, 179, 1, 1);                        /* S2AA64 */
    words_set(w, 196, 48, (o + VTTB) >> 4);         /* S2TTB */
    if (space == SPACE_S && cfg == MODE_S1) {
        static const uint32_t sheet[16] = { 0x0e178fcb, 0, 0, 0, 0, 0x000d0094, 0x0e4d0000 };

        g_assert_cmpmem(w, sizeof(w), sheet, sizeof(sheet));
    }
    for (i = 0; i < 16; i++) {
        qraw_writel_space(qts, o + STR_TAB_BASE + 64ULL * sid + 4 * i, w[i], space);
    }
}

static void write_cd(QTestState *qts, int space)
{
    uint32_t w[16] = { 0 };
    const uint64_t o = space_offset(space);
    const int nscfg = space == SPACE_NS;
    int i;

    words_set(w, 0, 6, 0x10);                       /* T0SZ */
    words_set(w, 30, 1, 1);                         /* EPD1 */
    words_set(w, 31, 1, 1);                         /* V */
    words_set(w, 32, 3, 4);                         /* IPS */
    words_set(w, 41, 1, 1);                         /* AA64 */
    words_set(w, 45, 1, 1);                         /* R */
    words_set(w, 46, 1, 1);                         /* A */
    words_set(w, 48, 16, 0x1e20);                   /* ASID */
    words_set(w, 64, 1, nscfg);                     /* NSCFG0 */
    words_set(w, 68, 48, (o + VTTB) >> 4);          /* TTB0 */
    words_set(w, 128, 1, nscfg);                    /* NSCFG1 */
    g_assert_cmphex(w[0], ==, 0xc0000010);
    g_assert_cmphex(w[1], ==, 0x1e206204);
    g_assert_cmphex(w[2], ==, space == SPACE_S ? 0x0e4d0000 : 0x4e4d0001);
    g_assert_cmphex(w[4], ==, nscfg);
    for (i = 0; i < 16; i++) {
        qraw_writel_space(qts, o + CD_GPA + 4 * i, w[i], space);
        g_assert_cmphex(qraw_readl_space(qts, o + CD_GPA + 4 * i, space), ==, w[i]);
    }
}

/* one bank, in the order of the author's test; `q` is the queues' and table's space offset */
static void program_bank(QTestState *qts, uint64_t bank, uint64_t q)
{
    smmu_program_bank(qts, bank, q);
    g_assert_cmphex(qtest_readl(qts, SMMU_BASE + bank + SMMU_CR0ACK), ==, 0xd);
}

static void run_flow(int space, StreamConfig cfg)
{
    QTestState *qts = qtest_init(space == SPACE_S ? S_ARGS : NS_ARGS);
    const uint64_t o = space_offset(space), out = o + OUT_PAGE + (IOVA & 0xfff);
    static const uint8_t want[4] = { 0x78, 0x56, 0x34, 0x12 };
    Write w[64];
    size_t n, i;
    uint8_t got[4];
    TestdevHandle h;

    testdev_find_and_map(&h, qts);
    g_assert_cmpint(h.devfn, ==, 8);
    qraw_memset_space(qts, out, 0, 4, space);
    write_ste(qts, h.devfn, cfg, space);
    if (cfg != MODE_S2) {
        write_cd(qts, space);
    }
    n = build_writes(w, space, cfg);
    if (space == SPACE_S) {
        g_assert_cmpuint(n, ==, G_N_ELEMENTS(SECURE_S1_WRITES));
        g_assert_cmpmem(w, n * sizeof(Write), SECURE_S1_WRITES, sizeof(SECURE_S1_WRITES));
    }
    for (i = 0; i < n; i++) {
        qraw_writeq_space(qts, w[i].addr, w[i].val, space);
    }
    program_bank(qts, 0, NS_OFFSET);
    if (space == SPACE_S) {
        g_assert_cmphex(qtest_readl(qts, SMMU_BASE + S_IDR1), ==, 0x80000010);
        program_bank(qts, S_BANK, 0);
        g_assert_cmphex(qtest_readl(qts, SMMU_BASE + S_BANK + SMMU_GBPA), ==, 0);
    }
    g_assert_cmphex(iommu_testdev_dma(&h, out, 4, space == SPACE_S ? 0x9 : 0xa), ==, 0);
    qraw_read_space(qts, out, got, sizeof(got), space);
    g_assert_cmpmem(got, sizeof(got), want, sizeof(want));
    if (space == SPACE_S) {
        /* the same bytes through the trailing-word form; invisible from the Non-secure view */
        g_assert_cmphex(qraw_value(qts, "readl 0x%" PRIx64 " secure", out), ==, 0x12345678);
        g_assert_cmphex(qtest_readl(qts, out), ==, 0);
        g_assert_cmphex(qraw_value(qts, "readl_space 0x%" PRIx64 " 1", out), ==, 0);
    }
    testdev_release(&h);
    qtest_quit(qts);
}

static void test_ns_s1_only(void)
{
    run_flow(SPACE_NS, MODE_S1);
}

static void test_ns_s2_only(void)
{
    run_flow(SPACE_NS, MODE_S2);
}

static void test_ns_nested(void)
{
    run_flow(SPACE_NS, MODE_NESTED);
}

static void test_secure_s1_only(void)
{
    run_flow(SPACE_S, MODE_S1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/iommu-testdev/translation/ns-s1-only", test_ns_s1_only);
    qtest_add_func("/iommu-testdev/translation/ns-s2-only", test_ns_s2_only);
    qtest_add_func("/iommu-testdev/translation/ns-nested", test_ns_nested);
    qtest_add_func("/iommu-testdev/translation/secure-s1-only", test_secure_s1_only);
    return g_test_run();
}
