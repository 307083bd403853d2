/*
 * secure-ns-flows -- the three Non-secure iommu-testdev flows (stage 1, stage 2, nested) of
 * iommu-smmuv3.c with `sec-sid=non-secure` on the device, as the Secure SMMU author's test
 * launches them (docs/secure-smmu.md): the property is accepted and the flows are unchanged.
 */
#define ARGS "-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -smp 1 -m 512 -cpu max " \
             "-net none -device iommu-testdev,sec-sid=non-secure"
#include "iommu-smmuv3.c"
