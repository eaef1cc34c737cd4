/* VMs through libvirt.  Placeholder: filled in by issue 5. */
#pragma once
