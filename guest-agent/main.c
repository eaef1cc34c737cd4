/* iovbench-guest-agent: the agent inside a VM.  It connects to the host
 * agent's guest endpoint, registers under the VM's name, and then runs
 * the same workloads as a host agent, reporting the guest's CPU use; coord
 * reaches it through the host agent.  Settings come from SMBIOS OEM
 * strings, the kernel command line, a config file and the options, in
 * that order (lib/guestconf.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "auth.h"
#include "guestconf.h"
#include "log.h"
#include "timeutil.h"

static void help(void) {
  printf("Usage: iovbench-guest-agent [OPTIONS]\n"
         "\n"
         "The iovbench guest agent: runs inside a VM, connects to the host agent\n"
         "(iovbench-agent) of the machine the VM runs on and runs the workloads\n"
         "coord hands it through that host agent.  Runs until SIGINT or SIGTERM.\n"
         "\n"
         "  -H, --host=ENDPOINT    the host agent's guest endpoint: ADDR, ADDR:PORT,\n"
         "                         tcp://ADDR:PORT or ipc://PATH (port 7701 by default)\n"
         "  -i, --vm-id=NAME       the name coord knows this VM by (default: the SMBIOS\n"
         "                         system UUID, else the hostname); 1 to 64 of\n"
         "                         A-Z a-z 0-9 . _ - :\n"
         "  -a, --data=ADDRESS     data-plane address (default: the first non-loopback\n"
         "                         IPv4 address coord finds in the inventory)\n"
         "  -c, --config=FILE      settings file (default " IOV_GUEST_DEFAULT_CONFIG " if it\n"
         "                         exists): host, vm_id, data, one 'key = value' a line\n"
         "      --host-key=KEY     the host agent's public CURVE key (Z85); with it the\n"
         "                         link to the host agent is authenticated and encrypted\n"
         "      --key-file=FILE    this guest's secret key: a zcert secret certificate or\n"
         "                         a file whose first line is the Z85 secret key (also\n"
         "                         $IOVBENCH_GUEST_KEY); the host agent must allow its\n"
         "                         public key (in its KEYDIR/guests/)\n"
         "      --ready-file=PATH  write the host endpoint to PATH once registered\n"
         "      --debug[=CATS]     debug log (all, or a list of proto,net,engine,...)\n"
         "  -q, --quiet            log warnings and errors only\n"
         "  -h, --help             show this help\n"
         "      --version          show the version\n"
         "\n"
         "The same settings can come from the VM's definition, without a file in\n"
         "the guest: SMBIOS OEM strings (qemu -smbios type=11,value=iovbench.host=ADDR,\n"
         "libvirt <sysinfo type='smbios'><oemStrings>) or the kernel command line\n"
         "(iovbench.host=ADDR iovbench.vm_id=NAME iovbench.data=ADDR, and\n"
         "iovbench.host_key=KEY iovbench.key=SECRET, which a host agent that starts\n"
         "the VM sets itself).  Options win over the file, the file over the command\n"
         "line, that over SMBIOS.  Without a host key the link is plaintext.\n"
         "\n"
         "Not registered after 5 s, it logs why it may be (the host agent cannot be\n"
         "reached, plaintext against CURVE, a host key that does not match, a key the\n"
         "host does not let in, a name held by another key) and keeps trying, the\n"
         "reason repeated every 30 s.\n"
         "\n"
         "Example: iovbench-guest-agent --host 192.0.2.10 --vm-id vm01\n"
         "\n%s",
         iov_agent_caps_help);
}

/* What lib/guestconf.c skipped while reading the settings. */
static void warn_setting(void *userdata, const char *line) {
  (void)userdata;
  iov_warn("%s", line);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
    { "host", required_argument, NULL, 'H' },
    { "vm-id", required_argument, NULL, 'i' },
    { "data", required_argument, NULL, 'a' },
    { "config", required_argument, NULL, 'c' },
    { "ready-file", required_argument, NULL, 'R' },
    { "host-key", required_argument, NULL, 'K' },
    { "key-file", required_argument, NULL, 'F' },
    { "root", required_argument, NULL, 'r' },
    { "test-clock-shift", required_argument, NULL, 'T' },
    { "max-duration", required_argument, NULL, 2000 },
    { "max-flows", required_argument, NULL, 2000 },
    { "max-rate", required_argument, NULL, 2000 },
    { "max-msg-size", required_argument, NULL, 2000 },
    { "max-vms", required_argument, NULL, 2000 },
    { "debug", optional_argument, NULL, 'd' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { 0, 0, 0, 0 },
  };
  struct iov_guest_options o = { .warn = warn_setting };
  struct iov_agent_caps caps = { 0 };
  int idx = 0;
  const char *config = NULL, *ready_file = NULL, *root = NULL, *key_file = NULL;
  char secret[IOV_KEY_TEXT_LEN + 1] = "";
  char err[512];
  unsigned mask;
  int c, r;

  while ((c = getopt_long(argc, argv, "H:i:a:c:qh", opts, &idx)) != -1) switch (c) {
    case 2000:
      if (iov_agent_parse_cap("iovbench-guest-agent", opts[idx].name, optarg, &caps) < 0) return 2;
      break;
    case 'H': o.host = optarg; break;
    case 'i': o.vm_id = optarg; break;
    case 'a': o.data = optarg; break;
    case 'c': config = optarg; break;
    case 'R': ready_file = optarg; break;
    case 'K': o.host_key = optarg; break;
    case 'F': key_file = optarg; break;
    case 'r': root = optarg; break; /* test hook: where /sys and /proc are */
    case 'T':
      /* Test hook: pretend this VM's clock is off. */
      if (iov_parse_test_clock_shift(optarg) < 0) {
        fprintf(stderr, "iovbench-guest-agent: bad --test-clock-shift '%s' (nanoseconds)\n", optarg);
        return 2;
      }
      break;
    case 'd':
      if (iov_log_parse_debug(optarg, &mask) < 0) {
        fprintf(stderr, "iovbench-guest-agent: unknown debug category in '%s' (try proto,net,engine)\n",
                optarg);
        return 2;
      }
      iov_log_set_debug(mask);
      break;
    case 'q': iov_log_set_level(IOV_LOG_WARNING); break;
    case 'h': help(); return 0;
    case 'V': printf("iovbench-guest-agent %s\n", IOV_VERSION); return 0;
    default: fprintf(stderr, "Try 'iovbench-guest-agent --help'.\n"); return 2;
    }
  if (optind < argc) {
    fprintf(stderr, "iovbench-guest-agent: unexpected argument '%s'. Try 'iovbench-guest-agent --help'.\n",
            argv[optind]);
    return 2;
  }

  if (key_file) {
    if (iov_key_read_file(key_file, true, secret, err, sizeof(err)) < 0) {
      fprintf(stderr, "iovbench-guest-agent: --key-file: %s\n", err);
      return 2;
    }
    o.key = secret;
  } else if (getenv("IOVBENCH_GUEST_KEY")) {
    snprintf(secret, sizeof(secret), "%s", getenv("IOVBENCH_GUEST_KEY"));
    unsetenv("IOVBENCH_GUEST_KEY"); /* not for the children */
    o.key = secret;
  }
  struct iov_guest_settings s = { 0 };
  r = iov_guest_settings_load(root, config, &o, &s, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "iovbench-guest-agent: %s\n", err);
    return 2;
  }
  if (!s.host) {
    fprintf(
        stderr,
        "iovbench-guest-agent: no host agent to connect to: give --host ADDR, 'host = ADDR' in the config "
        "file, iovbench.host=ADDR on the kernel command line, or an SMBIOS OEM string "
        "iovbench.host=ADDR\n");
    iov_guest_settings_done(&s);
    return 2;
  }
  iov_log_set_prefix(s.vm_id);
  iov_info("host %s (from %s), vm id '%s' (from %s)%s%s%s", s.host, s.host_src, s.vm_id, s.vm_id_src,
           s.data ? ", data address " : "", s.data ? s.data : "", s.data ? "" : "");
  struct iov_agent_config cfg = {
    .kind = IOV_AGENT_GUEST,
    .caps = caps,
    .connect = s.host,
    .identity = s.vm_id,
    .data_address = s.data,
    .host_key = s.host_key,
    .secret_key = s.key,
    .ready_file = ready_file,
  };
  r = iov_agent_run(&cfg);
  iov_guest_settings_done(&s);
  return r < 0 ? 1 : 0;
}
