/*
 * pci-basics -- libqtest/libqos basics against the virt board with edu.
 *
 *   -machine virt,acpi=off,gic-version=3,iommu=smmuv3 -smp 1 -m 512 -cpu max -net none
 *   -device edu,dma_mask=0xffffffffffffffff
 *
 * PCI discovery through libqos' generic ECAM host, BAR mapping, edu ID/liveness, guest-memory
 * round trips (memread/memwrite/memset/bufread/bufwrite), INTx through the intercepted GIC
 * (edu INTA at 00:01.0 -> SPI 4), and an edu DMA RAM -> buffer -> RAM completed by
 * qtest_clock_step_next. Runs unchanged against real QEMU 10.2.2 and qtestd.
 */
#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "hw/pci/pci_regs.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"

#define EDU_VENDOR          0x1234
#define EDU_DEVICE          0x11e8
#define EDU_ID              0x010000edu
#define EDU_REG_ID          0x00
#define EDU_REG_LIVENESS    0x04
#define EDU_REG_STATUS      0x20
#define EDU_REG_IRQ_STATUS  0x24
#define EDU_REG_IRQ_RAISE   0x60
#define EDU_REG_IRQ_ACK     0x64
#define EDU_REG_DMA_SRC     0x80
#define EDU_REG_DMA_DST     0x88
#define EDU_REG_DMA_COUNT   0x90
#define EDU_REG_DMA_CMD     0x98
#define EDU_DMA_RUN         0x1
#define EDU_DMA_TO_RAM      0x2
#define EDU_DMA_IRQ         0x4
#define EDU_BUF             0x40000

#define GIC_PATH            "/machine/unattached/device[1]"
#define EDU_SPI             4            /* slot 1, INTA -> gpex line 1 -> SPI 3 + 1 */

#define RAM_SCRATCH         0x40200000ULL   /* clear of the DTB in the first MiB of RAM */
#define RAM_DMA_SRC         0x40300000ULL
#define RAM_DMA_DST         0x40301000ULL

#define ARGS "-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -smp 1 -m 512 -cpu max " \
             "-net none -device edu,dma_mask=0xffffffffffffffff"

typedef struct {
    QTestState *qts;
    QGenericPCIBus pcibus;
    QPCIDevice *edu;
    int edu_devfn;
    int devices_seen;
    bool host_bridge_seen;
    QPCIBar bar0;
} Fixture;

static void count_device(QPCIDevice *dev, int devfn, void *opaque)
{
    Fixture *f = opaque;
    uint16_t vendor = qpci_config_readw(dev, PCI_VENDOR_ID);
    uint16_t device = qpci_config_readw(dev, PCI_DEVICE_ID);

    f->devices_seen++;
    if (devfn == 0 && vendor == 0x1b36 && device == 0x0008) {
        f->host_bridge_seen = true;
    }
    if (vendor == EDU_VENDOR && device == EDU_DEVICE && !f->edu) {
        f->edu = dev;
        f->edu_devfn = devfn;
        return;
    }
    g_free(dev);
}

static void setup(Fixture *f)
{
    uint64_t size = 0;

    memset(f, 0, sizeof(*f));
    f->qts = qtest_init(ARGS);
    qpci_init_generic(&f->pcibus, f->qts, NULL, false);
    qpci_device_foreach(&f->pcibus.bus, -1, -1, count_device, f);
    g_assert_true(f->host_bridge_seen);
    g_assert_cmpint(f->devices_seen, ==, 2);      /* gpex root + edu */
    g_assert_nonnull(f->edu);
    g_assert_cmpint(f->edu_devfn, ==, QPCI_DEVFN(1, 0));
    qpci_device_enable(f->edu);
    f->bar0 = qpci_iomap(f->edu, 0, &size);
    g_assert_cmpuint(size, ==, 1 * MiB);
    g_assert_false(f->bar0.is_io);
}

static void teardown(Fixture *f)
{
    qpci_iounmap(f->edu, f->bar0);
    g_free(f->edu);
    qtest_quit(f->qts);
}

