/* iovbench-agent: parse the command line, run the agent (or, with the
 * inventory subcommand, print the machine's NICs and exit). */
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "log.h"
#include "parse.h"
#include "relay.h"
#include "sriov.h"
#include "timeutil.h"
#include "vmsession.h"

static const char *arg_listen = "tcp://*:7700";
static const char *arg_guest_listen = "tcp://*:7701";
static struct iov_vm_settings vms;
static const char *arg_identity;
static const char *arg_ready_file;
static const char *arg_sysfs_root;
static bool arg_json;
static unsigned arg_names_per_key, arg_max_connections;
/* --vouch-guest NAME=ADDR */
#define MAX_VOUCH 1024
static const char *vouch_names[MAX_VOUCH], *vouch_addrs[MAX_VOUCH];
static size_t n_vouch;

static int parse_vouch(char *arg) {
  char *eq = strchr(arg, '=');
  if (eq) *eq = 0;
  if (!eq || !iov_wire_name_ok(arg) || !iov_wire_ip_literal_ok(eq + 1)) {
    fprintf(stderr,
            "iovbench-agent: --vouch-guest wants NAME=ADDRESS, a guest name (1 to 64 of A-Z a-z 0-9 . _ - :) "
            "and an IP address literal (got '%s%s%s')\n",
            arg, eq ? "=" : "", eq ? eq + 1 : "");
    return -EINVAL;
  }
  for (size_t i = 0; i < n_vouch; i++)
    if (strcmp(vouch_names[i], arg) == 0) {
      fprintf(stderr, "iovbench-agent: --vouch-guest names '%s' twice\n", arg);
      return -EINVAL;
    }
  if (n_vouch == MAX_VOUCH) {
    fprintf(stderr, "iovbench-agent: more than %d --vouch-guest\n", MAX_VOUCH);
    return -E2BIG;
  }
  vouch_names[n_vouch] = arg;
  vouch_addrs[n_vouch++] = eq + 1;
  return 0;
}

