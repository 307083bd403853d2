/*
 * Raw qtest lines over a libqtest QTestState, for the commands libqtest 10.2.2 has no API for:
 * the memory-attribute forms of protocol/qtest.md ("Memory attributes": `readl ADDR secure`,
 * `writeq_space ADDR VALUE SPACE`, …).
 *
 * libqtest 10.2.2 exports no way to send a line of one's own on the qtest channel: its line
 * sender, reply reader and transport hooks are all static in libqtest.c, and QEMU accepts one
 * qtest connection only. So this helper writes to the qtest socket itself. The socket is the
 * first field of libqtest's private QTestState (10.2.2 layout, which the oracle kit pins);
 * qraw_fd() checks that it really is libqtest's qtest socket (a connected UNIX stream socket
 * whose local name is libqtest's "qtest-PID.sock", not the ".qmp" one) before using it.
 * Replies are read one byte at a time, so nothing past the reply line is consumed and libqtest's
 * own calls on the same state keep working. Asynchronous `IRQ …` lines are skipped (these tests
 * intercept no IRQs).
 */
#ifndef TESTS_C_QTEST_RAW_H
#define TESTS_C_QTEST_RAW_H

#include "qemu/osdep.h"
#include "libqtest.h"
#include <sys/socket.h>
#include <sys/un.h>

static inline int qraw_fd(QTestState *qts)
{
    int fd = *(const int *)qts;
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    int type = 0;
    socklen_t tlen = sizeof(type);
    size_t n;

    memset(&sa, 0, sizeof(sa));
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
    g_assert_cmpint(sa.sun_family, ==, AF_UNIX);
    g_assert_cmpint(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen), ==, 0);
    g_assert_cmpint(type, ==, SOCK_STREAM);
    n = strnlen(sa.sun_path, sizeof(sa.sun_path));
    g_assert_true(n > 5 && strcmp(sa.sun_path + n - 5, ".sock") == 0);
    g_assert_nonnull(strstr(sa.sun_path, "qtest-"));
    return fd;
}

/* Send one line (printf-style, without the newline); return the reply line without "\n". */
static inline G_GNUC_PRINTF(2, 3) gchar *qraw(QTestState *qts, const char *fmt, ...)
{
    int fd = qraw_fd(qts);
    va_list ap;
    gchar *line;
    GString *reply = g_string_new(NULL);
    size_t off = 0, len;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_test_message("raw qtest: %s", line);
    len = strlen(line);
    line = g_realloc(line, len + 2);
    line[len++] = '\n';
    line[len] = '\0';
    while (off < len) {
        ssize_t w = write(fd, line + off, len - off);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(w, >, 0);
        off += w;
    }
    g_free(line);
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(r, ==, 1);
        if (c != '\n') {
            g_string_append_c(reply, c);
        } else if (g_str_has_prefix(reply->str, "IRQ ")) {
            g_string_truncate(reply, 0);
        } else {
            break;
        }
    }
    return g_string_free(reply, false);
}

/* Send a line and assert the exact reply. */
#define qraw_expect(qts, want, ...) do {                  \
        gchar *got_ = qraw((qts), __VA_ARGS__);           \
        g_assert_cmpstr(got_, ==, (want));                \
        g_free(got_);                                     \
    } while (0)

/* Send a line whose reply must be "OK 0x<hex>"; return the number. */
static inline G_GNUC_PRINTF(2, 3) uint64_t qraw_value(QTestState *qts, const char *fmt, ...)
{
    va_list ap;
    gchar *line, *reply, *end = NULL;
    uint64_t v;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    reply = qraw(qts, "%s", line);
    g_assert_true(g_str_has_prefix(reply, "OK 0x"));
    v = g_ascii_strtoull(reply + 3, &end, 16);
    g_assert_true(end && *end == '\0');
    g_free(reply);
    g_free(line);
    return v;
}

/* The author's libqtest API for one space (QEMU ARMSecuritySpace: 0 Secure, 1 Non-secure, …). */
static inline void qraw_writel_space(QTestState *qts, uint64_t addr, uint32_t v, int space)
{
    qraw_expect(qts, "OK", "writel_space 0x%" PRIx64 " 0x%" PRIx32 " %d", addr, v, space);
}

static inline void qraw_writeq_space(QTestState *qts, uint64_t addr, uint64_t v, int space)
{
    qraw_expect(qts, "OK", "writeq_space 0x%" PRIx64 " 0x%" PRIx64 " %d", addr, v, space);
}

static inline uint32_t qraw_readl_space(QTestState *qts, uint64_t addr, int space)
{
    return qraw_value(qts, "readl_space 0x%" PRIx64 " %d", addr, space);
}

static inline void qraw_memset_space(QTestState *qts, uint64_t addr, uint8_t b, size_t n, int space)
{
    qraw_expect(qts, "OK", "memset_space 0x%" PRIx64 " 0x%zx 0x%02x %d", addr, n, b, space);
}

/* `read_space ADDR SIZE SPACE` -> "OK 0x<bytes in hex>" into buf. */
static inline void qraw_read_space(QTestState *qts, uint64_t addr, uint8_t *buf, size_t n, int space)
{
    gchar *reply = qraw(qts, "read_space 0x%" PRIx64 " 0x%zx %d", addr, n, space);
    size_t i;

    g_assert_true(g_str_has_prefix(reply, "OK 0x"));
    g_assert_cmpuint(strlen(reply), ==, 5 + 2 * n);
    for (i = 0; i < n; i++) {
        char hexb[3] = { reply[5 + 2 * i], reply[6 + 2 * i], 0 };

        buf[i] = (uint8_t)g_ascii_strtoull(hexb, NULL, 16);
    }
    g_free(reply);
}

#endif
