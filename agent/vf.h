/* VF provisioning through sysfs and rtnetlink.  Placeholder: filled in by issue 5. */
#pragma once
