/*
 * Self-test of an oracle prefix built by scripts/oracle/build.sh: proves that qtest-cc compiles and
 * links against libqtest + libqos and that the QEMU binary runs the virt board under -accel qtest.
 *
 *   PREFIX/bin/qtest-cc -o smoke smoke.c
 *   QTEST_QEMU_BINARY=PREFIX/bin/qemu-system-aarch64 ./smoke --tap
 *
 * Checks: the ECAM host bridge's ID, that libqos' generic PCI bus enumerates the edu device at
 * 00:01.0 (1234:11e8) and reads its ID register through BAR0, a guest RAM round trip, and clock_step.
 */
#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "libqos/generic-pcihost.h"
#include "libqos/pci.h"
#include "hw/pci/pci_regs.h"

#define ECAM_BASE 0x4010000000ULL /* virt, highmem: bus 0, device 0, function 0 */
#define RAM_BASE 0x40000000ULL

static void test_virt_edu(void)
{
    QTestState *qts = qtest_init("-machine virt,acpi=off,gic-version=3,iommu=smmuv3 "
                                 "-cpu max -smp 1 -m 512 -net none -device edu,addr=01.0");
    QGuestAllocator alloc;
    QGenericPCIBus bus;
    QPCIDevice *edu;
    QPCIBar bar0;
    uint8_t out[64], in[64];

    g_assert_cmphex(qtest_readl(qts, ECAM_BASE), ==, 0x00081b36); /* 1b36:0008 */

    alloc_init(&alloc, 0, RAM_BASE + 16 * 1024 * 1024, RAM_BASE + 32 * 1024 * 1024, 4096);
    qpci_init_generic(&bus, qts, &alloc, false);
    edu = qpci_device_find(&bus.bus, QPCI_DEVFN(1, 0));
    g_assert_nonnull(edu);
    g_assert_cmphex(qpci_config_readw(edu, PCI_VENDOR_ID), ==, 0x1234);
    g_assert_cmphex(qpci_config_readw(edu, PCI_DEVICE_ID), ==, 0x11e8);
    qpci_device_enable(edu);
    bar0 = qpci_iomap(edu, 0, NULL);
    g_assert_cmphex(qpci_io_readl(edu, bar0, 0), ==, 0x010000ed);

    for (size_t i = 0; i < sizeof(out); i++) {
        out[i] = (uint8_t)(i * 7 + 1);
    }
    qtest_memwrite(qts, RAM_BASE + 0x1000, out, sizeof(out));
    qtest_memread(qts, RAM_BASE + 0x1000, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

    g_assert_cmpint(qtest_clock_step(qts, 1000), ==, 1000);

    qpci_iounmap(edu, bar0);
    g_free(edu);
    alloc_destroy(&alloc);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/oracle/smoke", test_virt_edu);
    return g_test_run();
}