static void test_config_and_bar(void)
{
    Fixture f;

    setup(&f);
    g_assert_cmphex(qpci_config_readl(f.edu, PCI_VENDOR_ID), ==, 0x11e81234);
    g_assert_cmphex(qpci_config_readb(f.edu, PCI_REVISION_ID), ==, 0x10);
    g_assert_cmphex(qpci_config_readw(f.edu, PCI_CLASS_DEVICE), ==, 0x00ff);
    g_assert_cmphex(qpci_config_readb(f.edu, PCI_INTERRUPT_PIN), ==, 1);
    g_assert_cmphex(qpci_config_readw(f.edu, PCI_COMMAND) & 0x7, ==, 0x7);
    g_assert_cmphex(qpci_find_capability(f.edu, PCI_CAP_ID_MSI, 0), ==, 0x40);
    /* BAR0 was placed at the start of libqos' MMIO window */
    g_assert_cmphex(qpci_config_readl(f.edu, PCI_BASE_ADDRESS_0) & ~0xfu, ==, 0x10000000);
    g_assert_cmphex(qpci_config_readl(f.edu, PCI_BASE_ADDRESS_1), ==, 0);
    teardown(&f);
}

static void test_edu_registers(void)
{
    static const uint32_t probes[] = { 0, 1, 0x12345678, 0xdeadbeef, 0xffffffff };
    Fixture f;
    size_t i;

    setup(&f);
    g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, EDU_REG_ID), ==, EDU_ID);
    for (i = 0; i < G_N_ELEMENTS(probes); i++) {
        qpci_io_writel(f.edu, f.bar0, EDU_REG_LIVENESS, probes[i]);
        g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, EDU_REG_LIVENESS), ==, (uint32_t)~probes[i]);
    }
    /* not a register: all ones */
    g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, 0x0c), ==, 0xffffffff);
    teardown(&f);
}

static void test_memory_round_trips(void)
{
    Fixture f;
    uint8_t wbuf[4096], rbuf[4096];
    size_t i;

    setup(&f);
    for (i = 0; i < sizeof(wbuf); i++) {
        wbuf[i] = (uint8_t)(i * 131 + 7);
    }
    /* hex read/write (qtest_memwrite/memread) */
    qtest_memwrite(f.qts, RAM_SCRATCH, wbuf, 256);
    memset(rbuf, 0, sizeof(rbuf));
    qtest_memread(f.qts, RAM_SCRATCH, rbuf, 256);
    g_assert_cmpmem(rbuf, 256, wbuf, 256);
    g_assert_cmphex(qtest_readl(f.qts, RAM_SCRATCH + 4), ==, (uint32_t)ldl_le_p(wbuf + 4));
    g_assert_cmphex(qtest_readq(f.qts, RAM_SCRATCH + 8), ==, ldq_le_p(wbuf + 8));
    /* base64 (qtest_bufwrite/bufread), a full page */
    qtest_bufwrite(f.qts, RAM_SCRATCH + 0x1000, wbuf, sizeof(wbuf));
    memset(rbuf, 0, sizeof(rbuf));
    qtest_bufread(f.qts, RAM_SCRATCH + 0x1000, rbuf, sizeof(rbuf));
    g_assert_cmpmem(rbuf, sizeof(rbuf), wbuf, sizeof(wbuf));
    /* memset, then the neighbours are untouched */
    qtest_memset(f.qts, RAM_SCRATCH + 0x10, 0xa5, 0x20);
    qtest_memread(f.qts, RAM_SCRATCH, rbuf, 0x40);
    for (i = 0; i < 0x40; i++) {
        g_assert_cmphex(rbuf[i], ==, (i >= 0x10 && i < 0x30) ? 0xa5 : wbuf[i]);
    }
    /* single-width accessors, little-endian target */
    qtest_writeq(f.qts, RAM_SCRATCH, 0x0102030405060708ULL);
    g_assert_cmphex(qtest_readb(f.qts, RAM_SCRATCH), ==, 0x08);
    g_assert_cmphex(qtest_readw(f.qts, RAM_SCRATCH + 6), ==, 0x0102);
    g_assert_true(qtest_big_endian(f.qts) == false);
    teardown(&f);
}