static void help(void) {
  printf("Usage: iovbench-agent [OPTIONS]\n"
         "       iovbench-agent inventory [--json] [--sysfs-root=DIR]\n"
         "\n"
         "The iovbench host agent: runs the workloads a coordinator (coord) hands it\n"
         "and streams samples back.  Runs until SIGINT or SIGTERM.\n"
         "\n"
         "  -l, --listen=ENDPOINT  ZeroMQ endpoint to bind (default tcp://*:7700;\n"
         "                         also tcp://ADDR:PORT or ipc:///path)\n"
         "  -g, --guest-listen=ENDPOINT\n"
         "                         endpoint for this host's guest agents (default\n"
         "                         tcp://*:7701; 'none': no guests)\n"
         "  -n, --name=NAME        name reported to coord (default: the hostname)\n"
         "      --ready-file=PATH  write the bound endpoint to PATH once listening\n"
         "      --sysfs-root=DIR   read PCI NICs from the sysfs at DIR (default /sys)\n"
         "\n"
         "Authentication (CurveZMQ, on by default):\n"
         "      --key-dir=DIR      this agent's keys (default /etc/iovbench, or\n"
         "                         $IOVBENCH_KEY_DIR): agent.key and agent.key_secret\n"
         "                         (made at first start), coordinators/ (the public\n"
         "                         keys of the coordinators let in: copy a coord.key\n"
         "                         from 'coord keygen' there) and guests/ (keys of guest\n"
         "                         agents this agent did not start)\n"
         "      --key-listen=ENDPOINT\n"
         "                         where coord asks for this agent's public key, to\n"
         "                         trust it on first use (default: the --listen port\n"
         "                         + 2, e.g. tcp://*:7702; 'none': coord must be given\n"
         "                         the key)\n"
         "      --plaintext        no authentication: any coordinator that reaches the\n"
         "                         endpoint may command this agent (a trusted network\n"
         "                         or tests only; coord needs --plaintext as well)\n"
         "      --guest-names-per-key=N\n"
         "                         most guest names one key from guests/ may hold at\n"
         "                         a time (default 1); a VM this agent starts holds\n"
         "                         its own name only, with the key made for it\n"
         "      --vouch-guest=NAME=ADDR\n"
         "                         the data address of guest NAME, which this agent\n"
         "                         did not start (an existing VM): reported to coord\n"
         "                         as vouched for; repeatable\n"
         "      --max-connections=N\n"
         "                         most connections at once on the control and on the\n"
         "                         guest endpoint, each (default 256; TCP only)\n"
         "\n"
         "General:\n"
         "      --debug[=CATS]     debug log (all, or a list of proto,net,engine,...)\n"
         "  -q, --quiet            log warnings and errors only\n"
         "  -h, --help             show this help\n"
         "      --version          show the version\n"
         "\n"
         "Guest agents (iovbench-guest-agent) in this host's VMs connect to the guest\n"
         "endpoint; coord reaches them through this agent.\n"
         "\n"
         "VMs for the plan's path sriov and virtio (started through libvirt):\n"
         "      --libvirt=URI      libvirt to use (e.g. qemu:///system); no VMs without\n"
         "      --vm-guest-endpoint=ENDPOINT\n"
         "                         the guest endpoint as the VMs reach it, handed to\n"
         "                         their guest agents in SMBIOS OEM strings\n"
         "      --sriov-pf=DEV     path sriov: the PF (netdev or PCI address) whose VFs\n"
         "                         are passed into the VMs\n"
         "      --virtio-bridge=BR path virtio: the bridge the VMs' virtio NICs join\n"
         "      --vm-template=FILE domain XML template (default: built in)\n"
         "      --vm-type=TYPE     domain type: kvm, or qemu where there is no KVM\n"
         "      --vm-image=FILE    base qcow2 image; each VM gets an overlay in --vm-pool\n"
         "      --vm-pool=POOL     libvirt storage pool for the overlays (default: default)\n"
         "      --vm-kernel=FILE, --vm-initrd=FILE, --vm-cmdline=TEXT\n"
         "                         direct kernel boot\n"
         "      --vm-boot-timeout=SECS\n"
         "                         per VM, until its guest agent registers (default 60)\n"
         "      --vm-persistent    define domains instead of creating transient ones\n"
         "      --vf-state-dir=DIR where VF settings are saved for restoring\n"
         "                         (default /var/lib/iovbench/vf-state)\n"
         "      --vm-xml-dir=DIR   also write every domain XML handed to libvirt there\n"
         "      --vm-net=ADDR/PREFIX\n"
         "                         the first VM's data address (VM i gets ADDR + i),\n"
         "                         handed to the guests as iovbench.data and .net\n"
         "      --vm-pid-dir=DIR   where libvirt writes the domains' qemu pid files, to\n"
         "                         measure the host CPU each VM takes (default\n"
         "                         /run/libvirt/qemu)\n"
         "\n"
         "Guests without a hypervisor (hosts that cannot run VMs):\n"
         "      --vm-backend=netns each guest of path sriov is a network namespace\n"
         "                         holding one VF of --sriov-pf, with a guest agent in\n"
         "                         it (needs --vm-guest-endpoint; --vm-net gives the\n"
         "                         addresses); the default is libvirt\n"
         "      --vm-guest-agent=FILE\n"
         "                         the guest agent to start there (default: the\n"
         "                         iovbench-guest-agent beside this binary)\n"
         "\n"
         "%s"
         "\n"
         "Example: iovbench-agent --listen tcp://192.0.2.10:7700\n"
         "\n"
         "'iovbench-agent inventory --help' describes the inventory subcommand.\n",
         iov_agent_caps_help);
}

static void inventory_help(void) {
  printf("Usage: iovbench-agent inventory [--json] [--sysfs-root=DIR]\n"
         "\n"
         "Print this machine's network PCI functions, as the host agent reports them to\n"
         "coord: address, driver, netdev, MAC, link speed (Mbit/s), NUMA node, IOMMU\n"
         "group and, for an SR-IOV PF, its VFs (current/total), each VF on an indented\n"
         "line.  What sysfs does not say is shown as '-'; what could not be read is\n"
         "reported as a warning on stderr.\n"
         "\n"
         "  -j, --json             print JSON instead of the table\n"
         "      --sysfs-root=DIR   the sysfs to read (default /sys), e.g. a recorded\n"
         "                         tree from tests/fixtures/sysfs/\n"
         "  -h, --help             show this help\n"
         "\n"
         "Exit status: 0 listed (possibly none), 1 the PCI tree could not be read,\n"
         "2 bad usage.\n");
}

