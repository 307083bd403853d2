/*
 * qtest-attrs -- the qtest memory-attribute forms (protocol/qtest.md "Memory attributes"), as the
 * Secure SMMU author's attrs tests use them, on `-machine virt,secure=on -cpu cortex-a57`:
 *  - both syntaxes: the trailing word (`secure`, `space=secure|non-secure|root|realm`) on every
 *    memory command, and the `*_space ADDR … SPACE` / `*_secure ADDR … 0|1` commands;
 *  - all four spaces: RAM (0x40001000) is in both views; Secure RAM (0x0e000000, 16 MiB) only in
 *    the Secure view, so only `secure`, space Secure (0) and Root (2) reach it;
 *  - every `ERR …` reply an aarch64 machine can give (the `… is ARM-specific` ones cannot occur).
 * Replies are asserted byte for byte. Runs against qtestd only (QEMU 10.2.2 answers
 * `FAIL Unknown command` to `*_space` and ignores the trailing word).
 */
#include "qemu/osdep.h"
#include "libqtest.h"
#include "qtest-raw.h"

#define SECURE_ARGS "-machine virt,secure=on -cpu cortex-a57"
#define RAM         ((uint64_t)0x40001000)
#define SRAM        ((uint64_t)0x0e000000)
#define SRAM_END    ((uint64_t)0x0f000000)

static const char *const SPACE_WORD[4] = { "space=secure", "space=non-secure", "space=root",
                                           "space=realm" };

static bool space_is_secure(int space)
{
    return space == 0 || space == 2;
}

/* scalar accesses of every width, with `_secure 1` and the trailing `secure` word */
static void test_secure_scalar(void)
{
    QTestState *qts = qtest_init(SECURE_ARGS);
    static const struct { char w; uint64_t v; } widths[] = {
        { 'b', 0x5a }, { 'w', 0xa55a }, { 'l', 0x12345678 }, { 'q', 0x1122334455667788ULL },
    };
    const uint64_t addrs[] = { RAM, SRAM, SRAM_END - 8 };
    size_t i, j;

    for (j = 0; j < G_N_ELEMENTS(addrs); j++) {
        uint64_t a = addrs[j];

        for (i = 0; i < G_N_ELEMENTS(widths); i++) {
            char w = widths[i].w;
            uint64_t v = widths[i].v;
            gchar *want = g_strdup_printf("OK 0x%016" PRIx64, v);

            qraw_expect(qts, "OK", "write%c_secure 0x%" PRIx64 " 0x%" PRIx64 " 1", w, a, v);
            qraw_expect(qts, want, "read%c_secure 0x%" PRIx64 " 1", w, a);
            qraw_expect(qts, want, "read%c 0x%" PRIx64 " secure", w, a);
            qraw_expect(qts, "OK", "write%c 0x%" PRIx64 " 0x0 secure", w, a);
            qraw_expect(qts, "OK 0x0000000000000000", "read%c_secure 0x%" PRIx64 " 1", w, a);
            qraw_expect(qts, "OK", "write%c 0x%" PRIx64 " 0x%" PRIx64 " secure", w, a, v);
            qraw_expect(qts, want, "read%c 0x%" PRIx64 " space=secure", w, a);
            g_free(want);
        }
        /* `_secure 0` and the plain command use the Non-secure view */
        qraw_expect(qts, a == RAM ? "OK 0x1122334455667788" : "OK 0x0000000000000000",
                    "readq_secure 0x%" PRIx64 " 0", a);
        g_assert_cmphex(qtest_readq(qts, a), ==, a == RAM ? 0x1122334455667788ULL : 0);
    }
    qtest_quit(qts);
}

/* bulk commands: read/write/b64read/b64write/memset with `secure`, and the `_secure` forms */
static void test_secure_bulk(void)
{
    QTestState *qts = qtest_init(SECURE_ARGS);
    const uint64_t a = SRAM + 0x100;

    qraw_expect(qts, "OK", "write 0x%" PRIx64 " 0x8 0x0123456789abcdef secure", a);
    qraw_expect(qts, "OK 0x0123456789abcdef", "read 0x%" PRIx64 " 0x8 secure", a);
    qraw_expect(qts, "OK 0x0123456789abcdef", "read_secure 0x%" PRIx64 " 0x8 1", a);
    qraw_expect(qts, "OK ASNFZ4mrze8=", "b64read 0x%" PRIx64 " 0x8 secure", a);
    qraw_expect(qts, "OK", "b64write 0x%" PRIx64 " 0x4 3q2+7w== secure", a);
    qraw_expect(qts, "OK 0xdeadbeef89abcdef", "read 0x%" PRIx64 " 0x8 space=secure", a);
    qraw_expect(qts, "OK", "memset 0x%" PRIx64 " 0x3 0xa5 secure", a + 1);
    qraw_expect(qts, "OK 0xdea5a5a589abcdef", "read_secure 0x%" PRIx64 " 0x8 1", a);
    qraw_expect(qts, "OK", "write_secure 0x%" PRIx64 " 0x2 0xc0de 1", a + 6);
    qraw_expect(qts, "OK", "memset_secure 0x%" PRIx64 " 0x1 0x00 1", a);
    qraw_expect(qts, "OK 0x00a5a5a589abc0de", "read 0x%" PRIx64 " 0x8 secure", a);
    /* the Non-secure view has nothing there: 10.2.2's plain `read` answers zeros */
    qraw_expect(qts, "OK 0x0000000000000000", "read 0x%" PRIx64 " 0x8", a);
    qraw_expect(qts, "OK 0x0000000000000000", "read_secure 0x%" PRIx64 " 0x8 0", a);
    qtest_quit(qts);
}

