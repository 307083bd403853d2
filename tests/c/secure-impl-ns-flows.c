/*
 * secure-impl-ns-flows -- the three Non-secure flows of iommu-smmuv3.c on a machine with a
 * Secure view and a Secure-capable SMMU (`secure=on`, `secure-impl=true`), device
 * `sec-sid=non-secure`: its streams stay on the Non-secure bank (docs/secure-smmu.md), and the
 * tables (NSCFG=1, NSTable=1, NS=1) keep every walk Non-secure under the series' rules.
 */
#define ARGS "-machine virt,acpi=off,gic-version=3,iommu=smmuv3,secure=on " \
             "-global arm-smmuv3.secure-impl=true -smp 1 -m 512 -cpu max " \
             "-net none -device iommu-testdev,sec-sid=non-secure"
#include "iommu-smmuv3.c"
