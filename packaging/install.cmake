# Install rules and the three Debian packages (included by CMakeLists.txt).
# docs/architecture.md, "Packaging and services", says what each holds.
#
#   cmake --install build [--prefix DIR]      programs, plans, docs, units
#   cd build && cpack                         iovbench-{coord,agent,guest-agent}_*.deb
#
# Components, one per package: coord, agent, guest.  The programs' own
# rules (in their subdirectories) get theirs from CMakeLists.txt.

include(GNUInstallDirs)

# The agents read /etc/iovbench whatever the prefix, so the configuration
# goes there (under DESTDIR when one is given) unless told otherwise.
set(IOV_SYSCONFDIR "/etc" CACHE PATH "where iovbench/ (agent.env, guest.conf) is installed")
set(IOV_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "systemd system units, relative to the prefix (the packages: /usr/lib/systemd/system)")
set(IOV_PACKAGE_MAINTAINER "iovbench maintainers <maintainers@users.noreply.r-seed-1de44ddd.example>"
    CACHE STRING "Maintainer field of the .deb packages")
set(IOV_PACKAGE_LICENSE "none chosen yet (all rights reserved by the authors)"
    CACHE STRING "License named in the packages' copyright files")
option(IOV_MAN "Generate man pages with help2man (when it is installed)" ON)

set(_pkg ${PROJECT_SOURCE_DIR}/packaging)
set(_out ${PROJECT_BINARY_DIR}/packaging)
set(_doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/iovbench)

# coord: example plans, the README and docs/.
install(DIRECTORY plans/ DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/iovbench/plans COMPONENT coord
        FILES_MATCHING PATTERN "*.plan")
install(FILES README.md DESTINATION ${_doc} COMPONENT coord)
install(DIRECTORY docs/ DESTINATION ${_doc} COMPONENT coord FILES_MATCHING PATTERN "*.md")

# agent: the guest image builder, laid out as in the source tree so that
# it finds guest-agent/init.sh (run it with --out DIR --agent
# /usr/bin/iovbench-guest-agent).
install(PROGRAMS scripts/build-guest-image.sh DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/iovbench/scripts
        COMPONENT agent)
install(PROGRAMS guest-agent/init.sh DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/iovbench/guest-agent
        COMPONENT agent)

# Configuration: conffiles of the packages (packaging/debian/*/conffiles).
install(FILES ${_pkg}/etc/agent.env DESTINATION ${IOV_SYSCONFDIR}/iovbench COMPONENT agent)
install(FILES ${_pkg}/etc/guest.conf DESTINATION ${IOV_SYSCONFDIR}/iovbench COMPONENT guest)