/* every space through both syntaxes, on RAM (both views) and Secure RAM (Secure view only) */
static void test_all_spaces(void)
{
    QTestState *qts = qtest_init(SECURE_ARGS);
    int s, r;

    for (s = 0; s < 4; s++) {
        uint32_t v = 0xc0ffee00 | s;
        gchar *want = g_strdup_printf("OK 0x%016" PRIx32, v);

        /* RAM: every space writes it, every space reads it back */
        qraw_expect(qts, "OK", "writel_space 0x%" PRIx64 " 0x%" PRIx32 " %d", RAM, v, s);
        for (r = 0; r < 4; r++) {
            qraw_expect(qts, want, "readl_space 0x%" PRIx64 " %d", RAM, r);
            qraw_expect(qts, want, "readl 0x%" PRIx64 " %s", RAM, SPACE_WORD[r]);
        }
        qraw_expect(qts, "OK", "writel 0x%" PRIx64 " 0x%" PRIx32 " %s", RAM + 4, v, SPACE_WORD[s]);
        g_assert_cmphex(qtest_readl(qts, RAM + 4), ==, v);
        /* the space number is taken modulo 4 */
        qraw_expect(qts, want, "readl_space 0x%" PRIx64 " %d", RAM, s + 4);

        /* Secure RAM: Secure and Root reach it; Non-secure and Realm see nothing */
        qraw_expect(qts, "OK", "writel_space 0x%" PRIx64 " 0x%" PRIx32 " %d", SRAM, v, s);
        if (space_is_secure(s)) {
            qraw_expect(qts, want, "readl_space 0x%" PRIx64 " %d", SRAM, s);
            qraw_expect(qts, want, "readl 0x%" PRIx64 " %s", SRAM, SPACE_WORD[s]);
            qraw_expect(qts, want, "readl 0x%" PRIx64 " secure", SRAM);
            qraw_expect(qts, "OK", "writel 0x%" PRIx64 " 0x%" PRIx32 " %s", SRAM + 8, v, SPACE_WORD[s]);
            qraw_expect(qts, want, "readl_space 0x%" PRIx64 " 0", SRAM + 8);
        } else {
            /* the `_space` commands answer OK as the series does; the access itself failed */
            qraw_expect(qts, "OK 0x0000000000000000", "readl_space 0x%" PRIx64 " %d", SRAM, s);
            qraw_expect(qts, "ERR memory access failed 0x2", "readl 0x%" PRIx64 " %s", SRAM,
                        SPACE_WORD[s]);
            qraw_expect(qts, "ERR memory access failed 0x2", "writel 0x%" PRIx64 " 0x1 %s", SRAM,
                        SPACE_WORD[s]);
            qraw_expect(qts, "ERR memory access failed 0x2", "read 0x%" PRIx64 " 0x4 %s", SRAM,
                        SPACE_WORD[s]);
            qraw_expect(qts, "ERR memory access failed 0x2", "memset 0x%" PRIx64 " 0x4 0x1 %s",
                        SRAM, SPACE_WORD[s]);
            qraw_expect(qts, "OK", "memset_space 0x%" PRIx64 " 0x4 0x1 %d", SRAM, s);
        }
        g_free(want);
    }
    /* the last Secure write (Root, s == 2) is still there: nothing Non-secure overwrote it */
    qraw_expect(qts, "OK 0x00000000c0ffee02", "readl_space 0x%" PRIx64 " 0", SRAM);
    qraw_expect(qts, "OK 0x02eeffc0", "read_space 0x%" PRIx64 " 0x4 2", SRAM);
    /* plain commands never reach it (QEMU 10.2.2: the Non-secure view, OK) */
    g_assert_cmphex(qtest_readl(qts, SRAM), ==, 0);
    qtest_quit(qts);
}

