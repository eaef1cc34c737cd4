/* SR-IOV and NIC discovery (libpci plus sysfs).  Placeholder: filled in by issue 5. */
#pragma once