# systemd units, with the paths of this install: made at install time,
# because cpack installs with its own prefix (/usr).
foreach(_unit IN ITEMS agent guest)
  if(_unit STREQUAL agent)
    set(_name iovbench-agent)
  else()
    set(_name iovbench-guest-agent)
  endif()
  install(CODE "
    set(IOV_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    set(IOV_DOCDIR \"\${CMAKE_INSTALL_PREFIX}/${_doc}\")
    set(IOV_SYSCONFDIR \"${IOV_SYSCONFDIR}\")
    configure_file(\"${_pkg}/systemd/${_name}.service.in\" \"${_out}/${_name}.service\" @ONLY)
    " COMPONENT ${_unit})
  install(FILES ${_out}/${_name}.service DESTINATION ${IOV_SYSTEMD_UNITDIR} COMPONENT ${_unit})
endforeach()

# Debian's copyright file, one per package.
foreach(_c IN ITEMS coord agent guest-agent)
  configure_file(${_pkg}/debian/copyright.in ${_out}/iovbench-${_c}/copyright @ONLY)
endforeach()
install(FILES ${_out}/iovbench-coord/copyright DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/iovbench-coord
        COMPONENT coord)
install(FILES ${_out}/iovbench-agent/copyright DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/iovbench-agent
        COMPONENT agent)
install(FILES ${_out}/iovbench-guest-agent/copyright
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/iovbench-guest-agent COMPONENT guest)

# Man pages from each program's --help and --version (help2man), plus
# packaging/man/PROGRAM.h2m (FILES, SEE ALSO); coord's also holds each
# command's --help.
find_program(HELP2MAN help2man)
if(IOV_MAN AND HELP2MAN)
  set(_man_coord_name "run, report and compare iovbench measurement plans")
  set(_man_iovbench-agent_name "iovbench host agent: workloads, SR-IOV VFs and VMs for coord")
  set(_man_iovbench-guest-agent_name "iovbench guest agent: runs workloads inside a VM")
  set(_man_coord_sub run validate report keygen plot compare help-plan)
  set(_mans)
  foreach(_prog IN ITEMS coord iovbench-agent iovbench-guest-agent)
    set(_page ${PROJECT_BINARY_DIR}/man/${_prog}.1.gz)
    add_custom_command(OUTPUT ${_page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND sh ${_pkg}/man/mkman.sh ${HELP2MAN} $<TARGET_FILE:${_prog}> "${_man_${_prog}_name}"
              ${_pkg}/man/${_prog}.h2m ${_page} ${_man_${_prog}_sub}
      DEPENDS ${_prog} ${_pkg}/man/mkman.sh ${_pkg}/man/${_prog}.h2m
      COMMENT "help2man: ${_prog}.1"
      VERBATIM)
    list(APPEND _mans ${_page})
  endforeach()
  add_custom_target(man ALL DEPENDS ${_mans})
  install(FILES ${PROJECT_BINARY_DIR}/man/coord.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT coord)
  install(FILES ${PROJECT_BINARY_DIR}/man/iovbench-agent.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          COMPONENT agent)
  install(FILES ${PROJECT_BINARY_DIR}/man/iovbench-guest-agent.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          COMPONENT guest)
elseif(IOV_MAN)
  message(STATUS "help2man not found: no man pages (apt-get install help2man)")
endif()

# CPack: three .deb packages, one per component.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME iovbench)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${IOV_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Absolute destinations (/etc/iovbench) go into the package, not the machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL coord agent guest)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${IOV_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from dpkg-shlibdeps, the rest by hand.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_COORD_PACKAGE_NAME iovbench-coord)
set(CPACK_DEBIAN_COORD_PACKAGE_RECOMMENDS "gnuplot-nox")
set(CPACK_DEBIAN_COORD_PACKAGE_SUGGESTS "iovbench-agent")
set(CPACK_DEBIAN_COORD_DESCRIPTION "iovbench coordinator: runs measurement plans on iovbench agents
coord runs iovbench plans on host agents (iovbench-agent) and, through
them, on guest agents in VMs: throughput and latency of SR-IOV, virtio
and bare-metal paths.  It stores every sample in SQLite and prints,
compares and plots (with gnuplot) the results.  Example plans are in
/usr/share/iovbench/plans.")

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME iovbench-agent)
# ip(8): the netns VM backend and namespaces.
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "iproute2")
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS "libvirt-daemon-system, qemu-system-x86")
set(CPACK_DEBIAN_AGENT_PACKAGE_SUGGESTS "iovbench-guest-agent, iovbench-coord")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${_pkg}/debian/agent/conffiles ${_pkg}/debian/agent/postinst ${_pkg}/debian/agent/prerm
    ${_pkg}/debian/agent/postrm)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "iovbench host agent: workloads, SR-IOV VFs and VMs for coord
The host agent runs as a root daemon on each server under test.  It runs
the workloads an allowed coordinator (coord) hands it, streams samples
back, creates SR-IOV VFs and starts VMs through libvirt, and relays the
guest agents in them.  Control links are CurveZMQ; the keys and the
allow-list live in /etc/iovbench.  The systemd unit iovbench-agent is
installed but neither enabled nor started.")

set(CPACK_DEBIAN_GUEST_PACKAGE_NAME iovbench-guest-agent)
set(CPACK_DEBIAN_GUEST_PACKAGE_DEPENDS "iproute2")
set(CPACK_DEBIAN_GUEST_PACKAGE_CONTROL_EXTRA
    ${_pkg}/debian/guest/conffiles ${_pkg}/debian/guest/postinst ${_pkg}/debian/guest/prerm
    ${_pkg}/debian/guest/postrm)
set(CPACK_DEBIAN_GUEST_DESCRIPTION "iovbench guest agent: runs workloads inside a VM
The guest agent runs inside each VM under test.  It connects to the host
agent (iovbench-agent) of its server and runs the workloads coord hands
it through that host agent.  It reads its settings from the VM's SMBIOS
OEM strings, the kernel command line or /etc/iovbench/guest.conf.  The
systemd unit iovbench-guest-agent is installed but neither enabled nor
started.")

include(CPack)