static void test_intx(void)
{
    Fixture f;

    setup(&f);
    qtest_irq_intercept_in(f.qts, GIC_PATH);
    g_assert_false(qtest_get_irq(f.qts, EDU_SPI));
    qpci_io_writel(f.edu, f.bar0, EDU_REG_IRQ_RAISE, 0x1);
    g_assert_true(qtest_get_irq(f.qts, EDU_SPI));
    g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, EDU_REG_IRQ_STATUS), ==, 0x1);
    qpci_io_writel(f.edu, f.bar0, EDU_REG_IRQ_RAISE, 0x100);
    qpci_io_writel(f.edu, f.bar0, EDU_REG_IRQ_ACK, 0x1);
    g_assert_true(qtest_get_irq(f.qts, EDU_SPI));           /* 0x100 still pending */
    qpci_io_writel(f.edu, f.bar0, EDU_REG_IRQ_ACK, 0x100);
    g_assert_false(qtest_get_irq(f.qts, EDU_SPI));
    g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, EDU_REG_IRQ_STATUS), ==, 0);
    /* INTx Disable masks the line; clearing it shows the pending level again */
    qpci_config_writew(f.edu, PCI_COMMAND, qpci_config_readw(f.edu, PCI_COMMAND) | PCI_COMMAND_INTX_DISABLE);
    qpci_io_writel(f.edu, f.bar0, EDU_REG_IRQ_RAISE, 0x1);
    g_assert_false(qtest_get_irq(f.qts, EDU_SPI));
    qpci_config_writew(f.edu, PCI_COMMAND, qpci_config_readw(f.edu, PCI_COMMAND) & ~PCI_COMMAND_INTX_DISABLE);
    g_assert_true(qtest_get_irq(f.qts, EDU_SPI));
    qpci_io_writel(f.edu, f.bar0, EDU_REG_IRQ_ACK, 0x1);
    g_assert_false(qtest_get_irq(f.qts, EDU_SPI));
    teardown(&f);
}

static void edu_dma(Fixture *f, uint64_t src, uint64_t dst, uint32_t count, uint32_t cmd)
{
    qpci_io_writeq(f->edu, f->bar0, EDU_REG_DMA_SRC, src);
    qpci_io_writeq(f->edu, f->bar0, EDU_REG_DMA_DST, dst);
    qpci_io_writeq(f->edu, f->bar0, EDU_REG_DMA_COUNT, count);
    qpci_io_writel(f->edu, f->bar0, EDU_REG_DMA_CMD, cmd | EDU_DMA_RUN);
}

static void test_dma(void)
{
    Fixture f;
    uint8_t pattern[256], out[256];
    int64_t t0, t1, t2;
    size_t i;

    setup(&f);
    qtest_irq_intercept_in(f.qts, GIC_PATH);
    for (i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (uint8_t)(0xff - i * 3);
    }
    qtest_memwrite(f.qts, RAM_DMA_SRC, pattern, sizeof(pattern));
    qtest_memset(f.qts, RAM_DMA_DST, 0, sizeof(out));

    /* RAM -> edu buffer, with the completion interrupt */
    t0 = qtest_clock_step(f.qts, 1000);
    edu_dma(&f, RAM_DMA_SRC, EDU_BUF, sizeof(pattern), EDU_DMA_IRQ);
    g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, EDU_REG_DMA_CMD) & EDU_DMA_RUN, ==, EDU_DMA_RUN);
    g_assert_false(qtest_get_irq(f.qts, EDU_SPI));
    t1 = qtest_clock_step_next(f.qts);
    g_assert_cmpint(t1, ==, (t0 / 1000000 + 100) * 1000000);      /* ms-rounded 100 ms timer */
    g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, EDU_REG_DMA_CMD), ==, EDU_DMA_IRQ);
    g_assert_true(qtest_get_irq(f.qts, EDU_SPI));
    g_assert_cmphex(qpci_io_readl(f.edu, f.bar0, EDU_REG_IRQ_STATUS), ==, 0x100);
    qpci_io_writel(f.edu, f.bar0, EDU_REG_IRQ_ACK, 0x100);
    g_assert_false(qtest_get_irq(f.qts, EDU_SPI));

    /* edu buffer -> RAM, no interrupt */
    edu_dma(&f, EDU_BUF, RAM_DMA_DST, sizeof(pattern), EDU_DMA_TO_RAM);
    t2 = qtest_clock_step_next(f.qts);
    g_assert_cmpint(t2, ==, (t1 / 1000000 + 100) * 1000000);
    g_assert_false(qtest_get_irq(f.qts, EDU_SPI));
    qtest_memread(f.qts, RAM_DMA_DST, out, sizeof(out));
    g_assert_cmpmem(out, sizeof(out), pattern, sizeof(pattern));
    teardown(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/pci-basics/config-and-bar", test_config_and_bar);
    qtest_add_func("/pci-basics/edu-registers", test_edu_registers);
    qtest_add_func("/pci-basics/memory-round-trips", test_memory_round_trips);
    qtest_add_func("/pci-basics/intx", test_intx);
    qtest_add_func("/pci-basics/dma", test_dma);
    return g_test_run();
}
