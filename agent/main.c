/* iovbench-agent: parse the command line, run the agent. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "timeutil.h"

static const char *arg_listen = "tcp://*:7700";
static const char *arg_guest_listen = "tcp://*:7701";
static const char *arg_identity;
static const char *arg_ready_file;

static void help(void) {
  printf("Usage: iovbench-agent [OPTIONS]\n"
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
         "      --debug[=CATS]     debug log (all, or a list of proto,net,engine,...)\n"
         "  -q, --quiet            log warnings and errors only\n"
         "  -h, --help             show this help\n"
         "      --version          show the version\n"
         "\n"
         "Guest agents (iovbench-guest-agent) in this host's VMs connect to the guest\n"
         "endpoint; coord reaches them through this agent.\n"
         "\n"
         "Example: iovbench-agent --listen tcp://192.0.2.10:7700\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "guest-listen", required_argument, NULL, 'g' },
    { "test-clock-shift", required_argument, NULL, 'T' },
    { "name", required_argument, NULL, 'n' },
    { "ready-file", required_argument, NULL, 'R' },
    { "debug", optional_argument, NULL, 'd' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { 0, 0, 0, 0 },
  };
  int c;
  unsigned mask;

  while ((c = getopt_long(argc, argv, "l:g:n:qh", opts, NULL)) != -1) switch (c) {
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
    case 'n': arg_identity = optarg; break;
    case 'R': arg_ready_file = optarg; break;
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
  struct iov_agent_config cfg = { .kind = IOV_AGENT_HOST,
                                  .listen = arg_listen,
                                  .guest_listen = arg_guest_listen,
                                  .identity = arg_identity,
                                  .ready_file = arg_ready_file };
  return iov_agent_run(&cfg) < 0 ? 1 : 0;
}
