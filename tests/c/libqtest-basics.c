/*
 * libqtest-basics -- libqtest/libqos against the plain virt board (no device, no SMMU): the
 * launcher handshake, PCI discovery of the gpex host bridge, memory round trips, the virtual
 * clock, and IRQ interception on the GIC via set_irq_in. Runs unchanged on QEMU and qtestd.
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/pci/pci_regs.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"

#define ARGS "-machine virt,acpi=off,gic-version=3 -smp 1 -m 512 -cpu max -net none"
#define GIC_PATH "/machine/unattached/device[1]"
#define RAM_SCRATCH 0x40200000ULL

static void count_dev(QPCIDevice *dev, int devfn, void *opaque)
{
    int *n = opaque;

    g_assert_cmpint(devfn, ==, 0);
    g_assert_cmphex(qpci_config_readw(dev, PCI_DEVICE_ID), ==, 0x0008);
    g_assert_cmphex(qpci_config_readw(dev, PCI_CLASS_DEVICE), ==, 0x0600);
    (*n)++;
    g_free(dev);
}

static void test_pci_host(void)
{
    QTestState *qts = qtest_init(ARGS);
    QGenericPCIBus bus;
    int n = 0;

    qpci_init_generic(&bus, qts, NULL, false);
    qpci_device_foreach(&bus.bus, 0x1b36, -1, count_dev, &n);
    g_assert_cmpint(n, ==, 1);
    /* empty slots read all-ones */
    g_assert_cmphex(qtest_readl(qts, 0x4010008000ULL), ==, 0xffffffff);
    qtest_quit(qts);
}

static void test_memory(void)
{
    QTestState *qts = qtest_init(ARGS);
    uint8_t w[1000], r[1000];
    size_t i;

    for (i = 0; i < sizeof(w); i++) {
        w[i] = (uint8_t)(i ^ 0x5a);
    }
    qtest_memwrite(qts, RAM_SCRATCH, w, sizeof(w));
    qtest_memread(qts, RAM_SCRATCH, r, sizeof(r));
    g_assert_cmpmem(r, sizeof(r), w, sizeof(w));
    qtest_bufwrite(qts, RAM_SCRATCH + 0x10000, w, sizeof(w));
    memset(r, 0, sizeof(r));
    qtest_bufread(qts, RAM_SCRATCH + 0x10000, r, sizeof(r));
    g_assert_cmpmem(r, sizeof(r), w, sizeof(w));
    qtest_memset(qts, RAM_SCRATCH, 0x3c, 16);
    g_assert_cmphex(qtest_readq(qts, RAM_SCRATCH + 8), ==, 0x3c3c3c3c3c3c3c3cULL);
    qtest_writel(qts, RAM_SCRATCH, 0xcafef00d);
    g_assert_cmphex(qtest_readw(qts, RAM_SCRATCH + 2), ==, 0xcafe);
    /* PCI MMIO window: unassigned reads all-ones; past RAM: zero */
    g_assert_cmphex(qtest_readl(qts, 0x10000000), ==, 0xffffffff);
    g_assert_cmphex(qtest_readl(qts, 0x60000000), ==, 0);
    g_assert_cmphex(qtest_inb(qts, 0), ==, 0xff);
    qtest_quit(qts);
}

static void test_clock_and_irq(void)
{
    QTestState *qts = qtest_init(ARGS);

    g_assert_cmpint(qtest_clock_step(qts, 1000), ==, 1000);
    g_assert_cmpint(qtest_clock_set(qts, 5000), ==, 5000);
    g_assert_cmpint(qtest_clock_step(qts, 10 * 1000 * 1000), ==, 10005000);
    qtest_irq_intercept_in(qts, GIC_PATH);
    g_assert_false(qtest_get_irq(qts, 42));
    qtest_set_irq_in(qts, GIC_PATH, NULL, 42, 1);
    g_assert_true(qtest_get_irq(qts, 42));
    qtest_set_irq_in(qts, GIC_PATH, NULL, 42, 0);
    g_assert_false(qtest_get_irq(qts, 42));
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/libqtest-basics/pci-host", test_pci_host);
    qtest_add_func("/libqtest-basics/memory", test_memory);
    qtest_add_func("/libqtest-basics/clock-and-irq", test_clock_and_irq);
    return g_test_run();
}