/* A host agent's NICs for its inventory (iov_agent_config.add_nics). */
static int add_nics(Iovbench__Inventory *inv, const char *sysfs_root) {
  struct iov_nic_list *l = NULL;
  int r = iov_sriov_discover(sysfs_root, &l);
  if (r < 0) return r;
  for (size_t i = 0; i < l->n_warnings; i++) iov_warn("PCI inventory: %s", l->warnings[i]);
  for (size_t i = 0; i < l->n_nics; i++)
    for (size_t k = 0; k < l->nics[i].n_warnings; k++)
      iov_warn("PCI inventory: %s: %s", l->nics[i].pci_addr, l->nics[i].warnings[k]);
  r = iov_nic_list_to_pb(l, inv);
  iov_nic_list_free(l);
  return r;
}

static int inventory_main(int argc, char **argv) {
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "sysfs-root", required_argument, NULL, 'S' },
    { "help", no_argument, NULL, 'h' },
    { 0, 0, 0, 0 },
  };
  struct iov_nic_list *l = NULL;
  int c, r;

  argv[0] = (char *)"iovbench-agent inventory"; /* for getopt's messages */
  while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) switch (c) {
    case 'j': arg_json = true; break;
    case 'S': arg_sysfs_root = optarg; break;
    case 'h': inventory_help(); return 0;
    default: fprintf(stderr, "Try 'iovbench-agent inventory --help'.\n"); return 2;
    }
  if (optind < argc) {
    fprintf(stderr, "iovbench-agent inventory: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  /* A root that is not there is a typo, not a machine without PCI. */
  struct stat st;
  if (arg_sysfs_root && stat(arg_sysfs_root, &st) < 0) {
    fprintf(stderr, "iovbench-agent inventory: --sysfs-root '%s': %s\n", arg_sysfs_root, strerror(errno));
    return 1;
  }
  if (arg_sysfs_root && !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "iovbench-agent inventory: --sysfs-root '%s': not a directory\n", arg_sysfs_root);
    return 1;
  }
  r = iov_sriov_discover(arg_sysfs_root, &l);
  if (r < 0) {
    fprintf(stderr, "iovbench-agent inventory: cannot read the PCI devices under '%s': %s\n",
            arg_sysfs_root ? arg_sysfs_root : "/sys", strerror(-r));
    return 1;
  }
  for (size_t i = 0; i < l->n_warnings; i++) fprintf(stderr, "warning: %s\n", l->warnings[i]);
  for (size_t i = 0; i < l->n_nics; i++)
    for (size_t k = 0; k < l->nics[i].n_warnings; k++)
      fprintf(stderr, "warning: %s: %s\n", l->nics[i].pci_addr, l->nics[i].warnings[k]);
  if (arg_json) {
    json_t *j = iov_nic_list_to_json(l);
    r = j && json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 ? 0 : -ENOMEM;
    json_decref(j);
    if (r == 0) putchar('\n');
  } else
    r = iov_nic_list_print(l, stdout);
  iov_nic_list_free(l);
  if (r == 0 && fflush(stdout) != 0) r = -EIO;
  if (r < 0) {
    fprintf(stderr, "iovbench-agent inventory: cannot print the list: %s\n", strerror(-r));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "guest-listen", required_argument, NULL, 'g' },
    { "test-clock-shift", required_argument, NULL, 'T' },
    { "test-clock-step", required_argument, NULL, 3000 },
    { "name", required_argument, NULL, 'n' },
    { "ready-file", required_argument, NULL, 'R' },
    { "sysfs-root", required_argument, NULL, 'S' },
    { "libvirt", required_argument, NULL, 1000 },
    { "vm-type", required_argument, NULL, 1001 },
    { "vm-template", required_argument, NULL, 1002 },
    { "vm-image", required_argument, NULL, 1003 },
    { "vm-pool", required_argument, NULL, 1004 },
    { "vm-kernel", required_argument, NULL, 1005 },
    { "vm-initrd", required_argument, NULL, 1006 },
    { "vm-cmdline", required_argument, NULL, 1007 },
    { "sriov-pf", required_argument, NULL, 1008 },
    { "virtio-bridge", required_argument, NULL, 1009 },
    { "vm-guest-endpoint", required_argument, NULL, 1010 },
    { "vf-state-dir", required_argument, NULL, 1011 },
    { "vm-boot-timeout", required_argument, NULL, 1012 },
    { "vm-persistent", no_argument, NULL, 1013 },
    { "test-simulate-guests", no_argument, NULL, 1014 },
    { "vm-xml-dir", required_argument, NULL, 1015 },
    { "vm-net", required_argument, NULL, 1016 },
    { "vm-pid-dir", required_argument, NULL, 1017 },
    { "vm-backend", required_argument, NULL, 1018 },
    { "max-duration", required_argument, NULL, 2000 },
    { "max-flows", required_argument, NULL, 2000 },
    { "max-rate", required_argument, NULL, 2000 },
    { "max-msg-size", required_argument, NULL, 2000 },
    { "max-vms", required_argument, NULL, 2000 },
    { "max-vcpus", required_argument, NULL, 2000 },
    { "max-memory", required_argument, NULL, 2000 },
    { "vm-guest-agent", required_argument, NULL, 1019 },
    { "key-dir", required_argument, NULL, 1020 },
    { "key-listen", required_argument, NULL, 1021 },
    { "plaintext", no_argument, NULL, 1022 },
    { "guest-names-per-key", required_argument, NULL, 1023 },
    { "vouch-guest", required_argument, NULL, 1024 },
    { "max-connections", required_argument, NULL, 1025 },
    { "debug", optional_argument, NULL, 'd' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { 0, 0, 0, 0 },
  };
  int c, idx = 0;
  unsigned mask;
  struct iov_agent_caps caps = { 0 };
  const char *arg_key_dir = NULL, *arg_key_listen = NULL;
  bool arg_plaintext = false;

  if (argc > 1 && strcmp(argv[1], "inventory") == 0) return inventory_main(argc - 1, argv + 1);
  while ((c = getopt_long(argc, argv, "l:g:n:qh", opts, &idx)) != -1) switch (c) {
    case 2000:
      if (iov_agent_parse_cap("iovbench-agent", opts[idx].name, optarg, &caps) < 0) return 2;
      break;
    case 'l': arg_listen = optarg; break;
    case 'g': arg_guest_listen = strcmp(optarg, "none") == 0 ? NULL : optarg; break;
    case 'T':
      /* Undocumented test hook: pretend this machine's clock is off. */
      if (iov_parse_test_clock_shift(optarg) < 0) {
        fprintf(stderr, "iovbench-agent: bad --test-clock-shift '%s' (nanoseconds, may be negative)\n",
                optarg);
        return 2;
      }
      break;
    case 3000:
      /* Undocumented test hook: step this process's view of the clock
       * mid-run (lib/timeutil.h says why not the machine's). */
      if (iov_parse_test_clock_step(optarg) < 0) {
        fprintf(stderr, "iovbench-agent: bad --test-clock-step '%s' (AFTER_SECONDS:STEP_NANOSECONDS)\n",
                optarg);
        return 2;
      }
      break;
    case 'n': arg_identity = optarg; break;
    case 'R': arg_ready_file = optarg; break;
    case 'S': arg_sysfs_root = optarg; break;
    case 1000: vms.libvirt_uri = optarg; break;
    case 1001: vms.virt_type = optarg; break;
    case 1002: vms.template_path = optarg; break;
    case 1003: vms.image = optarg; break;
    case 1004: vms.pool = optarg; break;
    case 1005: vms.kernel = optarg; break;
    case 1006: vms.initrd = optarg; break;
    case 1007: vms.cmdline = optarg; break;
    case 1008: vms.sriov_pf = optarg; break;
    case 1009: vms.virtio_bridge = optarg; break;
    case 1010: vms.guest_endpoint = optarg; break;
    case 1011: vms.vf_state_dir = optarg; break;
    case 1012: {
      uint64_t secs;
      if (iov_parse_u64(optarg, &secs) < 0 || secs < 1 || secs > 3600) {
        fprintf(stderr, "iovbench-agent: --vm-boot-timeout wants seconds, 1..3600 (got '%s')\n", optarg);
        return 2;
      }
      vms.boot_timeout_s = (unsigned)secs;
      break;
    }
    case 1013: vms.persistent = true; break;
    case 1014: vms.simulate_guests = true; break; /* test hook, see vmsession.h */
    case 1015: vms.xml_dir = optarg; break;
    case 1016: vms.vm_net = optarg; break;
    case 1017: vms.pid_dir = optarg; break;
    case 1018:
      if (strcmp(optarg, "libvirt") != 0 && strcmp(optarg, "netns") != 0) {
        fprintf(stderr, "iovbench-agent: --vm-backend is libvirt or netns (got '%s')\n", optarg);
        return 2;
      }
      vms.backend = optarg;
      break;
    case 1019: vms.guest_agent = optarg; break;
    case 1020: arg_key_dir = optarg; break;
    case 1021: arg_key_listen = optarg; break;
    case 1022: arg_plaintext = true; break;
    case 1023:
    case 1025: {
      uint64_t n;
      if (iov_parse_u64(optarg, &n) < 0 || n < 1 || n > 65536) {
        fprintf(stderr, "iovbench-agent: --%s wants a number, 1..65536 (got '%s')\n", opts[idx].name, optarg);
        return 2;
      }
      *(c == 1023 ? &arg_names_per_key : &arg_max_connections) = (unsigned)n;
      break;
    }
    case 1024:
      if (parse_vouch(optarg) < 0) return 2;
      break;
    case 'd':
      if (iov_log_parse_debug(optarg, &mask) < 0) {
        fprintf(stderr, "iovbench-agent: unknown debug category in '%s' (try proto,net,engine)\n", optarg);
        return 2;
      }
      iov_log_set_debug(mask);
      break;
    case 'q': iov_log_set_level(IOV_LOG_WARNING); break;
    case 'h': help(); return 0;
    case 'V': printf("iovbench-agent %s\n", IOV_VERSION); return 0;
    default: fprintf(stderr, "Try 'iovbench-agent --help'.\n"); return 2;
    }
  if (optind < argc) {
    fprintf(stderr, "iovbench-agent: unexpected argument '%s'. Try 'iovbench-agent --help'.\n", argv[optind]);
    return 2;
  }
  /* The service passes --listen "${IOVBENCH_LISTEN}": empty until the
   * owner names the management address (packaging/etc/agent.env). */
  if (!*arg_listen) {
    fprintf(stderr, "iovbench-agent: no address to listen on (--listen is empty): set IOVBENCH_LISTEN in "
                    "/etc/iovbench/agent.env to this machine's management address, e.g. "
                    "IOVBENCH_LISTEN=tcp://192.0.2.10:7700 (tcp://127.0.0.1:7700: this machine only), then "
                    "'systemctl restart iovbench-agent'\n");
    return 2;
  }
  bool netns_vms = vms.backend && strcmp(vms.backend, "netns") == 0;
  bool want_vms = vms.libvirt_uri || netns_vms;
  if (netns_vms && vms.libvirt_uri) {
    fprintf(stderr, "iovbench-agent: --vm-backend=netns starts no VMs through libvirt; drop --libvirt\n");
    return 2;
  }
  if (netns_vms && !vms.sriov_pf) {
    fprintf(stderr, "iovbench-agent: --vm-backend=netns puts VFs into namespaces: it needs --sriov-pf\n");
    return 2;
  }
  if (want_vms && !arg_guest_listen) {
    fprintf(stderr, "iovbench-agent: --libvirt starts VMs whose guest agents need the guest endpoint; drop "
                    "--guest-listen=none\n");
    return 2;
  }
  if (want_vms && !vms.guest_endpoint) {
    fprintf(stderr,
            "iovbench-agent: --libvirt needs --vm-guest-endpoint: the guest endpoint's address as the VMs "
            "reach it (e.g. tcp://192.168.122.1:7701)\n");
    return 2;
  }
  vms.sysfs_root = arg_sysfs_root;
  /* The guest agent installed beside this binary, unless told. */
  static char guest_agent[PATH_MAX];
  if (!vms.guest_agent) {
    ssize_t k = readlink("/proc/self/exe", guest_agent, sizeof(guest_agent) - 32);
    if (k > 0) {
      guest_agent[k] = 0;
      char *slash = strrchr(guest_agent, '/');
      if (slash) strcpy(slash + 1, "iovbench-guest-agent");
      vms.guest_agent = guest_agent;
    }
  }
  struct iov_relay_config relay = { .guest_listen = arg_guest_listen,
                                    .listen = arg_listen,
                                    .key_listen = arg_key_listen,
                                    .guest_names_per_key = arg_names_per_key,
                                    .vouch_names = vouch_names,
                                    .vouch_addrs = vouch_addrs,
                                    .n_vouch = n_vouch };
  struct iov_agent_config cfg = { .kind = IOV_AGENT_HOST,
                                  .caps = caps,
                                  .listen = arg_listen,
                                  .identity = arg_identity,
                                  .ready_file = arg_ready_file,
                                  .add_nics = add_nics,
                                  .sysfs_root = arg_sysfs_root,
                                  .host = &iov_relay_hooks,
                                  .host_config = &relay,
                                  .vm = want_vms ? &iov_vm_hooks : NULL,
                                  .vm_config = &vms,
                                  .plaintext = arg_plaintext,
                                  .max_connections = arg_max_connections,
                                  .key_dir = arg_key_dir };
  return iov_agent_run(&cfg) < 0 ? 1 : 0;
}
