/* CPU time of a process's threads.  Placeholder: filled in by issue 5. */
#pragma once
