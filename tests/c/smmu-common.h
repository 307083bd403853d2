/*
 * Shared bits of the SMMUv3 qtests: register offsets of the virt board's SMMUv3 (0x09050000),
 * STE/CD field packing (positions from the Arm SMMUv3 architecture as QEMU decodes them), and
 * the PCI scan for the 1b36:0005 test devices.
 */
#ifndef TESTS_C_SMMU_COMMON_H
#define TESTS_C_SMMU_COMMON_H

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"

#define SMMU_BASE            0x09050000ULL
#define SMMU_CR0             0x20
#define SMMU_CR0ACK          0x24
#define SMMU_CR1             0x28
#define SMMU_GBPA            0x44
#define SMMU_STRTAB_BASE     0x80
#define SMMU_STRTAB_BASE_CFG 0x88
#define SMMU_CMDQ_BASE       0x90
#define SMMU_CMDQ_PROD       0x98
#define SMMU_CMDQ_CONS       0x9c
#define SMMU_EVENTQ_BASE     0xa0
#define SMMU_EVENTQ_PROD     0xa8
#define SMMU_EVENTQ_CONS     0xac

#define TESTDEV_VENDOR       0x1b36
#define TESTDEV_DEVICE       0x0005
#define NS_OFFSET            0x40000000ULL

/* set `width` bits at bit position `pos` of a little-endian array of 32-bit words */
static inline void words_set(uint32_t *w, unsigned pos, unsigned width, uint64_t val)
{
    unsigned i;

    for (i = 0; i < width; i++) {
        unsigned bit = pos + i;
        uint32_t mask = 1u << (bit % 32);

        if ((val >> i) & 1) {
            w[bit / 32] |= mask;
        } else {
            w[bit / 32] &= ~mask;
        }
    }
}

typedef struct {
    QTestState *qts;
    QGenericPCIBus bus;
    QPCIDevice *dev;
    int devfn;
    QPCIBar bar0;
} TestdevHandle;

/* Scan bus 0 (slots 0-31, functions 0-7) for 1b36:0005, enable it, map BAR0 (must be MMIO). */
static inline void testdev_find_and_map(TestdevHandle *h, QTestState *qts)
{
    int devfn;
    uint64_t size = 0;

    h->qts = qts;
    h->dev = NULL;
    qpci_init_generic(&h->bus, qts, NULL, false);
    for (devfn = 0; devfn < 256 && !h->dev; devfn++) {
        QPCIDevice *d = qpci_device_find(&h->bus.bus, devfn);

        if (!d) {
            continue;
        }
        if (qpci_config_readw(d, PCI_VENDOR_ID) == TESTDEV_VENDOR &&
            qpci_config_readw(d, PCI_DEVICE_ID) == TESTDEV_DEVICE) {
            h->dev = d;
            h->devfn = devfn;
        } else {
            g_free(d);
        }
    }
    g_assert_nonnull(h->dev);
    g_test_message("test device 1b36:0005 at devfn 0x%02x", h->devfn);
    qpci_device_enable(h->dev);
    h->bar0 = qpci_iomap(h->dev, 0, &size);
    g_assert_false(h->bar0.is_io);
    g_assert_cmpuint(size, ==, 0x1000);
}

static inline void testdev_release(TestdevHandle *h)
{
    qpci_iounmap(h->dev, h->bar0);
    g_free(h->dev);
}

#endif