/* every ERR/FAIL reply of the attribute forms */
static void test_errors(void)
{
    QTestState *qts = qtest_init(SECURE_ARGS);
    static const char *const cmds[] = {
        "readb 0x40001000", "readw 0x40001000", "readl 0x40001000", "readq 0x40001000",
        "writeb 0x40001000 0x1", "writew 0x40001000 0x1", "writel 0x40001000 0x1",
        "writeq 0x40001000 0x1", "read 0x40001000 0x4", "b64read 0x40001000 0x4",
        "write 0x40001000 0x1 0x01", "b64write 0x40001000 0x1 AQ==", "memset 0x40001000 0x4 0x1",
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cmds); i++) {
        const char *c = cmds[i];

        qraw_expect(qts, "ERR too many arguments", "%s secure extra", c);
        qraw_expect(qts, "ERR too many arguments", "%s space=root 1", c);
        qraw_expect(qts, "ERR invalid attrs argument", "%s secure=1", c);
        qraw_expect(qts, "ERR invalid attrs argument", "%s attrs=secure", c);
        qraw_expect(qts, "ERR invalid space value. Valid space: secure/non-secure/root/realm",
                    "%s space=el3", c);
        qraw_expect(qts, "ERR invalid space value. Valid space: secure/non-secure/root/realm",
                    "%s space=", c);
        qraw_expect(qts, "ERR invalid space value. Valid space: secure/non-secure/root/realm",
                    "%s space=Secure", c);
        /* a first extra word that is neither `secure` nor NAME=VALUE: ignored, as in 10.2.2 */
        if (g_str_has_prefix(c, "readl")) {
            qraw_expect(qts, "OK 0x0000000000000000", "%s Secure", c);
        }
    }
    /* the numeric forms need their argument */
    qraw_expect(qts, "FAIL readl_space: missing space", "readl_space 0x40001000");
    qraw_expect(qts, "FAIL readl_secure: invalid secure \"x\"", "readl_secure 0x40001000 x");
    qtest_quit(qts);
}

/* a Secure attribute on a machine without a Secure view */
static void test_no_secure_view(void)
{
    QTestState *qts = qtest_init("-machine virt -cpu cortex-a57");
    int s;

    for (s = 0; s < 4; s++) {
        if (space_is_secure(s)) {
            qraw_expect(qts, "ERR address space unavailable for attrs", "readl 0x40001000 %s",
                        SPACE_WORD[s]);
            qraw_expect(qts, "ERR address space unavailable for attrs", "writel_space 0x40001000 0x1 %d",
                        s);
            qraw_expect(qts, "ERR address space unavailable for attrs", "read_space 0x40001000 0x4 %d",
                        s);
        } else {
            qraw_expect(qts, "OK", "writel 0x40001000 0x%x %s", 0x50 + s, SPACE_WORD[s]);
            qraw_expect(qts, s == 1 ? "OK 0x0000000000000051" : "OK 0x0000000000000053",
                        "readl_space 0x40001000 %d", s);
        }
    }
    qraw_expect(qts, "ERR address space unavailable for attrs", "readl 0x40001000 secure");
    qraw_expect(qts, "ERR address space unavailable for attrs", "memset 0x40001000 0x4 0x0 secure");
    qraw_expect(qts, "ERR address space unavailable for attrs", "writeq_secure 0x40001000 0x1 1");
    qraw_expect(qts, "OK 0x0000000000000053", "readl_secure 0x40001000 0");
    qtest_quit(qts);
}

/* `x-qtestd-memtx-errors=on`: plain commands report a failed access as newer QEMU does */
static void test_memtx_errors_option(void)
{
    QTestState *qts = qtest_init("-machine virt,secure=on,x-qtestd-memtx-errors=on -cpu cortex-a57");

    qraw_expect(qts, "ERR memory access failed 0x2", "readl 0x%" PRIx64, SRAM);
    qraw_expect(qts, "ERR memory access failed 0x2", "writel 0x%" PRIx64 " 0x1", SRAM);
    qraw_expect(qts, "ERR memory access failed 0x2", "readl_space 0x%" PRIx64 " 1", SRAM);
    qraw_expect(qts, "OK", "writel 0x%" PRIx64 " 0x7 secure", SRAM);
    qraw_expect(qts, "OK 0x0000000000000007", "readl_space 0x%" PRIx64 " 2", SRAM);
    qraw_expect(qts, "OK", "writel 0x%" PRIx64 " 0x1", RAM);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/qtest/arm/secure/scalar", test_secure_scalar);
    qtest_add_func("/qtest/arm/secure/bulk", test_secure_bulk);
    qtest_add_func("/qtest/arm/space/all_spaces", test_all_spaces);
    qtest_add_func("/qtest/arm/attrs/errors", test_errors);
    qtest_add_func("/qtest/arm/attrs/no_secure_view", test_no_secure_view);
    qtest_add_func("/qtest/arm/attrs/memtx_errors_option", test_memtx_errors_option);
    return g_test_run();
}
